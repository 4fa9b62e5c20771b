"""The compiled kernel's step-level API (ls_step, ls_decay), used by the fused Lava model.

The oracle's own step and decay methods are driven through a hand-written wake/sleep
sequence; the kernel, driven through the same sequence one call at a time, must give the
same state bit for bit in fixed point and within 1e-9 in float64 - every key of the
state_dict, including traces, accumulators mid-epoch (t_epoch = 3) and the step counters - and
the same spikes step by step (the one-row recording buffers).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lava_sleep.kernels import encode, native
from lava_sleep.reference import ReferenceSimulator

# (phase, steps): wake steps run image by image; a sleep block settles its decay at its end
SEQUENCE = [("wake", 60), ("sleep", 10), ("sleep", 10), ("sleep", 5), ("wake", 37)]


def _params(small_params):
    p = small_params.with_sleep_fraction(0.2)
    return dataclasses.replace(p, sleep=dataclasses.replace(p.sleep, form="linear", target="neuron",
                                                            prune=True, w_floor=0.15))


@pytest.mark.parametrize("t_epoch", [1, 3])
@pytest.mark.parametrize("mode", ["fixed", "float64"])
def test_step_and_decay_equal_the_oracle(small_params, mode, t_epoch, assert_states_match):
    p = _params(small_params)
    _check_step_and_decay(dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, t_epoch=t_epoch)), mode,
                          assert_states_match)


@pytest.mark.parametrize("mode", ["fixed", "float64"])
def test_pruned_mid_epoch_accumulator_equals_the_oracle(features_params, mode, assert_states_match):
    """The features network (1000 Hz input, dense X->E) with t_epoch 3, pruning and sleep blocks
    that end mid-epoch: a synapse pruned while its accumulator is non-zero keeps it until the
    epoch ends, then it is zeroed as every other (the oracle's apply_epoch zeroes all of acc)."""
    p = features_params("linear")
    p = dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, t_epoch=3),
                            sleep=dataclasses.replace(p.sleep, prune=True, w_floor=0.3, block=10))
    _check_step_and_decay(p, mode, assert_states_match)


def test_step_and_decay_precision_cases_equal_the_oracle(features_params, precision_case, with_precision,
                                                         assert_states_match):
    """The same in fixed point with every width and rounding mode away from its default
    (PRECISION_CASES), t_epoch 3, on the features network (1000 Hz input, dense X->E: enough
    activity that the coarse weights move in every case) with pruning; the kept partial drives
    are scaled by each pathway's w_mult (not a power of two with w_scale "full")."""
    p = with_precision(features_params("linear"), precision_case)
    p = dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, t_epoch=3),
                            sleep=dataclasses.replace(p.sleep, prune=True, w_floor=0.3, block=10))
    fc = ReferenceSimulator(p, 5, mode="fixed").fc
    assert any(pf.w_mult & (pf.w_mult - 1) for pf in fc.pathways.values()) == (p.fixed.w_scale == "full")
    assert (fc.trace_rounding, fc.dw_rounding) == (p.fixed.trace_rounding, p.fixed.dw_rounding)
    _check_step_and_decay(p, "fixed", assert_states_match)


