"""Paired sleep-vs-no-sleep comparison of the sweep summary (hand-derived t statistics)."""

import math

import pytest
from scipy import stats

from lava_sleep.sweep import compare_to_no_sleep, comparison_markdown


def _lines(values):
    out = []
    for f, accs in values.items():
        for seed, a in enumerate(accs):
            out.append({"dataset": "d", "model": "stdp", "fraction": f, "seed": seed, "accuracy": a})
    return out


def test_paired_t_and_holm_by_hand():
    base = [0.50, 0.60, 0.70]
    lines = _lines({0.0: base,
                    0.1: [b + d for b, d in zip(base, [0.10, 0.12, 0.08], strict=True)],
                    0.2: [b + d for b, d in zip(base, [0.01, -0.02, 0.00], strict=True)]})
    rows = {r["fraction"]: r for r in compare_to_no_sleep(lines)}
    r1, r2 = rows[0.1], rows[0.2]
    # fraction 0.1: diffs 0.10, 0.12, 0.08 -> mean 0.10, sd 0.02, t = 0.10 / (0.02 / sqrt 3)
    assert r1["n"] == 3
    assert r1["diff_mean"] == pytest.approx(0.10)
    assert r1["diff_sd"] == pytest.approx(0.02)
    t1 = 0.10 / (0.02 / math.sqrt(3))
    assert r1["t"] == pytest.approx(t1)
    p1 = 2 * stats.t.sf(t1, df=2)
    assert r1["p"] == pytest.approx(p1)
    # fraction 0.2: diffs 0.01, -0.02, 0 -> mean -1/300, sd sqrt(((4+25+1)/9e4)/2)
    m2 = -0.01 / 3
    sd2 = math.sqrt(((0.01 - m2) ** 2 + (-0.02 - m2) ** 2 + (0 - m2) ** 2) / 2)
    t2 = m2 / (sd2 / math.sqrt(3))
    p2 = 2 * stats.t.sf(abs(t2), df=2)
    assert r2["t"] == pytest.approx(t2)
    # Holm: the smaller p times 2, the larger times 1 (monotone)
    assert p1 < p2
    assert r1["p_holm"] == pytest.approx(min(1, 2 * p1))
    assert r2["p_holm"] == pytest.approx(max(min(1, 2 * p1), p2))
    assert r1["verdict"] == ("benefit" if 2 * p1 < 0.05 else "no difference")
    assert r2["verdict"] == "no difference"
    md = comparison_markdown(list(rows.values()))
    assert "| stdp | d | 10 | 3 | +10.0 ± 2.0 |" in md


def test_unpaired_seeds_are_left_out_and_constant_diff_has_no_p():
    lines = _lines({0.0: [0.5, 0.6], 0.3: [0.6, 0.7, 0.9]})  # seed 2 has no baseline
    (r,) = compare_to_no_sleep(lines)
    assert r["n"] == 2 and r["diff_mean"] == pytest.approx(0.1)
    assert r["p"] is None and r["verdict"] == "no difference"  # zero variance: no test


def test_differences_equal_to_rounding_have_no_p():
    # 0.175 - 0.125 and 0.15 - 0.1 differ in the last bit: no t-test on "constant" differences
    from lava_sleep.summary import holm_correct, paired_difference

    r = paired_difference({0: 0.175, 1: 0.15}, {0: 0.125, 1: 0.1})
    assert r["n"] == 2 and r["seeds"] == [0, 1] and r["diff_mean"] == pytest.approx(0.05)
    assert r["p"] is None and r["t"] is None
    (h,) = holm_correct([r])
    assert h["p_holm"] is None and h["verdict"] == "no difference"
