"""``lava-sleep onchip-study`` end to end on a shrunken paper network: the three arms really run
their sleep (read from each run's own result.json), the statistics and the share of the host
benefit kept against an independent computation, the plot, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import holm_reference
from cli_helpers import run_main as _main
from scipy import stats

from lava_sleep import cli

#: The paper network shrunk: 64 inputs, 12 E, 6 I, 40 steps per image, an episode every 160
#: wake steps (every 4 images); lambda 0.999 so that a 64-step on-chip block decays visibly.
SMALL_TOML = """
[input]
image_size = 8
steps_per_image = 40
[network]
n_exc = 12
n_inh = 6
[sleep]
period = 160
lam = 0.999
"""
SEEDS = (0, 1, 2)
FRACTION = 0.3
BLOCK = 64
PNG = b"\x89PNG\r\n\x1a\n"
#: arm -> (sweep folder, fraction)
ARMS = {"none": ("host", 0.0), "host": ("host", FRACTION), "onchip": ("onchip", FRACTION)}
METRICS = ("linear_accuracy", "assignment_accuracy")


def _argv(out, toml, *extra):
    return [
        "onchip-study",
        "--datasets",
        "digits",
        "--n-train",
        "40",
        "--n-test",
        "30",
        "--seeds",
        ",".join(map(str, SEEDS)),
        "--fraction",
        str(FRACTION),
        "--block",
        str(BLOCK),
        "--config",
        toml,
        "--backend",
        "torch",
        "--no-progress",
        *extra,
        "--out",
        out,
    ]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("onchip")
    toml = root / "small.toml"
    toml.write_text(SMALL_TOML)
    out = root / "study"
    assert cli.main([str(a) for a in _argv(out, toml)]) == 0
    return out, toml


def _result(out, arm, seed):
    sub, f = ARMS[arm]
    tag = "0" if f == 0 else f"{f:g}"
    return json.loads(
        (out / sub / "runs" / "digits" / "stdp" / f"f{tag}_s{seed}" / "result.json").read_text()
    )


def test_arms_run_their_sleep_and_the_table_holds_their_numbers(study):
    out, _ = study
    assert (out / "plots" / "onchip_study.png").read_bytes()[:8] == PNG
    s = json.loads((out / "study.json").read_text())
    d = s["results"]["digits"]
    assert [r["arm"] for r in d["rows"]] == list(ARMS)
    for arm in ARMS:
        for seed in SEEDS:
            sp = _result(out, arm, seed)["config"]["sleep"]
            r = _result(out, arm, seed)
            assert sp["site"] == ("onchip" if arm == "onchip" else "host")
            assert (r["sleep"]["steps_used"] > 0) == (arm != "none")
            if arm == "onchip":
                assert (sp["block"], sp["target"], sp["tol"]) == (BLOCK, "static", 0.0)
                # no early wake-up on chip: every planned step is slept
                assert r["sleep"]["steps_used"] == r["sleep"]["steps_planned"]
    # c = 1 - 0.999**64 = 0.0620 -> nearest literal 1 * 2**-4 = 0.0625
    rate = s["setup"]["onchip_rate"]
    assert (rate["mantissa"], rate["exponent"], rate["value"]) == (1, -4, 0.0625)
    assert rate["host_block_equivalent"] == pytest.approx(1 - 0.999**64)
    for row in d["rows"]:
        for m in METRICS:
            vals = [_result(out, row["arm"], s_)[m] for s_ in SEEDS]
            assert row[m]["n"] == len(SEEDS) and row[m]["mean"] == pytest.approx(np.mean(vals))
    md = (out / "study.md").read_text()
    assert "c = 1 * 2**-4" in md and "| on-chip sleep (n = 3) |" in md and "| raw pixels" in md


def test_plot_command_redraws_the_study_plot(study, capsys):
    out, _ = study
    png = out / "plots" / "onchip_study.png"
    png.unlink()
    rc, stdout, err = _main(capsys, ["plot", str(out)])
    assert rc == 0, err
    assert stdout.split() == [str(png)] and png.read_bytes()[:8] == PNG


def test_paired_statistics_and_share_kept_match_an_independent_computation(study):
    out, _ = study
    d = json.loads((out / "study.json").read_text())["results"]["digits"]
    assert {(c["metric"], c["arm"], c["versus"]) for c in d["comparisons"]} == {
        (m, a, v) for m in METRICS for a, v in (("host", "none"), ("onchip", "none"), ("onchip", "host"))
    }
    for m in METRICS:
        per = {arm: np.array([_result(out, arm, s_)[m] for s_ in SEEDS]) for arm in ARMS}
        fam = [c for c in d["comparisons"] if c["metric"] == m]
        for c in fam:
            diff = per[c["arm"]] - per[c["versus"]]
            assert c["diff_mean"] == pytest.approx(diff.mean(), abs=1e-12)
            if np.ptp(diff) > 1e-12:
                assert c["p"] == pytest.approx(stats.ttest_rel(per[c["arm"]], per[c["versus"]]).pvalue)
        tested = [c for c in fam if c["p"] is not None]
        for c, ph in zip(tested, holm_reference([c["p"] for c in tested]), strict=True):
            assert c["p_holm"] == pytest.approx(ph)
        ret = d["retained"][m]
        hb, ob = (per["host"] - per["none"]).mean(), (per["onchip"] - per["none"]).mean()
        assert ret["host_benefit"] == pytest.approx(hb) and ret["onchip_benefit"] == pytest.approx(ob)
        assert ret["share"] == (pytest.approx(ob / hb) if hb > 0 else None)


def test_bad_input_is_one_line_exit_2_before_any_work(study, capsys, tmp_path, monkeypatch):
    _, toml = study
    bad_lam = tmp_path / "lam.toml"
    bad_lam.write_text(SMALL_TOML.replace("lam = 0.999", "lam = 0.999999999999"))
    new = tmp_path / "new"
    cases = {
        "fraction 0": [*_argv(new, toml), "--fraction", "0"],
        "fraction too large": [*_argv(new, toml), "--fraction", "0.99"],
        "block not a power of two": [*_argv(new, toml), "--block", "100"],
        "block too long": [*_argv(new, toml), "--block", "1024"],
        "lambda without a literal": _argv(new, bad_lam),
        "unknown dataset": [*_argv(new, toml)[:2], "nope", *_argv(new, toml)[3:]],
    }
    monkeypatch.setattr("lava_sleep.sweep.run_members", lambda *a, **k: pytest.fail("trained"))
    for name, argv in cases.items():
        rc, _, err = _main(capsys, [str(a) for a in argv])
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, err)
        assert not new.exists(), name
