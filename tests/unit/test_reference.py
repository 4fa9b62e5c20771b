"""The NumPy oracle (ReferenceSimulator): invariants, schedule, determinism, state round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lava_sleep import params as P
from lava_sleep.network import build_network
from lava_sleep.reference import ReferenceSimulator

# Paper network (225 inputs, 200 E, 50 I); 4 images x 200 steps = 800 wake steps and, with
# f = 0.2 and period 400, two episodes of 400 * 0.25 = 100 steps: 1,000 steps in all.
# tol = 0: episodes run to their planned length.
PAPER_STEPS, PAPER_SLEEP = 1000, 200


def _paper_params(form="log", tol=0.0, **sleep_changes) -> P.ModelParams:
    p = P.paper()
    return dataclasses.replace(
        p,
        input=dataclasses.replace(p.input, steps_per_image=200),
        sleep=dataclasses.replace(p.sleep, fraction=0.2, period=400, form=form, tol=tol, **sleep_changes),
    )


def _images(n, n_pixels, seed=12345):
    return np.random.default_rng(seed).integers(0, 256, size=(n, n_pixels), dtype=np.uint8)


@pytest.fixture(scope="module")
def paper_run():
    p = _paper_params()
    images = _images(4, p.n_input)
    sim = ReferenceSimulator(p, seed=3)
    out = sim.run(images, record_spikes=True)
    return p, images, sim, out


def test_paper_run_completes(paper_run):
    """The 1,000-step paper-size run with STDP and sleep completes (its time is measured elsewhere)."""
    p, _, sim, out = paper_run
    assert out.steps == PAPER_STEPS
    assert out.sleep_steps == PAPER_SLEEP
    assert all(np.all(np.isfinite(v)) for v in sim.state_dict().values())


def test_invariants(paper_run):
    p, _, sim, out = paper_run
    init = sim.init
    for pw in p.network.pathways:
        w = sim.signed_weights(pw.name)
        mask = sim.mask[pw.name]
        assert w.shape == (p.sizes()[pw.post], p.sizes()[pw.pre])
        if pw.sign > 0:
            assert np.all(w >= 0), pw.name
        else:
            assert np.all(w <= 0), pw.name
        # no pruning: masks are unchanged; absent synapses exactly 0
        np.testing.assert_array_equal(mask, init.masks[pw.name])
        assert np.all(w[~mask] == 0.0)
        assert np.all(np.abs(w[mask]) >= pw.w_min) and np.all(np.abs(w[mask]) <= pw.w_max)
        if not pw.plastic:
            np.testing.assert_array_equal(np.abs(w), init.magnitudes[pw.name])
    # plastic pathways did learn
    assert not np.array_equal(sim.m["XE"], init.magnitudes["XE"])
    assert not np.array_equal(sim.m["EE"], init.magnitudes["EE"])
    np.testing.assert_array_equal(np.diag(sim.mask["EE"]), False)  # no self-connections


def test_structure_matches_connection_probabilities(paper_run):
    p, _, sim, _ = paper_run
    for pw in p.network.pathways:
        mask = sim.init.masks[pw.name]
        n = mask.size - (mask.shape[0] if pw.name == "EE" else 0)
        assert abs(mask.sum() / n - pw.p) < 5 * np.sqrt(pw.p * (1 - pw.p) / n), pw.name
        np.testing.assert_allclose(sim.init.magnitudes[pw.name][mask], abs(pw.w_init))


def test_firing_is_reasonable(paper_run):
    p, _, _, out = paper_run
    sp = out.spikes
    wake = ~sp["asleep"]
    rate_e = sp["E"][wake].mean() * 1000.0  # Hz per neuron (dt = 1 ms)
    rate_i = sp["I"][wake].mean() * 1000.0
    assert 0.5 < rate_e < 100.0
    assert 0.5 < rate_i < 200.0
    assert sp["E"][sp["asleep"]].sum() > 0  # noise-driven spontaneous activity while asleep
    # not everything fires together (the authors' membrane-reset defect gave volleys)
    per_step = sp["E"][wake].sum(1)
    assert per_step.max() < 0.5 * p.network.n_exc


def test_schedule_gate_and_counters(paper_run):
    p, images, sim, out = paper_run
    sp = out.spikes
    asleep = sp["asleep"]
    assert asleep.shape == (PAPER_STEPS,) and sp["X"].shape == (PAPER_STEPS, p.n_input)
    # episodes start after wake steps 400 and 800: global steps 400..499 and 900..999
    expect = np.zeros(PAPER_STEPS, bool)
    expect[400:500] = True
    expect[900:1000] = True
    np.testing.assert_array_equal(asleep, expect)
    assert not sp["X"][asleep].any()  # input gate closed while asleep
    assert sim.t == PAPER_STEPS and sim.wake_t == 800
    assert sim.n_episodes == 2 and sim.sleep_steps_total == PAPER_SLEEP
    assert [(e["episode"], e["planned"], e["used"], e["woke_early"]) for e in out.episodes] == \
        [(1, 100, 100, False), (2, 100, 100, False)]
    assert [e["start_step"] for e in out.episodes] == [400, 900]
    # sleep share exactly f
    assert out.sleep_steps / out.steps == p.sleep.fraction
    # counts: E spikes per image over that image's wake steps only
    wake_steps = [range(0, 200), range(200, 400), range(500, 700), range(700, 900)]
    for i, steps in enumerate(wake_steps):
        np.testing.assert_array_equal(out.counts[i], sp["E"][list(steps)].sum(0))


def test_input_rate_matches_images(paper_run):
    """Total input spikes per image ~ 200 steps * sum_j p_j, p_j = intensity/255 * 63.75/1000."""
    p, images, _, out = paper_run
    x = out.spikes["X"][~out.spikes["asleep"]].reshape(4, 200, p.n_input)
    for i in range(4):
        prob = images[i] / 255.0 * p.input.max_rate_hz / 1000.0
        mean = 200 * prob.sum()
        sd = np.sqrt(200 * (prob * (1 - prob)).sum())
        assert abs(x[i].sum() - mean) < 5 * sd
    # a black pixel never spikes
    dark = _images(1, p.n_input)[0] == 0
    if dark.any():
        assert not x[0][:, dark].any()


def test_same_seed_identical_different_seed_differs(paper_run):
    p, images, sim, out = paper_run
    again = ReferenceSimulator(p, seed=3).run(images, record_spikes=True)
    for k in ("X", "E", "I", "asleep"):
        np.testing.assert_array_equal(again.spikes[k], out.spikes[k])
    other = ReferenceSimulator(p, seed=4)
    o = other.run(images[:1], record_spikes=True)
    assert not np.array_equal(o.spikes["E"], out.spikes["E"][:200])
    assert not np.array_equal(o.spikes["X"], out.spikes["X"][:200])
    assert not np.array_equal(other.mask["XE"], sim.mask["XE"])


def test_fixed_mode_paper_run():
    # at the default 400 Hz input (with stochastic trace rounding and the default trace impulse;
    # docs/model.md, "Fixed point vs float")
    p = _paper_params(form="linear")
    sim = ReferenceSimulator(p, seed=3, mode="fixed")
    out = sim.run(_images(4, p.n_input), record_spikes=True)
    assert out.steps == PAPER_STEPS and out.sleep_steps == PAPER_SLEEP
    assert not out.spikes["X"][out.spikes["asleep"]].any()
    for pw in p.network.pathways:
        m = sim.m[pw.name]
        pf = sim.fc.pathways[pw.name]
        assert m.dtype == np.int64
        assert np.all(m[sim.mask[pw.name]] >= pf.m_min) and np.all(m <= pf.m_max)
        assert np.all(m[~sim.mask[pw.name]] == 0)
        w = sim.signed_weights(pw.name)
        assert np.all(w * pw.sign >= 0)
    for k in ("u", "v", "a"):
        assert getattr(sim, k).dtype == np.int64
    assert np.all(np.abs(sim.u) <= 2**23 - 1) and np.all(sim.v <= sim.fc.v_max)
    rate_e = out.spikes["E"][~out.spikes["asleep"]].mean() * 1000.0
    assert 0.5 < rate_e < 100.0
    # the fixed model tracks the float model's weights (same network, same input):
    # pathway totals after 1,000 steps agree within a few percent
    fl = ReferenceSimulator(p, seed=3)
    fl.run(_images(4, p.n_input))
    for n in ("XE", "EE"):
        assert abs(sim.signed_weights(n)).sum() == pytest.approx(abs(fl.signed_weights(n)).sum(), rel=0.05)


def test_fixed_mode_rejects_log_sleep():
    with pytest.raises(P.ParamError, match="linear"):
        ReferenceSimulator(_paper_params(form="log"), seed=0, mode="fixed")


def test_bad_arguments(small_params):
    with pytest.raises(ValueError, match="mode"):
        ReferenceSimulator(small_params, 0, mode="double")
    sim = ReferenceSimulator(small_params, 0)
    with pytest.raises(ValueError, match="shape"):
        sim.run(np.zeros((2, 17), np.uint8))


# -- small network: schedule variants, state, early wake-up ------------------------------------------


def _small(small_params, **sleep_changes):
    sp = dataclasses.replace(small_params.sleep, **{"fraction": 0.2, "period": 100, "tol": 0.0,
                                                    **sleep_changes})
    return dataclasses.replace(small_params, sleep=sp)


@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_state_dict_round_trip_continues_identically(small_params, make_images, mode):
    p = _small(small_params, form="linear", decay_noise=0.2, lam=0.999)
    p = dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, t_epoch=3))
    images = make_images(6, p.n_input)
    a = ReferenceSimulator(p, seed=5, mode=mode)
    a.run(images[:3])
    saved = a.state_dict()
    out_a = a.run(images[3:], record_spikes=True)
    b = ReferenceSimulator(p, seed=5, mode=mode)
    b.load_state_dict({k: v.copy() for k, v in saved.items()})
    out_b = b.run(images[3:], record_spikes=True)
    assert out_a.episodes and out_a.episodes == out_b.episodes
    for k in ("X", "E", "I", "asleep"):
        np.testing.assert_array_equal(out_a.spikes[k], out_b.spikes[k])
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
        assert sa[k].dtype == sb[k].dtype, k


def test_membranes_carry_over_between_run_calls(small_params, make_images):
    p = _small(small_params)
    images = make_images(4, p.n_input)
    one = ReferenceSimulator(p, seed=1)
    whole = one.run(images, record_spikes=True)
    two = ReferenceSimulator(p, seed=1)
    first = two.run(images[:2], record_spikes=True)
    assert np.any(two.v != 0.0)  # membranes are not at rest after a run
    v_before = two.v.copy()
    second = two.run(images[2:], record_spikes=True)
    for k in ("E", "I", "X", "asleep"):
        np.testing.assert_array_equal(np.concatenate([first.spikes[k], second.spikes[k]]), whole.spikes[k])
    np.testing.assert_array_equal(np.concatenate([first.counts, second.counts]), whole.counts)
    assert not np.array_equal(v_before, two.v)
    for k, v in one.state_dict().items():
        np.testing.assert_array_equal(v, two.state_dict()[k], err_msg=k)


@pytest.mark.parametrize(("tol", "woke"), [(0.5, True), (0.0, False)])
def test_early_wake_up(small_params, make_images, tol, woke):
    p = _small(small_params, tol=tol, period=100, fraction=0.5, block=10)
    out = ReferenceSimulator(p, seed=2).run(make_images(2, p.n_input))
    assert len(out.episodes) == 1
    ep = out.episodes[0]
    assert ep["planned"] == 100
    assert ep["woke_early"] is woke
    # with a 50 % tolerance the first block end (10 sleep steps) already wakes the network
    assert ep["used"] == (10 if woke else 100)
    assert out.sleep_steps == ep["used"]


def test_no_sleep_when_fraction_zero_or_sleep_off(small_params, make_images):
    images = make_images(4, small_params.n_input)
    out = ReferenceSimulator(_small(small_params, fraction=0.0), seed=0).run(images, record_spikes=True)
    assert out.sleep_steps == 0 and not out.episodes and not out.spikes["asleep"].any()
    out = ReferenceSimulator(_small(small_params), seed=0).run(images, sleep_on=False)
    assert out.sleep_steps == 0 and out.steps == 200


def test_learning_off_keeps_weights(small_params, make_images):
    p = _small(small_params)
    sim = ReferenceSimulator(p, seed=0)
    before = {k: v.copy() for k, v in sim.m.items()}
    sim.run(make_images(3, p.n_input), learn=False, sleep_on=False)
    for k in before:
        np.testing.assert_array_equal(sim.m[k], before[k])


def test_learn_in_sleep_off_sleep_only_decays(small_params, make_images):
    """With STDP off during sleep and lam = 1 (no decay) a sleep episode leaves weights unchanged."""
    p = _small(small_params, lam=1.0, fraction=0.5, period=50)
    p = dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, learn_in_sleep=False))
    sim = ReferenceSimulator(p, seed=0)
    out = sim.run(make_images(1, p.n_input))  # 50 wake steps, then a 50-step episode
    ep = out.episodes[0]
    assert ep["used"] == 50
    assert ep["totals_before"] == ep["totals_after"]


def test_pruning_only_removes_synapses(small_params, make_images):
    p = _small(small_params, w_floor=0.16, prune=True, form="linear", target="static")
    sim = ReferenceSimulator(p, seed=0)
    init_mask = {k: v.copy() for k, v in sim.mask.items()}
    sim.run(make_images(2, p.n_input))  # ends right after an episode
    changed = False
    for n in p.network.plastic_pathways:
        assert np.all(sim.mask[n] <= init_mask[n])  # only removals
        assert np.all(sim.m[n][~sim.mask[n]] == 0)
        assert np.all(sim.m[n][sim.mask[n]] >= 0.16)
        changed |= bool((sim.mask[n] != init_mask[n]).any())
    assert changed
    for n in ("EI", "IE"):  # non-plastic pathways are never pruned
        np.testing.assert_array_equal(sim.mask[n], init_mask[n])


def test_floor_without_pruning(small_params, make_images):
    p = _small(small_params, w_floor=0.16, prune=False)
    sim = ReferenceSimulator(p, seed=0)
    sim.run(make_images(2, p.n_input))  # 100 wake steps, then an episode: ends after the floor
    for n in p.network.plastic_pathways:
        np.testing.assert_array_equal(sim.mask[n], sim.init.masks[n])
        assert np.all(sim.m[n][sim.mask[n]] >= 0.16)


@pytest.mark.parametrize(("form", "target"), [("log", "neuron"), ("log", "static"), ("linear", "group")])
def test_float32_mode_keeps_float32(small_params, make_images, form, target):
    p = _small(small_params, form=form, target=target, decay_noise=0.1)
    sim = ReferenceSimulator(p, seed=0, dtype=np.float32)
    sim.run(make_images(2, p.n_input))
    for k, v in sim.state_dict().items():
        if k.startswith("mask"):
            assert v.dtype == bool
        elif k != "counters":
            assert v.dtype == np.float32, k


def test_network_init_is_seeded(small_params):
    a, b, c = build_network(small_params, 1), build_network(small_params, 1), build_network(small_params, 2)
    for n in a.masks:
        np.testing.assert_array_equal(a.masks[n], b.masks[n])
    assert any(not np.array_equal(a.masks[n], c.masks[n]) for n in a.masks)


@pytest.mark.parametrize(
    ("trace_rounding", "dw_rounding", "x_want", "dm_want"),
    [
        # traces x * 3896 = 0, 3896, 19480, 38960, 120776: floor (>> 12) 0, 0, 4, 9, 29;
        # nearest (+ 2048) 5944, 21528, 41008, 122824 -> 0, 1, 5, 10, 29
        # updates, dw_frac_bits 6: acc -1, 31, 32, 33, -33, 95, -64, 0 -> floor (acc >> 6)
        # -1, 0, 0, 0, -1, 1, -1, 0; nearest ((acc + 32) >> 6) 0, 0, 1, 1, -1, 1, -1, 0
        ("nearest", "floor", [0, 1, 5, 10, 29], [-1, 0, 0, 0, -1, 1, -1, 0]),
        ("floor", "nearest", [0, 0, 4, 9, 29], [0, 0, 1, 1, -1, 1, -1, 0]),
    ],
)
def test_deterministic_trace_and_update_rounding_by_hand(small_params, trace_rounding, dw_rounding,
                                                         x_want, dm_want):
    """The oracle's fixed trace decay and epoch update with nearest / floor rounding
    (FixedParams.trace_rounding, dw_rounding) on hand-set traces and accumulators, one step
    without spikes at an epoch end."""
    p = dataclasses.replace(small_params, fixed=dataclasses.replace(
        small_params.fixed, trace_rounding=trace_rounding, dw_rounding=dw_rounding, dw_frac_bits=6))
    ref = ReferenceSimulator(p, 1, mode="fixed")
    assert ref.k_plus == ref.k_minus == 3896 and p.stdp.t_epoch == 1
    for side in (ref.x, ref.y):
        for pop in side:
            side[pop][:] = 0
    ref.x["X"][:5] = [0, 1, 5, 10, 31]
    ref.y["E"][:5] = [0, 1, 5, 10, 31]
    ref.m["XE"][0, :8] = 5
    ref.mask["XE"][0, :8] = True
    ref.acc["XE"][0, :8] = [-1, 31, 32, 33, -33, 95, -64, 0]
    ref.acc_dirty = True
    m_before = {n: ref.m[n].copy() for n in ref.plastic}
    spikes = {pop: np.zeros(n, bool) for pop, n in p.sizes().items()}
    ref._learn(spikes, active=False)
    np.testing.assert_array_equal(ref.x["X"][:5], x_want)
    np.testing.assert_array_equal(ref.y["E"][:5], x_want)
    np.testing.assert_array_equal(ref.m["XE"][0, :8], 5 + np.array(dm_want))
    m_before["XE"][0, :8] = ref.m["XE"][0, :8]
    for n in ref.plastic:  # zero accumulators round to zero in both modes: nothing else moves
        np.testing.assert_array_equal(ref.m[n], m_before[n])
        assert not ref.acc[n].any()
