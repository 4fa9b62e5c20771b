"""On-demand sleep episodes in the NumPy oracle (``ReferenceSimulator.sleep``, ``NumpyBatch.sleep``).

The key property (docs/model.md, "On-demand sleep episodes"): with a schedule whose episode 1
(L steps) triggers at the end of image n (period = n image slots), ``run(images[:n])`` and
``run(images[:n], sleep_on=False)`` followed by ``sleep(L)`` end in the same state, bit for bit
in fixed point and exactly in float64, except the schedule's episode counter (n_episodes), and
record the same episode (except its number: 0 on demand). The scenarios sleep with STDP, a
noisy decay (float: decay_noise; fixed: stochastic rounding) over several decay blocks and a
partial last block, and one wakes early after several blocks.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lava_sleep.backends import make_simulator
from lava_sleep.reference import ReferenceSimulator, check_sleep_steps

SEED = 3
N_IMAGES = 4  # episode 1 triggers after the last step of image 4 (period = 4 slots)


def _params(base, **sleep):
    slot = base.input.slot_steps
    return dataclasses.replace(base, sleep=dataclasses.replace(
        base.sleep, **{"fraction": 0.3, "period": N_IMAGES * slot, "lam": 0.999, **sleep}))


#: case -> (mode, SleepParams overrides, expect early wake-up)
CASES = {
    "float-log-noise": ("float", dict(form="log", target="neuron", block=7, tol=0.0, decay_noise=0.1), False),
    "fixed-linear-neuron": ("fixed", dict(form="linear", target="neuron", block=7, tol=0.0), False),
    "fixed-group-early-wake": ("fixed", dict(form="linear", target="group", block=5, tol=0.0125,
                                             lam=0.99), True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_on_demand_episode_equals_scheduled_episode(case, small_params, make_images):
    mode, sleep, early = CASES[case]
    p = _params(small_params, **sleep)
    images = make_images(N_IMAGES, p.n_input, seed=2024)
    length = p.sleep.episode_length(1)
    assert p.sleep.block < length and length % p.sleep.block != 0  # blocks and a partial last one

    a = ReferenceSimulator(p, SEED, mode=mode)
    out_a = a.run(images, record_spikes=True)
    b = ReferenceSimulator(p, SEED, mode=mode)
    out_b = b.run(images, sleep_on=False, record_spikes=True)
    assert out_b.episodes == [] and b.state_dict()["counters"][2] == 0
    out_s = b.sleep(length, record_spikes=True)

    # the scheduled episode really is episode 1, of length L, at the end of image n
    (ea,) = out_a.episodes
    assert ea["episode"] == 1 and ea["wake_step"] == N_IMAGES * p.input.slot_steps
    assert ea["planned"] == length and ea["woke_early"] == early
    assert ea["used"] > 2 * p.sleep.block
    # same state except n_episodes
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        if k == "counters":
            np.testing.assert_array_equal(sa[k][[0, 1, 3]], sb[k][[0, 1, 3]])
            assert (sa[k][2], sb[k][2]) == (1, 0)
        else:
            np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    # same record (but the episode number), spikes, steps and activity
    (es,) = out_s.episodes
    assert es == {**ea, "episode": 0}
    assert out_s.steps == out_s.sleep_steps == ea["used"] == out_a.sleep_steps
    assert out_s.counts.shape == (0, p.network.n_exc)
    for pop in ("X", "E", "I", "asleep"):
        np.testing.assert_array_equal(np.concatenate([out_b.spikes[pop], out_s.spikes[pop]]),
                                      out_a.spikes[pop], err_msg=pop)
    assert out_s.spikes["asleep"].all() and not out_s.activity[0].any()
    np.testing.assert_array_equal(out_b.activity + out_s.activity, out_a.activity)

    # the episode learns (E spikes asleep, STDP in sleep), and its decay moved the weights
    assert out_s.activity[1].sum() > 0
    c = ReferenceSimulator(p, SEED, mode=mode)
    c.run(images, sleep_on=False)
    before = {n: m.copy() for n, m in c.m.items()}
    c.sleep(length, learn=False)
    assert any(not np.array_equal(c.m[n], sb[f"m_{n}"]) for n in c.plastic), "no STDP in sleep"
    if not early:  # (the early case is within tol at once without STDP: no decay block needed)
        assert any(not np.array_equal(c.m[n], before[n]) for n in c.plastic), "no decay"


def test_on_demand_sleep_without_schedule_and_zero_steps(small_params, make_images):
    """fraction 0 sleeps on demand with its other SleepParams; steps 0 does nothing."""
    p = dataclasses.replace(small_params, sleep=dataclasses.replace(
        small_params.sleep, fraction=0.0, form="linear", target="static", block=4, lam=0.99, tol=0.0))
    images = make_images(2, p.n_input, seed=7)
    sim = ReferenceSimulator(p, SEED, mode="fixed")
    sim.run(images)
    s0 = sim.state_dict()
    out = sim.sleep(0, record_spikes=True)
    assert out.episodes == [] and out.steps == out.sleep_steps == 0 and not out.activity.any()
    assert out.counts.shape == (0, p.network.n_exc)
    assert {k: v.shape for k, v in out.spikes.items()} == {
        "X": (0, p.n_input), "E": (0, p.network.n_exc), "I": (0, p.network.n_inh), "asleep": (0,)}
    for k, v in sim.state_dict().items():
        np.testing.assert_array_equal(v, s0[k], err_msg=k)
    out = sim.sleep(10)
    (e,) = out.episodes
    assert (e["episode"], e["planned"], e["used"], e["start_step"], e["wake_step"]) == (
        0, 10, 10, s0["counters"][0], s0["counters"][1])
    np.testing.assert_array_equal(sim.state_dict()["counters"], s0["counters"] + [10, 0, 0, 10])
    assert sim.totals()["XE"] != s0["m_XE"].sum()  # decayed toward the static target


def test_numpy_batch_sleep_per_member_and_input_validation(small_params, make_images):
    p = _params(small_params, form="linear", target="neuron", block=7, tol=0.0)
    images = make_images(2, p.n_input, seed=7)
    batch = make_simulator("numpy", [p, p, p], [1, 2, 3], mode="fixed")
    batch.run(images)
    out = batch.sleep([12, 0, np.int64(5)], record_spikes=True)
    assert out.counts.shape == (3, 0, p.network.n_exc) and out.activity.shape[:2] == (3, 2)
    assert out.steps.tolist() == out.sleep_steps.tolist() == [12, 0, 5]
    assert [len(e) for e in out.episodes] == [1, 0, 1] and [len(s["E"]) for s in out.spikes] == [12, 0, 5]
    for b, n in enumerate([12, 0, 5]):
        ref = ReferenceSimulator(p, b + 1, mode="fixed")
        ref.run(images)
        ro = ref.sleep(n)
        assert out.episodes[b] == ro.episodes
        for k, v in ref.state_dict().items():
            np.testing.assert_array_equal(batch.state_dict(b)[k], v, err_msg=k)
    assert batch.sleep(3).steps.tolist() == [3, 3, 3]
    for bad, match in ((-1, ">= 0"), (2.0, "integer"), (True, "integer"), ([1, 2], "sequence of 3"),
                       ([1, -2, 3], r"steps\[1\]"), ([1, 2.5, 3], r"steps\[1\]"), ("abc", "sequence of 3"),
                       (None, "integer")):
        with pytest.raises(ValueError, match=match):
            batch.sleep(bad)
        with pytest.raises(ValueError) as err:
            check_sleep_steps(bad, 3)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=">= 0"):
        ReferenceSimulator(p, 1).sleep(-5)
    with pytest.raises(ValueError, match="sequence of 1"):
        ReferenceSimulator(p, 1).sleep([1, 2])
