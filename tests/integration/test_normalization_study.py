"""``lava-sleep normalization-study`` end to end on a shrunken competitive network: files, arms,
paired statistics against an independent computation, resuming, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import holm_reference
from cli_helpers import run_main as _main
from scipy import stats

from lava_sleep import cli
from lava_sleep.params import preset_epochs

#: The competitive preset shrunk: 64 inputs, 10 E, 10 I, 30 + 10 steps per image, a sleep
#: episode every 200 wake steps (every 5 images).
SMALL_TOML = """
[input]
image_size = 8
steps_per_image = 30
rest_steps = 10
[network]
n_exc = 10
n_inh = 10
[sleep]
period = 200
"""
SEEDS = (0, 1)
FRACTION = 0.2
PNG = b"\x89PNG\r\n\x1a\n"


def _argv(out, toml, *extra):
    return ["normalization-study", "--datasets", "digits", "--n-train", "40", "--n-test", "30",
            "--seeds", ",".join(map(str, SEEDS)), "--fractions", str(FRACTION), "--both-fractions",
            str(FRACTION), "--config", toml, "--backend", "torch", "--no-progress", *extra, "--out", out]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    toml = root / "small.toml"
    toml.write_text(SMALL_TOML)
    out = root / "study"
    assert cli.main([str(a) for a in _argv(out, toml)]) == 0
    return out, toml


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _result(out, normalize, fraction, seed):
    """result.json of one run, found by the sweeps' folder layout (not through the study's lists)."""
    tag = "0" if fraction == 0 else f"{fraction:g}"
    sub = "normalize_on" if normalize else "normalize_off"
    rdir = out / sub / "runs" / "digits" / "stdp" / f"f{tag}_s{seed}"
    return json.loads((rdir / "result.json").read_text())


ARMS = {"neither": (False, 0.0), "normalize": (True, 0.0), f"sleep_{FRACTION:g}": (False, FRACTION),
        f"both_{FRACTION:g}": (True, FRACTION)}


def test_files_arms_and_markdown(study):
    out, _ = study
    for name in ("study.json", "study.md", "normalize_off/runs.jsonl", "normalize_on/runs.jsonl"):
        assert (out / name).is_file(), name
    for name in ("accuracy_vs_sleep.png", "receptive_fields_digits.png", "weight_health.png"):
        assert (out / "plots" / name).read_bytes()[:8] == PNG, name
    s = json.loads((out / "study.json").read_text())
    assert s["seeds"] == list(SEEDS) and s["fractions"] == [FRACTION] and s["both_fractions"] == [FRACTION]
    d = s["results"]["digits"]
    assert [r["key"] for r in d["rows"]] == list(ARMS)
    assert [r["group"] for r in d["rows"]] == ["a", "b", "c", "d"]
    for r in d["rows"]:
        assert r["n"] == len(SEEDS) and r["seeds"] == list(SEEDS), r["key"]
        assert (r["normalize"], r["fraction"]) == ARMS[r["key"]]
        for m in ("linear_accuracy", "assignment_accuracy"):
            assert r[m]["n"] == len(SEEDS)
        assert {"mean", "std", "in_cv", "saturation"} <= set(r["weights"])
    # each run really ran its arm: normalize flag and sleep fraction as recorded by the run itself
    for key, (norm, f) in ARMS.items():
        for seed in SEEDS:
            r = _result(out, norm, f, seed)
            assert r["config"]["network"]["pathways"]["XE"]["normalize"] is norm
            assert r["sleep_fraction"] == f and (r["sleep"]["steps_used"] > 0) == (f > 0), key
    # baselines come from the runs' own baseline numbers
    pix = [_result(out, False, 0.0, s_)["metrics"]["baselines"]["pixels_linear_accuracy"] for s_ in SEEDS]
    (bp,) = [b for b in d["baselines"] if b["baseline"] == "pixels"]
    assert bp["n"] == len(SEEDS) and bp["linear_accuracy"]["mean"] == pytest.approx(np.mean(pix))
    assert {b["baseline"] for b in d["baselines"]} == {"pixels", "untrained"}
    # normalization keeps every E neuron's X->E total at its initial value: the arms with it keep
    # the incoming totals' spread at the start value
    rows = {r["key"]: r for r in d["rows"]}
    h0 = _result(out, True, 0.0, SEEDS[0])["health"]
    cv0 = [_result(out, True, 0.0, s_)["health"][0]["pathways"]["XE"]["in_cv"] for s_ in SEEDS]
    assert rows["normalize"]["weights"]["in_cv"]["mean"] == pytest.approx(np.mean(cv0), rel=1e-3)
    # no --epochs: the preset's number of passes over the 40 training images
    assert h0[-1]["images"] == 40 * preset_epochs("competitive")
    md = (out / "study.md").read_text()
    assert "Seeds 0, 1" in md and "40 training / 30 held-out images" in md
    for label in ("(a) neither", "(b) per-image normalization", "(c) sleep 20 %",
                  "(d) normalization + sleep 20 %", "baseline: raw pixels", "baseline: untrained network"):
        assert f"| {label}" in md, label


def test_paired_statistics_match_scipy(study):
    out, _ = study
    comps = json.loads((out / "study.json").read_text())["results"]["digits"]["comparisons"]
    pairs = {(c["metric"], c["arm"], c["versus"]) for c in comps}
    metrics = ("linear_accuracy", "assignment_accuracy")
    expected = {(m, a, "neither") for m in metrics for a in list(ARMS)[1:]}
    expected |= {(m, a, "normalize") for m in metrics for a in list(ARMS)[2:]}
    assert pairs == expected and len(comps) == len(expected)
    for metric in ("linear_accuracy", "assignment_accuracy"):
        family = [c for c in comps if c["metric"] == metric]
        for c in family:
            a = [_result(out, *ARMS[c["arm"]], s_)[metric] for s_ in SEEDS]
            b = [_result(out, *ARMS[c["versus"]], s_)[metric] for s_ in SEEDS]
            diff = np.subtract(a, b)
            assert c["n"] == len(SEEDS)
            assert c["diff_mean"] == pytest.approx(diff.mean(), abs=1e-12)
            assert c["diff_mean_pp"] == pytest.approx(100 * diff.mean(), abs=1e-10)
            if np.ptp(diff) > 1e-12:
                res = stats.ttest_rel(a, b)
                assert c["t"] == pytest.approx(res.statistic) and c["p"] == pytest.approx(res.pvalue)
            else:  # identical differences: no test
                assert c["p"] is None and c["p_holm"] is None
        tested = [c for c in family if c["p"] is not None]
        for c, ph in zip(tested, holm_reference([c["p"] for c in tested]), strict=True):
            assert c["p_holm"] == pytest.approx(ph)


def test_resuming_a_finished_study_trains_nothing(study, capsys, monkeypatch):
    out, toml = study

    def no_training(*args, **kwargs):
        raise AssertionError("a finished study trained again")

    monkeypatch.setattr("lava_sleep.sweep.run_members", no_training)
    runs = {p: p.read_bytes() for p in out.rglob("result.json")}
    assert len(runs) == 2 * 2 * len(SEEDS)
    rc, stdout, err = _main(capsys, _argv(out, toml, "--no-plots"))
    assert rc == 0, err
    assert stdout.count(f"{2 * len(SEEDS)} runs recorded, 0 to run") == 2
    assert "| (a) neither | 2 |" in stdout
    assert {p: p.read_bytes() for p in out.rglob("result.json")} == runs
    for sub in ("normalize_off", "normalize_on"):
        assert len((out / sub / "runs.jsonl").read_text().splitlines()) == 2 * len(SEEDS)
    rc, stdout, err = _main(capsys, ["plot", out])  # the study's plots again, from study.json
    assert rc == 0, err
    assert [line.rsplit("/", 1)[-1] for line in stdout.split()] == [
        "accuracy_vs_sleep.png", "receptive_fields_digits.png", "weight_health.png"]


def test_bad_input_is_one_line_exit_2_before_any_work(study, capsys, tmp_path, monkeypatch):
    done, toml = study
    afile = tmp_path / "file.txt"
    afile.write_text("keep\n")
    sub_file = tmp_path / "subfile"
    sub_file.mkdir()
    (sub_file / "normalize_on").write_text("in the way\n")
    static = tmp_path / "static.toml"
    static.write_text(SMALL_TOML + "[network.pathways.XE]\nplastic = false\n")
    new = tmp_path / "new"
    cases = {
        "unknown dataset": _argv(new, toml)[:2] + ["digits,nope"] + _argv(new, toml)[3:],
        "bad fraction list": [*_argv(new, toml), "--fractions", "0.1,abc"],
        "zero fraction": [*_argv(new, toml), "--fractions", "0,0.1"],
        "fraction too large": [*_argv(new, toml), "--fractions", "0.99"],
        "negative both-fraction": [*_argv(new, toml), "--both-fractions", "-0.1"],
        "unknown preset": [*_argv(new, toml), "--preset", "huge"],
        "bad seed": [*_argv(new, toml), "--seeds", "0,-1"],
        "bad epochs": [*_argv(new, toml), "--epochs", "0"],
        "too many images": [*_argv(new, toml), "--n-train", "5000"],
        "X->E not plastic": [*_argv(new, toml), "--config", static],
        "--out is a file": [*_argv(afile, toml)],
        "--out under a file": [*_argv(afile / "sub", toml)],
        "sub-folder is a file": [*_argv(sub_file, toml)],
    }
    before = _files(tmp_path)
    calls = []
    monkeypatch.setattr("lava_sleep.sweep.run_members", lambda *a, **k: calls.append(1))
    for name, argv in cases.items():
        rc, _, err = _main(capsys, argv)
        lines = err.strip().splitlines()
        assert rc == 2, f"{name}: rc {rc}, {err!r}"
        assert len(lines) == 1 and lines[0].startswith("lava-sleep"), f"{name}: {err!r}"
        assert "Traceback" not in err, name
        assert _files(tmp_path) == before, f"{name} wrote files"
    # another configuration into the finished study: refused before anything runs or changes
    kept = {p: p.read_bytes() for p in done.rglob("*") if p.is_file()}
    other = tmp_path / "other.toml"
    other.write_text(SMALL_TOML.replace("steps_per_image = 30", "steps_per_image = 32"))
    rc, _, err = _main(capsys, _argv(done, other))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "another configuration" in err, err
    assert {p: p.read_bytes() for p in done.rglob("*") if p.is_file()} == kept
    assert not calls