def _check_step_and_decay(p, mode, assert_states_match):
    t_epoch = p.stdp.t_epoch
    fixed = mode == "fixed"
    ref = ReferenceSimulator(p, 5, mode="fixed" if fixed else "float")
    net = native.NativeNetwork(native.MemberConsts.from_reference(ref), mode, keep_drive=True)
    net.load_state_dict(ref.state_dict())
    images = np.random.default_rng(3).integers(0, 256, size=(4, p.n_input), dtype=np.uint8)
    thr_all = encode.input_thresholds(images, p.input.max_rate_hz, p.neuron.dt)
    spi = p.input.steps_per_image
    thr = np.zeros(p.n_input, np.int64)
    count = np.zeros(p.network.n_exc, np.int64)
    rec_x, rec_n, rec_asleep = (np.zeros(n, np.uint8) for n in (p.n_input, len(ref.u), 1))
    call = native.CallC()
    call.thr, call.counts, call.learn, call.rec_cap = thr.ctypes.data, count.ctypes.data, 1, 1
    call.rec_x, call.rec_n, call.rec_asleep = rec_x.ctypes.data, rec_n.ctypes.data, rec_asleep.ctypes.data
    ref_count = np.zeros_like(count)
    carried = 0  # steps that ended with a non-zero accumulator (mid-epoch)
    for phase, n in SEQUENCE:
        for _ in range(n):
            asleep = phase == "sleep"
            if not asleep:
                thr[:] = thr_all[ref.wake_t // spi]
            s = ref._step(None if asleep else thr_all[ref.wake_t // spi], asleep, True, None)
            ref.t += 1
            if not asleep:
                ref.wake_t += 1
                ref_count += s["E"]
            net.step(call, asleep)
            assert np.array_equal(rec_x, s["X"]) and rec_asleep[0] == asleep
            assert np.array_equal(rec_n, np.concatenate([s["E"], s["I"]]))
            np.testing.assert_allclose(net.acc["XE"].T, ref.acc["XE"], rtol=0, atol=0 if fixed else 1e-12)
            carried += bool(ref.acc["XE"].any())
        if phase == "sleep":
            ref._decay(n)
            for name in p.network.plastic_pathways:
                net.decay(name, n)
    want, got = ref.state_dict(), net.state_dict()
    assert want.keys() == got.keys()
    assert_states_match(got, want, atol=0 if fixed else 1e-9)
    assert np.array_equal(count, ref_count) and count.sum() > 0
    # the scenario did something: learning moved weights, the decay pruned synapses, and with
    # t_epoch = 3 accumulators were carried across steps
    init = ReferenceSimulator(p, 5, mode=ref.mode).state_dict()
    assert not np.array_equal(want["m_XE"], init["m_XE"])
    assert want["mask_XE"].sum() < init["mask_XE"].sum()
    assert (carried > 10) == (t_epoch == 3)
    # the kept partial drives add up to the drive of the next step, pathway by pathway
    d = net.drives()
    ne = p.network.n_exc
    np.testing.assert_allclose(d["XE"] + d["EE"] + d["IE"], got["pending"][:ne], rtol=0, atol=1e-12)
    assert np.array_equal(d["EI"], got["pending"][ne:])
    assert (d["IE"] <= 0).all() and (d["XE"] >= 0).all()


def test_decay_rejects_what_it_cannot_settle(small_params):
    p = _params(small_params)
    ref = ReferenceSimulator(p, 5, mode="fixed")
    net = native.NativeNetwork(native.MemberConsts.from_reference(ref), "fixed")
    net.load_state_dict(ref.state_dict())
    assert "EI" not in p.network.plastic_pathways
    with pytest.raises(RuntimeError, match="native decay of EI failed: bad arguments"):
        net.decay("EI", 1)
    with pytest.raises(RuntimeError, match="native decay of XE failed: bad arguments"):
        net.decay("XE", p.sleep.block + 1)  # the K-step tables end at the block length
    with pytest.raises(ValueError, match="keep_drive=True"):
        net.drives()
    with pytest.raises(ValueError, match="mode must be one of"):
        native.NativeNetwork(native.MemberConsts.from_reference(ref), "int8")


@pytest.mark.parametrize("mode", ["fixed", "float64"])
def test_rest_steps_and_normalize_equal_the_oracle(features_params, mode, assert_states_match):
    """ls_step with the input gate closed (rest: no thresholds, no count row) and ls_normalize after
    each image slot, interleaved with a sleep block, equal the oracle's _step and _normalize. X->E
    runs Diehl & Cook's post-only rule (eta- = 0: the kernel skips the depression pass). A last
    image (and sleep block) with learning off (call.learn = 0) keeps the adaptation frozen
    (freeze_adaptation), as the oracle's _step with learn=False."""
    p = features_params("linear")
    p = dataclasses.replace(p, network=p.network.with_pathway("XE", eta_minus=0.0))
    fixed = mode == "fixed"
    ref = ReferenceSimulator(p, 5, mode="fixed" if fixed else "float")
    assert ref.normalized == ("XE", "EE")
    net = native.NativeNetwork(native.MemberConsts.from_reference(ref), mode)
    net.load_state_dict(ref.state_dict())
    images = np.random.default_rng(3).integers(0, 256, size=(5, p.n_input), dtype=np.uint8)
    n_learn = 4  # images with learning on; then one evaluation image
    thr_all = encode.input_thresholds(images, p.input.max_rate_hz, p.neuron.dt)
    spi, slot = p.input.steps_per_image, p.input.slot_steps
    count = np.zeros(p.network.n_exc, np.int64)
    rec_x, rec_n, rec_asleep = (np.zeros(n, np.uint8) for n in (p.n_input, len(ref.u), 1))
    call = native.CallC()
    call.learn, call.rec_cap = 1, 1
    call.rec_x, call.rec_n, call.rec_asleep = rec_x.ctypes.data, rec_n.ctypes.data, rec_asleep.ctypes.data
    ref_count = np.zeros_like(count)
    assert p.neuron.freeze_adaptation
    for img in range(len(images)):
        learn = img < n_learn
        call.learn = int(learn)
        a_before, e_spikes = ref.a.copy(), 0
        thr = np.ascontiguousarray(thr_all[img])
        for k in range(slot):
            present = k < spi
            s = ref._step(thr_all[img] if present else None, False, learn, None)
            e_spikes += int(s["E"].sum())
            ref.t += 1
            ref.wake_t += 1
            if present:
                ref_count += s["E"]
            call.thr = thr.ctypes.data if present else None
            call.counts = count.ctypes.data if present else None
            net.step(call, False)
            assert np.array_equal(rec_x, s["X"]) and np.array_equal(rec_n, np.concatenate([s["E"], s["I"]]))
            np.testing.assert_allclose(net.acc["XE"].T, ref.acc["XE"], rtol=0, atol=0 if fixed else 1e-12)
        if learn:
            ref._normalize()
            for name in ref.normalized:
                net.normalize(name)
        if img in (1, n_learn):  # a sleep block after a normalization, and one in the evaluation
            for _ in range(7):
                e_spikes += int(ref._step(None, True, learn, None)["E"].sum())
                ref.t += 1
                net.step(call, True)
            ref._decay(7)
            for name in p.network.plastic_pathways:
                net.decay(name, 7)
        assert_states_match(net.state_dict(), ref.state_dict(), atol=0 if fixed else 1e-9)
        assert e_spikes > 0 and np.array_equal(ref.a, a_before) != learn  # frozen when evaluating
    assert np.array_equal(count, ref_count) and count.sum() > 0
    init = ReferenceSimulator(p, 5, mode=ref.mode)
    assert not np.array_equal(ref.m["XE"], init.m["XE"])
    assert net.consts.params.neuron.a_decay_every > 1 and ref.a.max() > 0
    with pytest.raises(RuntimeError, match="native normalization of EI failed: bad arguments"):
        net.normalize("EI")
