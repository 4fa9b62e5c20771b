"""The compiled kernel's step-level API (ls_step, ls_decay), used by the fused Lava model.

The oracle's own step and decay methods are driven through a hand-written wake/sleep
sequence; the kernel, driven through the same sequence one call at a time, must give the
same state bit for bit (fixed point) - every key of the state_dict, including traces,
accumulators mid-epoch and the step counters.
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


def test_step_and_decay_equal_the_oracle(small_params):
    p = _params(small_params)
    ref = ReferenceSimulator(p, 5, mode="fixed")
    net = native.NativeNetwork(native.MemberConsts.from_reference(ref), "fixed", keep_drive=True)
    net.load_state_dict(ref.state_dict())
    images = np.random.default_rng(3).integers(0, 256, size=(4, p.n_input), dtype=np.uint8)
    thr_all = encode.input_thresholds(images, p.input.max_rate_hz, p.neuron.dt)
    spi = p.input.steps_per_image
    thr = np.zeros(p.n_input, np.int64)
    count = np.zeros(p.network.n_exc, np.int64)
    call = native.CallC()
    call.thr, call.counts, call.learn = thr.ctypes.data, count.ctypes.data, 1
    ref_count = np.zeros_like(count)
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
        if phase == "sleep":
            ref._decay(n)
            for name in p.network.plastic_pathways:
                net.decay(name, n)
    want, got = ref.state_dict(), net.state_dict()
    assert want.keys() == got.keys()
    for k in want:
        assert np.array_equal(got[k], want[k]), k
    assert np.array_equal(count, ref_count) and count.sum() > 0
    # the scenario did something: learning moved weights, the decay pruned synapses
    init = ReferenceSimulator(p, 5, mode="fixed").state_dict()
    assert not np.array_equal(want["m_XE"], init["m_XE"])
    assert want["mask_XE"].sum() < init["mask_XE"].sum()
    # the kept partial drives add up to the drive of the next step, pathway by pathway
    d = net.drives()
    ne = p.network.n_exc
    assert np.array_equal(d["XE"] + d["EE"] + d["IE"], got["pending"][:ne])
    assert np.array_equal(d["EI"], got["pending"][ne:])
    assert (d["IE"] <= 0).all() and (d["XE"] >= 0).all()


def test_decay_rejects_what_it_cannot_settle(small_params):
    p = _params(small_params)
    ref = ReferenceSimulator(p, 5, mode="fixed")
    net = native.NativeNetwork(native.MemberConsts.from_reference(ref), "fixed")
    net.load_state_dict(ref.state_dict())
    assert "EI" not in p.network.plastic_pathways
    with pytest.raises(RuntimeError, match="native decay of EI failed"):
        net.decay("EI", 1)
    with pytest.raises(RuntimeError, match="native decay of XE failed"):
        net.decay("XE", p.sleep.block + 1)  # the K-step tables end at the block length
    with pytest.raises(ValueError, match="mode must be one of"):
        native.NativeNetwork(native.MemberConsts.from_reference(ref), "int8")
