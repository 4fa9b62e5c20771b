"""Unit tests of the NumPy cores inside the Lava ProcessModels (no Lava runtime needed).

* the uint32 fast paths of the random streams equal lava_sleep.rng bit for bit;
* the event-driven STDP of SynapseCore equals the dense oracle kernels
  (stdp_delta + apply_epoch) value for value, for every rule variant, float and
  fixed, t_epoch 1 and > 1.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from lava_helpers import active_params, with_stdp

from lava_sleep import rng
from lava_sleep.fixed import to_fixed
from lava_sleep.kernels import stdp as stdp_k
from lava_sleep.network import build_network
from lava_sleep.processes.plastic_dense.models import (
    KeyCache,
    SynapseCore,
    keys_fast,
    normal_int_fast,
    uniform_u32_fast,
)


def test_fast_streams_equal_reference():
    gen = np.random.default_rng(7)
    index = gen.integers(0, 2**31, size=5000, dtype=np.int64)
    for seed, stream, counter in [(0, 3, 0), (12345, 5, 987654), (2**32 - 1, 17, 2**40 + 3)]:
        k = rng.key(seed, stream, counter)
        assert np.array_equal(uniform_u32_fast(k, index), rng.uniform_u32(k, index))
        counters = np.arange(counter, counter + 70, dtype=np.int64)
        for draw in (0, 1):
            ks = keys_fast(seed, stream, counters, draw)
            assert ks.tolist() == [rng.key(seed, stream, int(c), draw) for c in counters]
        k1 = keys_fast(seed, stream, counters, 0)[:, None]
        k2 = keys_fast(seed, stream, counters, 1)[:, None]
        assert np.array_equal(normal_int_fast(k1, k2, index[None, :300]),
                              rng.normal_int(k1, k2, index[None, :300]))
    cache = KeyCache(99, rng.Stream.STDP_ROUND, block=8)
    assert [cache(c) for c in (5, 6, 20, 3)] == [rng.key(99, rng.Stream.STDP_ROUND, c) for c in (5, 6, 20, 3)]


def _dense_reference(core: SynapseCore, params, m, mask, spikes_pre, spikes_post, xs, ys, seed):
    """The oracle's dense accumulate/apply sequence for one pathway."""
    fc = to_fixed(params) if core.fixed else None
    acc = np.zeros_like(m)
    dirty = False
    for t, (sp, so, x, y) in enumerate(zip(spikes_pre, spikes_post, xs, ys, strict=True)):
        acc = acc + stdp_k.stdp_delta(core.rule, m, mask, sp, so, x, y)
        dirty = True
        if (t + 1) % core.t_epoch == 0 and dirty:
            r = None
            if fc is not None:
                k = rng.key(seed, rng.Stream.STDP_ROUND + core.index, t // core.t_epoch)
                flat = np.arange(m.size, dtype=np.int64).reshape(m.shape)
                r = rng.uniform_u32(k, flat) >> (32 - fc.dw_frac_bits)
            m = stdp_k.apply_epoch(core.rule, m, acc, mask, r, fc.dw_frac_bits if fc else 0)
            acc = np.zeros_like(m)
            dirty = False
    return m


@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("variant", ["stdp", "soft", "vogels", "epoch4"])
def test_event_driven_stdp_equals_dense(fixed, variant):
    p = active_params("fixed" if fixed else "float")
    if variant == "soft":
        p = dataclasses.replace(p, network=p.network.with_pathway("XE", mu=1.0))
    elif variant == "vogels":
        p = dataclasses.replace(p, network=p.network.with_pathway("XE", rule="vogels"))
    elif variant == "epoch4":
        p = with_stdp(p, t_epoch=4)
    seed = 11
    init = build_network(p, seed)
    core = SynapseCore(p, "XE", seed, fixed)
    m0, mask = core.initial_state(init.magnitudes["XE"], init.masks["XE"])
    m0 = m0.astype(np.int64) if fixed else m0
    n_post, n_pre = mask.shape
    gen = np.random.default_rng(5)
    steps = 40
    s_pre = gen.random((steps, n_pre)) < 0.3
    s_post = gen.random((steps, n_post)) < 0.2
    if fixed:
        xs = gen.integers(0, 128, size=(steps, n_pre))
        ys = gen.integers(0, 128, size=(steps, n_post))
    else:
        xs = gen.random((steps, n_pre)) * 2
        ys = gen.random((steps, n_post)) * 2
    st = SimpleNamespace(weights=m0.copy(), mask=mask, acc=np.zeros(mask.shape, dtype=core.dtype),
                         rows=np.zeros(n_post, dtype=bool), cols=np.zeros(n_pre, dtype=bool))
    for t in range(steps):
        core.learn(st, s_pre[t], s_post[t], xs[t], ys[t], t, active=True)
    expected = _dense_reference(core, p, m0.copy(), mask, s_pre, s_post, xs, ys, seed)
    assert np.array_equal(st.weights, expected)  # bit-exact, float included
    assert not np.array_equal(expected, m0)  # the test moved weights
    assert np.all(st.weights[~mask] == 0)


@pytest.mark.parametrize("variant", ["stdp", "soft", "vogels", "epoch4"])
def test_fixed_sparse_draws_equal_dense(variant):
    """Fixed point with mostly-zero traces and weights at 0 / m_max.

    The fixed models hash and update only synapses with ``dm != 0`` (``acc != 0``
    for t_epoch > 1) and skip rows with ``y = 0`` in spiking columns; here most
    touched synapses have ``dm = 0``, so a wrongly skipped or mis-indexed synapse,
    or a draw taken at the wrong index, changes the weights against the oracle.
    """
    p = active_params("fixed")
    if variant == "soft":
        p = dataclasses.replace(p, network=p.network.with_pathway("XE", mu=1.0))
    elif variant == "vogels":
        p = dataclasses.replace(p, network=p.network.with_pathway("XE", rule="vogels"))
    elif variant == "epoch4":
        p = with_stdp(p, t_epoch=4)
    seed = 23
    init = build_network(p, seed)
    core = SynapseCore(p, "XE", seed, True)
    m0, mask = core.initial_state(init.magnitudes["XE"], init.masks["XE"])
    m0 = m0.astype(np.int64)
    gen = np.random.default_rng(9)
    pf = to_fixed(p).pathways["XE"]
    bounds = gen.random(mask.shape)
    m0 = np.where(mask & (bounds < 0.2), 0, np.where(mask & (bounds > 0.8), pf.m_max, m0))
    n_post, n_pre = mask.shape
    steps = 60
    s_pre = gen.random((steps, n_pre)) < 0.3
    s_post = gen.random((steps, n_post)) < 0.2
    xs = np.where(gen.random((steps, n_pre)) < 0.6, 0, gen.integers(1, 128, size=(steps, n_pre)))
    ys = np.where(gen.random((steps, n_post)) < 0.6, 0, gen.integers(1, 128, size=(steps, n_post)))
    st = SimpleNamespace(weights=m0.copy(), mask=mask, acc=np.zeros(mask.shape, dtype=np.int64),
                         rows=np.zeros(n_post, dtype=bool), cols=np.zeros(n_pre, dtype=bool))
    for t in range(steps):
        core.learn(st, s_pre[t], s_post[t], xs[t], ys[t], t, active=True)
    expected = _dense_reference(core, p, m0.copy(), mask, s_pre, s_post, xs, ys, seed)
    assert np.array_equal(st.weights, expected)
    assert not np.array_equal(expected, m0)
    assert np.all(st.weights[~mask] == 0)
