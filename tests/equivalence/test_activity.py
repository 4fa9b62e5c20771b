"""Spike totals per neuron and phase (``activity``) of every non-Lava backend.

``activity`` is (B, 2, n_x + n_exc + n_inh) int64: spikes per neuron over one run() call, X, E,
I in that order, row 0 over wake steps, row 1 over sleep steps.

* oracle invariants: the wake E row is the per-image counts summed, the sleep X row is zero
  (input gated while asleep), each row equals the recorded raster summed over the steps of its
  phase; learning off and sleep off included;
* ``make_simulator("numpy")`` stacks the oracle's totals per member;
* the engine (both implementations) equals the oracle without recording, with learning off and
  over calls longer than one native slice of images (the kernel adds to the same block);
* batch: member b's totals equal the same member run alone (native with two worker threads).

The spike-exact comparison of engine and oracle over the sleep scenarios is
tests/equivalence/test_engine_oracle.py (``_spikes_equal`` checks ``activity`` too).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lava_sleep.backends import make_simulator
from lava_sleep.engine import TorchSimulator
from lava_sleep.kernels import native
from lava_sleep.reference import ReferenceSimulator

IMPLS = ("native", "torch")
MODES = (("fixed", np.int64), ("float", np.float64))
N_IMAGES = 11  # > 8: the native path runs a call in slices of 8 images


def with_sleep(base, **changes):
    return dataclasses.replace(base, sleep=dataclasses.replace(base.sleep, **changes))


@pytest.fixture
def sleepy(small_params):
    """Half of the time asleep, short period: several episodes with E and I spikes in sleep."""
    return with_sleep(small_params, fraction=0.5, period=60, form="linear", target="neuron", block=10,
                      tol=0.0, lam=0.998)


def _raster_totals(spikes, asleep_phase: bool) -> np.ndarray:
    sel = spikes["asleep"] == asleep_phase
    return np.concatenate([spikes[p][sel].sum(0) for p in ("X", "E", "I")])


@pytest.mark.parametrize(("learn", "sleep_on"), [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize(("mode", "dtype"), MODES)
def test_oracle_activity_invariants(mode, dtype, learn, sleep_on, sleepy, make_images):
    ref = ReferenceSimulator(sleepy, 5, mode=mode, dtype=dtype)
    nx, ne = ref.n_x, ref.n_e
    images = make_images(N_IMAGES, sleepy.n_input, seed=8)
    for call in (images[:4], images[4:]):  # totals are per call, not cumulative
        out = ref.run(call, learn=learn, sleep_on=sleep_on, record_spikes=True)
        act = out.activity
        assert act.shape == (2, nx + ne + ref.n_i) and act.dtype == np.int64
        np.testing.assert_array_equal(act[0, nx:nx + ne], out.counts.sum(0))
        assert not act[1, :nx].any()
        np.testing.assert_array_equal(act[0], _raster_totals(out.spikes, False))
        np.testing.assert_array_equal(act[1], _raster_totals(out.spikes, True))
        raster = np.concatenate([out.spikes[p] for p in ("X", "E", "I")], 1)
        np.testing.assert_array_equal(act.sum(0), raster.sum(0))
        assert act[0, :nx].any() and act[0, nx:].any()
        if sleep_on:
            assert out.sleep_steps > 0 and act[1, nx:].sum() > 0  # neurons do spike in sleep
        else:
            assert out.sleep_steps == 0 and not act[1].any()


@pytest.mark.parametrize(("mode", "dtype"), MODES)
def test_numpy_batch_stacks_member_activity(mode, dtype, sleepy, make_images):
    params = [sleepy, with_sleep(sleepy, fraction=0.0)]
    images = make_images(4, sleepy.n_input, seed=9)
    out = make_simulator("numpy", params, [5, 6], mode=mode).run(images)
    assert out.activity.shape == (2, 2, sleepy.n_input + sleepy.network.n_exc + sleepy.network.n_inh)
    for b, (p, seed) in enumerate(zip(params, [5, 6], strict=True)):
        alone = ReferenceSimulator(p, seed, mode=mode, dtype=dtype).run(images)
        np.testing.assert_array_equal(out.activity[b], alone.activity)
    assert not out.activity[1, 1].any()  # the member without sleep


def test_fresh_call_does_not_count():
    """ls_step (the fused Lava model) leaves the totals alone unless the caller sets them."""
    assert native.CallC().activity is None


@pytest.mark.parametrize(("impl", "learn"), [("native", True), ("native", False), ("torch", True)])
@pytest.mark.parametrize(("mode", "dtype"), MODES)
def test_engine_activity_equals_oracle_unrecorded(mode, dtype, learn, impl, sleepy, make_images,
                                                  torch_single_thread):
    images = make_images(N_IMAGES, sleepy.n_input, seed=10)
    ref = ReferenceSimulator(sleepy, 7, mode=mode, dtype=dtype)
    sim = TorchSimulator([sleepy], [7], mode=mode, dtype="float64", impl=impl)
    for call in (images, images[:3]):
        want = ref.run(call, learn=learn)
        got = sim.run(call, learn=learn)
        assert want.sleep_steps > 0 and got.sleep_steps[0] == want.sleep_steps
        assert got.activity.shape == (1, *want.activity.shape) and got.activity.dtype == np.int64
        np.testing.assert_array_equal(got.activity[0], want.activity)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("mode", ["fixed", "float"])
def test_batch_member_activity_equals_member_alone(mode, impl, sleepy, make_images, torch_single_thread):
    params = [
        with_sleep(sleepy, fraction=0.0),
        sleepy,
        with_sleep(sleepy, fraction=0.3, period=100, target="group", block=5, tol=0.01, lam=0.999),
    ]
    seeds = [3, 4, 9]
    shared = make_images(N_IMAGES if impl == "native" else 6, sleepy.n_input, seed=1)
    per_member = np.stack([make_images(3, sleepy.n_input, seed=20 + b) for b in range(3)])
    batch = TorchSimulator(params, seeds, mode=mode, impl=impl, threads=2)
    outs = [batch.run(shared), batch.run(per_member)]
    assert len({int(s) for s in outs[0].sleep_steps}) == 3  # members sleep differently
    for b in range(3):
        alone = TorchSimulator([params[b]], [seeds[b]], mode=mode, impl=impl)
        for out, imgs in zip(outs, (shared, per_member[b]), strict=True):
            np.testing.assert_array_equal(out.activity[b], alone.run(imgs).activity[0])
    assert not outs[0].activity[0, 1].any() and outs[0].activity[1, 1].any()
