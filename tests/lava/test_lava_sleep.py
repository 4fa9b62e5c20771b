"""Sleep behaviour in Lava, float and fixed: the graph model (controller with RefPorts) and the
fused model with both step implementations (SleepCore inside the process).

Scenario: XE potentiation-dominated (eta+ 0.1, eta- 0.02), so wake learning
drives its total about 50 % above the initial total; sleep every 200 wake steps
with fraction 0.3 (planned 85-86 steps), fast decay (lam 0.95, block 10) and
early wake-up at tol 2 %.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from lava_helpers import LAVA_TIMEOUT, active_params, concat_spikes, make_test_images, run_lava, run_oracle

from lava_sleep.network import build_network
from lava_sleep.reference import ReferenceSimulator

pytestmark = pytest.mark.lava
SEED = 5


def _params(mode):
    p = active_params(mode, fraction=0.3, lam=0.95, tol=0.02)
    return dataclasses.replace(p, network=p.network.with_pathway("XE", eta_plus=0.1, eta_minus=0.02))


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("model", ["graph", "fused/native", "fused/numpy"])
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_sleep_in_lava(mode, model):
    p = _params(mode)
    images = make_test_images()
    model, _, kernel = model.partition("/")
    outs, _ = run_lava(p, SEED, mode, model, [images], fused_kernel=kernel or "auto")
    out = outs[0]
    spikes = concat_spikes(outs)
    asleep = spikes["asleep"]
    sp = p.sleep
    episodes = out.episodes
    assert len(episodes) == 3

    # input silenced during every episode, present while awake
    assert asleep.sum() == out.sleep_steps > 0
    assert not spikes["X"][asleep].any()
    assert spikes["X"][~asleep].sum() > 100
    # spontaneous (noise-driven) E and I activity during sleep
    assert spikes["E"][asleep].sum() > 10
    assert spikes["I"][asleep].sum() > 0

    # totals move toward the targets (initial totals); XE started far above
    init = build_network(p, SEED)
    m0 = init.magnitudes_fixed() if mode == "fixed" else init.magnitudes
    for e in episodes:
        for n in p.network.plastic_pathways:
            t0 = float(m0[n].sum())
            before, after = abs(e["totals_before"][n] - t0), abs(e["totals_after"][n] - t0)
            if before > 0.05 * t0:
                assert after < 0.5 * before, (n, e)
        assert e["totals_before"]["XE"] > 1.3 * float(m0["XE"].sum())

    # early wake-up: every episode ended at a block end before its planned length,
    # with every plastic total within tol of its target
    for e in episodes:
        assert e["woke_early"] and e["used"] < e["planned"]
        assert e["used"] % sp.block == 0
        for n in p.network.plastic_pathways:
            t0 = float(m0[n].sum())
            assert abs(e["totals_after"][n] - t0) <= sp.tol * t0
    assert out.steps == len(images) * p.input.steps_per_image + sum(e["used"] for e in episodes)

    # and the oracle sleeps exactly the same way
    oracle_out, _ = run_oracle(p, SEED, mode, images)
    assert [(e["start_step"], e["used"], e["woke_early"]) for e in episodes] == \
        [(e["start_step"], e["used"], e["woke_early"]) for e in oracle_out.episodes]
    assert np.array_equal(spikes["E"], oracle_out.spikes["E"])


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize(("mode", "model"), [("float", "graph"), ("fixed", "graph"), ("fixed", "fused")])
def test_onchip_sleep_form_in_lava_matches_oracle(mode, model):
    """The on-chip form (docs/model.md "On-chip sleep") through the sleep controller: decay only
    where the global step is a multiple of block, none at an episode's end, no early wake-up;
    episodes, E spikes, totals and final weights as the oracle's (fixed bit for bit, float64 to
    1e-9 as the other Lava equivalence tests)."""
    p = _params(mode)
    p = dataclasses.replace(p, sleep=dataclasses.replace(p.sleep, lam=0.99).onchip(block=16))
    images = make_test_images()
    outs, state = run_lava(p, SEED, mode, model, [images])
    out = outs[0]
    oracle_out, ref_state = run_oracle(p, SEED, mode, images)
    assert out.sleep_steps > 0 and len(out.episodes) == len(oracle_out.episodes) > 0
    assert [(e["start_step"], e["used"], e["woke_early"]) for e in out.episodes] == \
        [(e["start_step"], e["used"], e["woke_early"]) for e in oracle_out.episodes]
    # an episode that does not end on a multiple of block: the on-chip form does not settle there
    assert any((e["start_step"] + e["used"]) % 16 for e in out.episodes)
    assert np.array_equal(concat_spikes(outs)["E"], oracle_out.spikes["E"])
    atol = 0 if mode == "fixed" else 1e-9
    for n in p.network.plastic_pathways:
        np.testing.assert_allclose([e["totals_after"][n] for e in out.episodes],
                                   [e["totals_after"][n] for e in oracle_out.episodes], rtol=0, atol=atol)
        np.testing.assert_allclose(state[f"m_{n}"], ref_state[f"m_{n}"], rtol=0, atol=atol)


@pytest.mark.timeout(LAVA_TIMEOUT)
def test_sleep_off_and_learning_off():
    """run(sleep_on=False) skips episodes; run(learn=False) leaves the weights alone."""
    from lava_sleep.lava_backend import LavaSimulator

    p = _params("fixed")
    images = make_test_images(8)
    sim = LavaSimulator(p, SEED, mode="fixed", model="graph")
    try:
        w0 = sim.magnitudes()
        out = sim.run_one(images[:4], sleep_on=False)  # 200 wake steps: a trigger, but no sleep
        assert out.sleep_steps == 0 and out.episodes == []
        w1 = sim.magnitudes()
        assert not np.array_equal(w1["XE"], w0["XE"])
        out2 = sim.run_one(images[4:], learn=False)  # one episode, no STDP (decay still acts)
        w2 = sim.magnitudes()
    finally:
        sim.close()
    # skipped triggers do not count as episodes: the next one is episode 1
    assert [e["episode"] for e in out2.episodes] == [1]
    ref = ReferenceSimulator(p, SEED, mode="fixed")
    ref.run(images[:4], sleep_on=False)
    ref_out2 = ref.run(images[4:], learn=False)
    assert out2.episodes == ref_out2.episodes
    assert np.array_equal(out2.counts, ref_out2.counts)
    for n, m in w2.items():
        assert np.array_equal(m, ref.m[n]), n
    # without STDP only the sleep decay moved XE: pulled back toward its initial total
    t0 = float(w0["XE"].sum())
    assert abs(float(w2["XE"].sum()) - t0) < abs(float(w1["XE"].sum()) - t0)


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("model", ["graph", "fused"])
def test_on_demand_sleep_matches_oracle(model):
    """run, sleep(37), run, sleep(0), sleep(25, learn=False) in fixed point (graph model, and the
    fused model with its default step): spikes, counts, steps, episode records and the final state
    equal the oracle's bit for bit. The first on-demand episode runs full (3 decay blocks and a
    partial one), the scheduled episode that follows is still episode 1 and wakes early, and so
    does the last on-demand one."""
    from lava_sleep.lava_backend import LavaSimulator

    p = active_params("fixed", lam=0.95, tol=0.02)
    images = make_test_images(6)
    calls = [("run", images[:3], True), ("sleep", 37, True), ("run", images[3:], True), ("sleep", 0, True),
             ("sleep", 25, False)]
    ref = ReferenceSimulator(p, SEED, mode="fixed")
    sim = LavaSimulator(p, SEED, mode="fixed", model=model)
    try:
        for kind, arg, learn in calls:
            if kind == "run":
                out, ro = sim.run(arg, record_spikes=True), ref.run(arg, record_spikes=True)
            else:
                out = sim.sleep(arg, learn=learn, record_spikes=True)
                ro = ref.sleep(arg, learn=learn, record_spikes=True)
            assert out.episodes == [ro.episodes]
            assert out.steps.tolist() == [ro.steps] and out.sleep_steps.tolist() == [ro.sleep_steps]
            np.testing.assert_array_equal(out.counts[0], ro.counts)
            for pop in ("X", "E", "I", "asleep"):
                np.testing.assert_array_equal(out.spikes[0][pop], ro.spikes[pop], err_msg=pop)
            if (kind, arg) == ("sleep", 37):
                assert [(e["episode"], e["used"], e["woke_early"]) for e in ro.episodes] == [(0, 37, False)]
                assert ro.spikes["E"].any()
        assert [(e["episode"], e["woke_early"]) for e in ro.episodes] == [(0, True)]
        state, want = sim.state_dict(), ref.state_dict()
    finally:
        sim.close()
    assert want["counters"].tolist()[2:] == [1, 37 + 10 + 10]
    for k, v in state.items():
        np.testing.assert_array_equal(v, want[k], err_msg=k)
