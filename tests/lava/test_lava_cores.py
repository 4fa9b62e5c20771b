"""Unit tests of the NumPy cores inside the Lava ProcessModels (no Lava runtime needed).

* the uint32 fast paths of the random streams equal lava_sleep.rng bit for bit;
* the event-driven STDP of SynapseCore equals the dense oracle kernels
  (stdp_delta + apply_epoch) value for value, for every rule variant, float and
  fixed, t_epoch 1 and > 1, also when the mask is replaced mid-run;
* SleepCore's sleep decay (draws for present synapses only) equals decay_block
  with the oracle's draws for every synapse.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from lava_helpers import active_params, with_stdp

from lava_sleep import params as params_mod
from lava_sleep import rng
from lava_sleep.fixed import to_fixed
from lava_sleep.kernels import sleep as sleep_k
from lava_sleep.kernels import stdp as stdp_k
from lava_sleep.network import build_network
from lava_sleep.params import PATHWAY_NAMES
from lava_sleep.processes.plastic_dense.models import KeyCache, SynapseCore
from lava_sleep.processes.sleep_controller.models import SleepCore


def test_key_cache_equals_reference_keys():
    cache = KeyCache(99, rng.Stream.STDP_ROUND, block=8)
    assert [cache(c) for c in (5, 6, 20, 3)] == [rng.key(99, rng.Stream.STDP_ROUND, c) for c in (5, 6, 20, 3)]


def _variant_params(variant: str, mode: str):
    """The active small network with the STDP variant of XE under test."""
    p = active_params(mode)
    if variant == "soft":
        p = dataclasses.replace(p, network=p.network.with_pathway("XE", mu=1.0))
    elif variant == "vogels":
        p = dataclasses.replace(p, network=p.network.with_pathway("XE", rule="vogels"))
    elif variant == "epoch4":
        p = with_stdp(p, t_epoch=4)
    return p


def _dense_reference(core: SynapseCore, params, m, mask, spikes_pre, spikes_post, xs, ys, seed, t0=0):
    """The oracle's dense accumulate/apply sequence for one pathway (steps t0, t0 + 1, ...)."""
    fc = to_fixed(params) if core.fixed else None
    acc = np.zeros_like(m)
    dirty = False
    for t, (sp, so, x, y) in enumerate(zip(spikes_pre, spikes_post, xs, ys, strict=True)):
        acc = acc + stdp_k.stdp_delta(core.rule, m, mask, sp, so, x, y)
        dirty = True
        if (t + 1) % core.t_epoch == 0 and dirty:
            r = None
            if fc is not None:
                k = rng.key(seed, rng.Stream.STDP_ROUND + core.index, (t0 + t) // core.t_epoch)
                flat = np.arange(m.size, dtype=np.int64).reshape(m.shape)
                r = rng.uniform_u32(k, flat) >> (32 - fc.dw_frac_bits)
            m = stdp_k.apply_epoch(core.rule, m, acc, mask, r, fc.dw_frac_bits if fc else 0)
            acc = np.zeros_like(m)
            dirty = False
    return m


@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("variant", ["stdp", "soft", "vogels", "epoch4"])
def test_event_driven_stdp_equals_dense(fixed, variant):
    p = _variant_params(variant, "fixed" if fixed else "float")
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


@pytest.mark.parametrize("fixed", [False, True])
def test_event_driven_stdp_follows_a_replaced_mask(fixed):
    """A mask replaced mid-run (the models write a new array, e.g. when sleep prunes):
    the core's per-mask column tables must follow. The new mask drops and adds
    synapses, so a stale table would miss the added ones."""
    p = active_params("fixed" if fixed else "float")
    seed = 4
    init = build_network(p, seed)
    core = SynapseCore(p, "XE", seed, fixed)
    m0, mask0 = core.initial_state(init.magnitudes["XE"], init.masks["XE"])
    m0 = m0.astype(np.int64) if fixed else m0
    n_post, n_pre = mask0.shape
    gen = np.random.default_rng(8)
    steps = 20
    s_pre = gen.random((2 * steps, n_pre)) < 0.3
    s_post = gen.random((2 * steps, n_post)) < 0.2
    if fixed:
        xs, ys = gen.integers(1, 128, size=(2 * steps, n_pre)), gen.integers(1, 128, size=(2 * steps, n_post))
    else:
        xs, ys = gen.random((2 * steps, n_pre)) + 0.1, gen.random((2 * steps, n_post)) + 0.1
    mask1 = mask0 ^ (gen.random(mask0.shape) < 0.2)  # a new array, as the models write it
    m_new = m0[mask0].max()  # start value of the added synapses

    def remask(m):
        return np.where(mask1, np.where(mask0, m, m_new), 0)

    st = SimpleNamespace(weights=m0.copy(), mask=mask0)
    for t in range(2 * steps):
        if t == steps:
            st.weights = remask(st.weights)
            st.mask = mask1
        core.learn(st, s_pre[t], s_post[t], xs[t], ys[t], t, active=True)
    half = slice(0, steps), slice(steps, None)
    m = _dense_reference(core, p, m0.copy(), mask0, *(a[half[0]] for a in (s_pre, s_post, xs, ys)), seed)
    m = remask(m)
    m = _dense_reference(core, p, m, mask1, *(a[half[1]] for a in (s_pre, s_post, xs, ys)), seed, t0=steps)
    assert np.array_equal(st.weights, m)
    assert np.all(st.weights[~mask1] == 0)
    assert (mask0 & ~mask1).any() and (mask1 & ~mask0).any()
    assert not np.array_equal(m, remask(m0))  # the test moved weights


@pytest.mark.parametrize("variant", ["stdp", "soft", "vogels", "epoch4"])
def test_fixed_sparse_draws_equal_dense(variant):
    """Fixed point with mostly-zero traces and weights at 0 / m_max.

    The fixed models hash and update only synapses with ``dm != 0`` (``acc != 0``
    for t_epoch > 1) and skip rows with ``y = 0`` in spiking columns; here most
    touched synapses have ``dm = 0``, so a wrongly skipped or mis-indexed synapse,
    or a draw taken at the wrong index, changes the weights against the oracle.
    """
    p = _variant_params(variant, "fixed")
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


@pytest.mark.parametrize("fixed", [False, True])
def test_sleep_settle_draws_on_present_synapses_equal_dense(fixed):
    """SleepCore.settle draws only for present synapses; the result must equal decay_block
    with the oracle's draws for every synapse, also after the mask was replaced."""
    p = params_mod.preset("paper").with_sleep_fraction(0.2)
    p = dataclasses.replace(p, sleep=dataclasses.replace(
        p.sleep, form="linear" if fixed else p.sleep.form, prune=True, w_floor=0.14))
    seed = 5
    init = build_network(p, seed)
    sc = SleepCore.for_network(p, seed, init, fixed)
    gen = np.random.default_rng(1)
    for n in sc.plastic:
        dc = sc.decay[n]
        assert fixed or dc.noise > 0  # the float case exercises the noise draws
        flat = np.arange(sc.masks[n].size).reshape(sc.masks[n].shape)
        for t_key, new_mask in ((100, False), (12345, True)):
            if new_mask:  # a replaced mask (as pruning writes it): the cached indices must follow
                sc.masks[n] = sc.masks[n] & (gen.random(flat.shape) < 0.7)
            mask = sc.masks[n]
            if fixed:
                m0 = np.where(mask, gen.integers(0, 200, flat.shape), 0)
            else:
                m0 = np.where(mask, init.magnitudes[n] * (0.5 + gen.random(flat.shape)), 0.0)
            got_m, got_mask = sc.settle(n, m0.copy(), t_key, 30)
            idx = PATHWAY_NAMES.index(n)
            xi = r = None
            if fixed:
                k = rng.key(seed, rng.Stream.DECAY + idx, t_key)
                r = rng.uniform_u32(k, flat) >> (32 - dc.decay_frac_bits)
            else:
                k1, k2 = (rng.key(seed, rng.Stream.DECAY + idx, t_key, d) for d in (0, 1))
                xi = rng.normal_int(k1, k2, flat).astype(np.float64) / rng.NORMAL_INT_SD
            m = sleep_k.decay_block(dc, m0, mask, sc.total0[n], sc.row_total0[n], 30, xi=xi, r=r)
            ref_m, ref_mask = sleep_k.floor_and_prune(dc, m, mask)
            assert np.array_equal(got_m, ref_m) and np.array_equal(got_mask, ref_mask)
            assert (got_m != m0).sum() > 100  # the decay moved weights
