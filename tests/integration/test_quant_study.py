"""``lava-sleep quant`` end to end on a tiny network: cells, files, statistics against an
independent computation (scipy), the Loihi 2 column, resuming, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import TINY_TOML, holm_reference
from cli_helpers import run_main as _main
from scipy import stats

from lava_sleep import cli
from lava_sleep.quant_study import TOLERANCE_PP, impulse_for_bits

#: The tiny network of the CLI tests (36 inputs, 12 E, 3 I, 30 steps per image, a sleep episode
#: every 90 wake steps; its sleep fraction is replaced per run).
SMALL_TOML = TINY_TOML
SEEDS = (0, 1)
FRACTIONS = (0.0, 0.2)
W_BITS = (2, 8)
ROUNDINGS = ("stochastic", "floor")
CELLS = ["float"] + [f"full_w{b}_t7_dw16_{r}" for b in W_BITS for r in ROUNDINGS]
METRICS = ("linear_accuracy", "assignment_accuracy")
PNG = b"\x89PNG\r\n\x1a\n"


def _argv(out, toml, *extra):
    return ["quant", "--dataset", "digits", "--n-train", "40", "--n-test", "30", "--config", toml,
            "--seeds", ",".join(map(str, SEEDS)), "--fractions", ",".join(map(str, FRACTIONS)),
            "--w-bits", ",".join(map(str, W_BITS)), "--rounding", ",".join(ROUNDINGS),
            "--backend", "torch", "--no-progress", *extra, "--out", out]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("quant")
    toml = root / "small.toml"
    toml.write_text(SMALL_TOML)
    out = root / "study"
    assert cli.main([str(a) for a in _argv(out, toml)]) == 0
    return out, toml


def _result(out, cell, fraction, seed):
    """result.json of one run, found by the folder layout (not through the study's lists)."""
    tag = "0" if fraction == 0 else f"{fraction:g}"
    return json.loads((out / "cells" / cell / "runs" / "digits" / "stdp" / f"f{tag}_s{seed}" / "result.json")
                      .read_text())


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def test_impulse_scales_with_the_trace_range():
    # 13 * (2**b - 1) / 127, rounded half to even, at least 1 (hand-computed)
    assert [impulse_for_bits(13, 7, b) for b in (7, 6, 5, 4, 3)] == [13, 6, 3, 2, 1]
    assert impulse_for_bits(13, 7, 8) == 26  # 13 * 255 / 127 = 26.1


def test_cell_grid_keys_and_parameters():
    from lava_sleep import params as P
    from lava_sleep.quant_study import QuantConfig

    base = P.quick().fixed_form()[0]
    cfg = QuantConfig(dataset="digits", seeds=[0], params=base, w_bits=[3], roundings=["nearest"],
                      w_scales=["pow2"], trace_bits=[5, 7], decay_frac_bits=[24, 18])
    cells = cfg.cells()
    assert [c.key for c in cells] == ["float", "pow2_w3_t5_dw16_nearest", "pow2_w3_t5_dw16_nearest_dec18",
                                      "pow2_w3_t7_dw16_nearest", "pow2_w3_t7_dw16_nearest_dec18"]
    p = cfg.cell_params(cells[2])
    assert (p.fixed.w_bits, p.fixed.w_scale, p.fixed.decay_frac_bits) == (3, "pow2", 18)
    assert (p.fixed.trace_rounding, p.fixed.dw_rounding) == ("nearest", "nearest")
    assert (p.stdp.trace_bits, p.stdp.trace_impulse) == (5, 3)
    assert cfg.cell_params(cells[0]) == base


def test_cells_runs_and_files(study):
    out, _ = study
    for name in ("quant.json", "summary.json", "summary.md", "runs.jsonl"):
        assert (out / name).is_file(), name
    for name in ("accuracy_vs_bits.png", "sleep_benefit_vs_bits.png", "accuracy_vs_rate.png",
                 "weight_histograms.png"):
        assert (out / "plots" / name).read_bytes()[:8] == PNG, name
    s = _summary(out)
    assert [r["cell"] for r in s["rows"]] == [c for c in CELLS for _ in FRACTIONS]
    assert len((out / "runs.jsonl").read_text().splitlines()) == len(CELLS) * len(FRACTIONS) * len(SEEDS)
    for r in s["rows"]:
        assert r["n"] == len(SEEDS) and r["seeds"] == list(SEEDS)
        # untrained-network baselines in the float cell only (no --cell-baselines)
        assert r["untrained_linear_accuracy"]["n"] == (len(SEEDS) if r["cell"] == "float" else 0)
        assert ("baselines" in _result(out, r["cell"], r["fraction"], 0)["metrics"]) == (r["cell"] == "float")
    # each run ran its own cell, as the run itself recorded it
    for cell in CELLS:
        for f in FRACTIONS:
            for seed in SEEDS:
                r = _result(out, cell, f, seed)
                assert r["sleep_fraction"] == f and (r["sleep"]["steps_used"] > 0) == (f > 0)
                if cell == "float":
                    assert r["mode"] == "float" and r["dtype"] == "float64"
                    continue
                fx = r["config"]["fixed"]
                assert r["mode"] == "fixed"
                _, wb, _, _, rnd = cell.split("_")
                assert fx["w_bits"] == int(wb[1:]) and fx["w_scale"] == "full"
                assert fx["trace_rounding"] == fx["dw_rounding"] == rnd
    # the float cell is the same model in float64 (the fixed form: linear sleep decay)
    assert _result(out, "float", 0.2, 0)["config"]["sleep"]["form"] == "linear"
    # 2-bit weights: every final X->E magnitude is one of 4 equally spaced codes 0..3 (an
    # independent reading of model.npz), and the top code is w_max to 1 part in w_mult
    for rnd in ROUNDINGS:
        z = np.load(out / "cells" / f"full_w2_t7_dw16_{rnd}" / "runs" / "digits" / "stdp" / "f0_s0"
                    / "model.npz")
        vals = np.unique(np.abs(z["w_XE"][z["mask_XE"].astype(bool)]))
        assert vals.size <= 4
        lsb = 1.0 / 3  # paper/quick X->E w_max = 1, full scale: 3 codes above 0
        assert np.allclose(vals / lsb, np.rint(vals / lsb), atol=1e-3) and vals.max() <= 1.0
    md = (out / "summary.md").read_text()
    assert "| float64 | 2 |" in md and "## Sleep benefit" in md and "40 training / 30 held-out" in md


def _check_pair(c, a, b):
    diff = 100 * np.subtract(a, b)
    assert c["n"] == len(a)
    assert c["diff_pp"] == pytest.approx(diff.mean(), abs=1e-9)
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    assert c["ci95_pp"] == pytest.approx(half, abs=1e-9)
    if np.ptp(diff) > 1e-9:
        res = stats.ttest_rel(a, b)
        assert c["p"] == pytest.approx(res.pvalue)
    else:
        assert c["p"] is None


def test_statistics_match_scipy(study):
    out, _ = study
    s = _summary(out)
    for m in METRICS:
        for f in FRACTIONS:
            rows = [r for r in s["rows"] if r["fraction"] == f]
            for r in rows:
                vals = [_result(out, r["cell"], f, s_)[m] for s_ in SEEDS]
                st = r[m]
                assert st["mean"] == pytest.approx(np.mean(vals))
                assert st["ci95"] == pytest.approx(
                    stats.t.ppf(0.975, len(vals) - 1) * np.std(vals, ddof=1) / np.sqrt(len(vals)), abs=1e-12)
                if r["cell"] == "float":
                    assert r["vs_float_" + m] is None
                else:
                    _check_pair(r["vs_float_" + m], vals, [_result(out, "float", f, s_)[m] for s_ in SEEDS])
                if f > 0:
                    _check_pair(r["sleep_benefit_" + m], vals,
                                [_result(out, r["cell"], 0.0, s_)[m] for s_ in SEEDS])
            for key in ("vs_float_", "sleep_benefit_"):
                family = [r[key + m] for r in rows if r.get(key + m) and r[key + m]["p"] is not None]
                for c, ph in zip(family, holm_reference([c["p"] for c in family]), strict=True):
                    assert c["p_holm"] == pytest.approx(ph)


def test_health_loihi_column_and_smallest_widths(study):
    out, _ = study
    s = _summary(out)
    for r in s["rows"]:
        w = [_result(out, r["cell"], r["fraction"], s_)["metrics"]["weights"] for s_ in SEEDS]
        for pw in ("XE", "EE"):
            for k in ("at_min", "at_max", "total"):
                assert r["health"][pw][k]["mean"] == pytest.approx(np.mean([x[pw][k] for x in w]))
        if r["cell"] == "float":
            assert r["loihi2"] is None
            continue
        mism = r["loihi2"]["mismatches"]
        assert not r["loihi2"]["as_is"]
        assert any("weight scale full" in x for x in mism)  # full scale: a multiplier
        assert any(f"{1 + r['w_bits'] + 16}-bit accumulator" in x for x in mism)
        assert any("floor rounding" in x for x in mism) == (r["rounding"] == "floor")
    # smallest width within TOLERANCE_PP of float, recomputed from the per-seed results
    for x in s["smallest"]:
        assert x["axis"] == "w_bits"
        diffs = {}
        for b in W_BITS:
            cell = f"full_w{b}_t7_dw16_{x['rounding']}"
            a = [_result(out, cell, x["fraction"], s_)[x["metric"]] for s_ in SEEDS]
            f = [_result(out, "float", x["fraction"], s_)[x["metric"]] for s_ in SEEDS]
            diffs[b] = 100 * np.mean(np.subtract(a, f))
        expect = None
        for b in sorted(W_BITS, reverse=True):
            if diffs[b] < -TOLERANCE_PP:
                break
            expect = b
        assert x["smallest"] == expect, x
    assert len(s["smallest"]) == len(ROUNDINGS) * len(FRACTIONS) * len(METRICS)
    # accuracy vs gain: Spearman over every run, recomputed from the runs' own result.json
    assert len(s["activity"]) == len(FRACTIONS) * len(METRICS)
    for x in s["activity"]:
        res = [_result(out, c, x["fraction"], s_) for c in CELLS for s_ in SEEDS]
        acc = [r[x["metric"]] for r in res]
        for key, vals in (("test_rate_hz", [r["metrics"]["test_rate_hz"] for r in res]),
                          ("XE_total", [r["metrics"]["weights"]["XE"]["total"] for r in res])):
            assert x["n"] == len(res)
            if len(set(vals)) > 1 and len(set(acc)) > 1:
                assert x[key] == pytest.approx(stats.spearmanr(vals, acc).statistic)
            else:
                assert x[key] is None


def test_resuming_a_finished_study_trains_nothing(study, capsys, monkeypatch):
    out, toml = study

    def no_training(*args, **kwargs):
        raise AssertionError("a finished study trained again")

    monkeypatch.setattr("lava_sleep.sweep.run_members", no_training)
    runs = {p: p.read_bytes() for p in out.rglob("result.json")}
    rc, stdout, err = _main(capsys, _argv(out, toml, "--no-plots"))
    assert rc == 0, err
    assert stdout.count(f"{len(FRACTIONS) * len(SEEDS)} runs recorded, 0 to run") == len(CELLS)
    assert {p: p.read_bytes() for p in out.rglob("result.json")} == runs
    rc, stdout, err = _main(capsys, ["plot", out])
    assert rc == 0, err
    assert [line.rsplit("/", 1)[-1] for line in stdout.split()] == [
        "accuracy_vs_bits.png", "sleep_benefit_vs_bits.png", "accuracy_vs_rate.png", "weight_histograms.png"]


def test_bad_input_is_one_line_exit_2_before_any_work(study, capsys, tmp_path, monkeypatch):
    done, toml = study
    afile = tmp_path / "file.txt"
    afile.write_text("keep\n")
    new = tmp_path / "new"
    cases = {
        "w bits out of range": ([*_argv(new, toml), "--w-bits", "4,9"], "FixedParams.w_bits"),
        "unknown rounding": ([*_argv(new, toml), "--rounding", "stochastic,round"],
                             "FixedParams.trace_rounding"),
        "unknown scale": ([*_argv(new, toml), "--w-scale", "log"], "FixedParams.w_scale"),
        "trace bits out of range": ([*_argv(new, toml), "--trace-bits", "2"], "STDPParams.trace_bits"),
        "dw bits out of range": ([*_argv(new, toml), "--dw-frac-bits", "30"], "FixedParams.dw_frac_bits"),
        "decay bits out of range": ([*_argv(new, toml), "--decay-frac-bits", "24,12"],
                                    "FixedParams.decay_frac_bits"),
        "bad w bits": ([*_argv(new, toml), "--w-bits", "4,x"], "bad"),
        "negative fraction": ([*_argv(new, toml), "--fractions", "0,-0.1"], "fraction"),
        "fraction too large": ([*_argv(new, toml), "--fractions", "0.99"], "fraction"),
        "lava backend": ([*_argv(new, toml), "--backend", "lava-fixed"], "--backend"),
        "unknown dataset": ([*_argv(new, toml), "--dataset", "nope"], "nope"),
        "too many images": ([*_argv(new, toml), "--n-train", "5000"], ""),
        "bad seed": ([*_argv(new, toml), "--seeds", "0,-1"], "seed"),
        "--out is a file": ([*_argv(afile, toml)], ""),
    }
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    calls = []
    monkeypatch.setattr("lava_sleep.sweep.run_members", lambda *a, **k: calls.append(1))
    for name, (argv, word) in cases.items():
        rc, _, err = _main(capsys, argv)
        lines = err.strip().splitlines()
        assert rc == 2, f"{name}: rc {rc}, {err!r}"
        assert len(lines) == 1 and lines[0].startswith("lava-sleep") and word in lines[0], f"{name}: {err!r}"
        assert sorted(str(p) for p in tmp_path.rglob("*")) == before, f"{name} wrote files"
    # another configuration into the finished study: refused before anything runs or changes
    kept = {p: p.read_bytes() for p in done.rglob("*") if p.is_file()}
    other = tmp_path / "other.toml"
    other.write_text(SMALL_TOML.replace("steps_per_image = 30", "steps_per_image = 32"))
    rc, _, err = _main(capsys, _argv(done, other))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "another configuration" in err, err
    assert {p: p.read_bytes() for p in done.rglob("*") if p.is_file()} == kept
    assert not calls
