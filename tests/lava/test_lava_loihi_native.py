"""Backend loihi2: the Loihi-native variant (Lava LIF / Sparse / LearningSparse with the on-chip
sleep as a term of the learning rule) on Lava's CPU simulator, end to end on a tiny network.

Learning-rule arithmetic against the oracle is in test_lava_loihi_rule.py; here: learning
directions in the whole network, training with sleep episodes, continuation across calls (state
carried over), learn=False, state_dict keys, masks, and the one-line refusals.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from lava_helpers import LAVA_TIMEOUT, active_params

from lava_sleep.fixed import to_fixed
from lava_sleep.lava_backend import LoihiNativeSimulator
from lava_sleep.network import build_network
from lava_sleep.params import ParamError
from lava_sleep.reference import ReferenceSimulator
from lava_sleep.simulation import BackendError

pytestmark = pytest.mark.lava


def _images(n=4):
    imgs = np.random.default_rng(3).integers(100, 256, size=(n, 16), dtype=np.uint8)
    imgs[:, 8:] = 0
    return imgs


def sleepy_params(mode: str = "float"):
    """active_params with the on-chip sleep: an episode after every image (period 50, fraction
    0.2: 12-13 steps), decay pulses every 8 global steps (block 8; c = 1 - 0.99**8 = 0.0773 ->
    the literal 5 * 2**-6 = 0.078), strong input (400 Hz)."""
    p = active_params(mode)
    p = dataclasses.replace(p, sleep=dataclasses.replace(p.sleep, lam=0.99, period=50).onchip(8),
                            input=dataclasses.replace(p.input, max_rate_hz=400.0))
    return p


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize(("mode", "direction"), [("float", "up"), ("float", "down"), ("fixed", "up")])
def test_loihi_native_learns_in_the_right_direction(mode, direction):
    """Inputs 0-7 bright (500 Hz), 8-15 silent, no sleep: with only the potentiation term the XE
    weights of active inputs grow, with only the depression term they shrink; silent inputs'
    weights and the static pathways do not move (fixed: exactly, LearningSparse's rounding of a
    zero update is exact)."""
    p = active_params(mode)
    p = dataclasses.replace(p, input=dataclasses.replace(p.input, max_rate_hz=500.0),
                            sleep=dataclasses.replace(p.sleep, fraction=0.0))
    eta = {"eta_plus": 0.05, "eta_minus": 0.0} if direction == "up" else {"eta_plus": 0.0, "eta_minus": 0.05}
    p = dataclasses.replace(p, network=p.network.with_pathway("XE", w_init=0.9, **eta)
                            .with_pathway("EE", plastic=False))
    sim = LoihiNativeSimulator(p, 4, mode=mode)
    w0 = {n: m * (1 if n[0] != "I" else -1) for n, m in sim.init.magnitudes.items()}
    out = sim.run(_images())
    w = sim.weights()
    assert out.counts.shape == (1, 4, 20) and out.counts.sum() > 0
    present = sim.init.masks["XE"]
    active, silent = present[:, :8], present[:, 8:]
    d = w["XE"] - (w0["XE"] if mode == "float" else _quantized(sim, "XE"))
    if direction == "up" and mode == "fixed":
        lsb = to_fixed(p).pathways["XE"].lsb
        assert d[:, :8][active].sum() > 0 and d[:, :8][active].mean() > 2 * lsb
    elif direction == "up":
        assert d[:, :8][active].sum() > 0 and np.all(d[:, :8][active] >= 0)
    else:
        assert d[:, :8][active].sum() < 0 and np.all(d[:, :8][active] <= 0)
    assert np.all(d[:, 8:][silent] == 0)
    for n in ("EE", "EI", "IE"):
        ref = w0[n] if mode == "float" else _quantized(sim, n)
        assert np.allclose(w[n], ref), n


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_loihi2_trains_with_sleep_continues_and_freezes(mode):
    """Three images with sleep (3 episodes), then two with learn=False, then two more with
    sleep: the episode schedule continues across calls, plastic weights move, static ones and
    the masks do not, absent synapses stay 0, a learn=False call changes no weight (bit-exact),
    and state_dict has the oracle's keys. Float: one call over 4 images gives exactly the
    weights, spikes and state of two calls of 2 images (everything a call needs is carried)."""
    p = sleepy_params(mode)
    imgs = np.random.default_rng(5).integers(0, 256, size=(7, 16), dtype=np.uint8)
    sim = LoihiNativeSimulator(p, 4, mode=mode)
    w0, m0 = sim.weights(), sim.masks()
    out = sim.run(imgs[:3])
    eps = out.episodes[0]
    assert [e["episode"] for e in eps] == [1, 2, 3]
    assert [e["start_step"] for e in eps] == [50, 50 + 50 + eps[0]["planned"],
                                              150 + eps[0]["planned"] + eps[1]["planned"]]
    assert int(out.sleep_steps[0]) == sum(e["planned"] for e in eps)
    assert int(out.steps[0]) == 150 + out.sleep_steps[0]
    assert all(e["totals_after"]["XE"] != e["totals_before"]["XE"] for e in eps)
    w1 = sim.weights()
    for n in w0:
        assert np.array_equal(sim.masks()[n], m0[n])
        assert np.all(w1[n][~m0[n]] == 0)
        moved = not np.array_equal(w1[n], w0[n])
        assert moved == (n in p.network.plastic_pathways), n
    frozen = sim.run(imgs[3:5], learn=False, sleep_on=False)
    assert int(frozen.sleep_steps[0]) == 0 and frozen.counts.sum() > 0
    assert all(np.array_equal(sim.weights()[n], w1[n]) for n in w1)
    out3 = sim.run(imgs[5:])
    assert [e["episode"] for e in out3.episodes[0]] == [4, 5]
    assert out3.episodes[0][0]["start_step"] == int(out.steps[0] + frozen.steps[0]) + 50
    sd = sim.state_dict()
    ref = ReferenceSimulator(p, 4, mode=mode).state_dict()
    assert set(sd) == set(ref)
    assert all(sd[k].shape == ref[k].shape for k in ref)
    assert list(sd["counters"]) == [int(out.steps[0] + frozen.steps[0] + out3.steps[0]), 350, 5,
                                    int(out.sleep_steps[0] + out3.sleep_steps[0])]
    if mode == "float":
        one, two = LoihiNativeSimulator(p, 4), LoihiNativeSimulator(p, 4)
        a = one.run(imgs[:4], record_spikes=True)
        b = [two.run(imgs[:2], record_spikes=True), two.run(imgs[2:4], record_spikes=True)]
        for q in ("E", "I"):
            assert np.array_equal(a.spikes[0][q], np.concatenate([o.spikes[0][q] for o in b])), q
        sa, sb = one.state_dict(), two.state_dict()
        assert not [k for k in sa if not np.array_equal(sa[k], sb[k])]


def test_loihi2_refusals_are_one_line():
    """What backend loihi2 cannot run is refused with one line: the host-form sleep, B != 1 (make
    and a batch of image streams), sleep without learning, no learning in sleep, an on-demand
    sleep."""
    from lava_sleep.lava_backend import make

    host = active_params()
    cases = [
        (lambda: LoihiNativeSimulator(host, 1), "on-chip sleep"),
        (lambda: make("loihi2", [sleepy_params()] * 2, [1, 2]), "B = 2"),
        (lambda: LoihiNativeSimulator(sleepy_params(), 1).run(np.zeros((2, 1, 16), np.uint8)), "B = 1"),
        (lambda: LoihiNativeSimulator(sleepy_params(), 1).run(_images(1), learn=False), "sleeps only while"),
        (lambda: LoihiNativeSimulator(dataclasses.replace(
            sleepy_params(), stdp=dataclasses.replace(sleepy_params().stdp, learn_in_sleep=False)), 1),
         "learns in sleep only"),
        (lambda: LoihiNativeSimulator(sleepy_params(), 1).sleep(10), "no on-demand sleep"),
    ]
    for call, match in cases:
        with pytest.raises(BackendError, match=match) as err:
            call()
        assert "\n" not in str(err.value)


def _quantized(sim, name):
    from lava_sleep.fixed import quantize_weights, to_fixed

    pf = to_fixed(sim.params).pathways[name]
    sign = sim.params.network.pathway(name).sign
    return sign * np.where(sim.init.masks[name], quantize_weights(sim.init.magnitudes[name], pf), 0) * pf.lsb


def test_loihi_native_rejects_rules_it_cannot_express():
    from lava_sleep.processes.loihi_native.process import native_constants

    p = active_params()
    p = dataclasses.replace(p, network=p.network.with_pathway("XE", mu=1.0))
    with pytest.raises(ParamError, match="mu = 0"):
        native_constants(p, build_network(active_params(), 1), "float")


def test_loihi_native_rejects_normalization_and_rests_without_input():
    """Per-image normalization has no LearningDense counterpart (one-line ParamError), and the
    new rule is refused like every rule but stdp; rest steps are empty raster columns."""
    from lava_sleep.processes.loihi_native.process import input_raster, native_constants

    p = active_params()
    init = build_network(p, 1)
    for xe, match in (({"normalize": True}, "normalization"), ({"rule": "diehl_cook"}, "rule 'stdp'")):
        q = dataclasses.replace(p, network=p.network.with_pathway("XE", **xe))
        with pytest.raises(ParamError, match=match) as err:
            native_constants(q, init, "float")
        assert "\n" not in str(err.value)
    q = dataclasses.replace(p, input=dataclasses.replace(p.input, steps_per_image=6, rest_steps=4,
                                                         max_rate_hz=1000.0))
    imgs = np.full((3, 16), 255, dtype=np.uint8)
    raster = input_raster(q, 1, imgs)
    assert raster.shape == (16, 30)
    cols = raster.reshape(16, 3, 10)
    assert not cols[:, :, 6:].any() and cols[:, :, :6].sum() > 100
    # presentation columns use the wake steps of the slots (rest steps advance the counter)
    full = input_raster(dataclasses.replace(q, input=dataclasses.replace(q.input, rest_steps=0,
                                                                          steps_per_image=30)),
                        1, imgs[:1])
    assert np.array_equal(cols[:, 1, :6], full[:, 10:16])


def test_loihi_native_rejects_precision_it_cannot_express(precision_case, with_precision):
    """Every PRECISION_CASES case sets w_scale "full" or a deterministic rounding, which Lava's
    Dense weights (mantissa and exponent) and learning engine (stochastic rounding) cannot take: in
    fixed point one ParamError line names each such setting, also when the simulator runs; each
    setting alone is refused too. Other widths pass, and float runs have no fixed-point settings."""
    from lava_sleep.processes.loihi_native.process import native_constants

    p = active_params("fixed")
    init = build_network(p, 1)
    q = with_precision(p, precision_case)
    names = ("w_scale", "trace_rounding", "dw_rounding")
    bad = {k: getattr(q.fixed, k) for k in names if getattr(q.fixed, k) != getattr(p.fixed, k)}
    assert bad and all(getattr(p.fixed, k) in ("pow2", "stochastic") for k in names)
    with pytest.raises(ParamError, match="Loihi-native variant") as err:
        native_constants(q, init, "fixed")
    assert "\n" not in str(err.value)
    assert all(f"{k} {v!r}" in str(err.value) for k, v in bad.items()), str(err.value)
    with pytest.raises(ParamError, match="Loihi-native variant"):
        LoihiNativeSimulator(dataclasses.replace(q, sleep=q.sleep.onchip(8)), 1, mode="fixed")
    for k, v in bad.items():
        one = dataclasses.replace(p, fixed=dataclasses.replace(p.fixed, **{k: v}))
        with pytest.raises(ParamError, match=f"{k} {v!r}"):
            native_constants(one, init, "fixed")
    native_constants(q, init, "float")
    loihi_like = {k: getattr(p.fixed, k) for k in bad}
    widths = dataclasses.replace(q, fixed=dataclasses.replace(q.fixed, **loihi_like))
    assert widths.fixed.w_bits != p.fixed.w_bits  # the case's widths, Loihi's weight format and rounding
    native_constants(widths, init, "fixed")
