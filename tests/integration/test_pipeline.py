"""The experiment pipeline on tiny networks (numpy backend): runs, files, resume, sweeps, summaries."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from lava_sleep import params as P
from lava_sleep.data import load_dataset as _load
from lava_sleep.data import save_npz, split_dataset
from lava_sleep.experiment import DataCache, Member, RunError, TrainOptions, evaluate_run, files, run_members
from lava_sleep.experiment.stdp import chunk_bounds
from lava_sleep.io import read_jsonl
from lava_sleep.sweep import RUNS, SweepConfig, run_sweep, summarize, write_summary

N_TRAIN, N_TEST = 40, 20


def tiny_params(fraction=0.2) -> P.ModelParams:
    """36 inputs, 12 E, 3 I, 30 steps per image, a sleep episode every 3 images."""
    return P.ModelParams.from_dict({
        "input": {"image_size": 6, "steps_per_image": 30, "max_rate_hz": 200.0},
        "network": {"n_exc": 12, "n_inh": 3},
        "sleep": {"period": 90, "fraction": fraction},
    }, P.quick())


@pytest.fixture(scope="module")
def cache():
    return DataCache()


def _opts(**kw):
    return TrainOptions(backend="numpy", progress=False, **kw)


def _member(cache, out, fraction=0.2, seed=0):
    p = tiny_params(fraction)
    return Member(p, seed, cache.run_data("digits", 6, seed, N_TRAIN, N_TEST), out, out.name if out else "")


def test_run_writes_complete_files_and_eval_reproduces_accuracies(cache, tmp_path):
    out = tmp_path / "run"
    (r,) = run_members([_member(cache, out)], _opts(checkpoint=out / files.CHECKPOINT))
    assert {p.name for p in out.iterdir()} == {"result.json", "model.npz", "raster.npz"}  # checkpoint removed
    res = json.loads((out / "result.json").read_text())
    for key in ("config", "metrics", "sleep", "timings", "health", "episodes", "backend", "seed", "dataset"):
        assert key in res
    m = res["metrics"]
    for key in ("assignment_accuracy", "linear_accuracy", "phi", "diversity", "weights"):
        assert key in m
    assert res["dataset"]["n_train"] == N_TRAIN and res["dataset"]["n_test"] == N_TEST
    assert res["sleep"]["steps_used"] <= res["sleep"]["steps_planned"] and res["sleep"]["episodes"] > 0
    assert res["steps"]["total"] == res["steps"]["wake"] + res["steps"]["sleep"]
    assert res["steps"]["wake"] == N_TRAIN * 30
    # the health history starts at the initial network and ends at the final one
    assert res["health"][0]["images"] == 0 and res["health"][-1]["images"] == N_TRAIN
    assert res["health"][-1]["pathways"]["XE"]["total"] == pytest.approx(m["weights"]["XE"]["total"])
    arrays, config = files.read_model(out)
    for key in ("w_XE", "mask_EE", "state_v", "state_m_XE", "assignments", "readout_coef", "class_rates"):
        assert key in arrays
    assert P.ModelParams.from_dict(config["params"]) == tiny_params(0.2)
    assert "[sleep]" in str(arrays["config_toml"])
    # signs and structure hold in the saved weights
    assert np.all(arrays["w_IE"] <= 0) and np.all(arrays["w_XE"] >= 0)
    assert np.all(arrays["w_EE"][~arrays["mask_EE"]] == 0)
    # eval on the held-out split, from model.npz alone, reproduces the reported accuracies
    ds = _load("digits")
    _, test = split_dataset(ds, N_TRAIN, N_TEST, 0)
    save_npz(test, tmp_path / "test.npz")
    ev = evaluate_run(out, tmp_path / "test.npz")
    assert ev["n_images"] == N_TEST
    assert ev["assignment_accuracy"] == m["assignment_accuracy"]
    assert ev["linear_accuracy"] == m["linear_accuracy"]
    assert ev["phi"] == pytest.approx(m["phi"])
    assert r["linear_accuracy"] == m["linear_accuracy"]


def _final_state(out):
    arrays, _ = files.read_model(out)
    return files.prefixed(arrays, "state_")


def test_interrupted_run_resumes_to_the_identical_result(cache, tmp_path):
    full = tmp_path / "full"
    run_members([_member(cache, full)], _opts())
    part = tmp_path / "part"
    ck = part / files.CHECKPOINT
    calls = []

    def stop(done):
        calls.append(done)
        if len(calls) == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_members([_member(cache, part)], _opts(checkpoint=ck, checkpoint_every=0, on_chunk=stop))
    assert ck.exists() and not (part / files.RESULT).exists()
    prog = files.read_checkpoint(ck, files.checkpoint_key(ck), 1)[1]
    assert prog["done"] == calls[-1] < N_TRAIN
    (r,) = run_members([_member(cache, part)], _opts(checkpoint=ck, resume="require"))
    assert not ck.exists()
    a, b = _final_state(full), _final_state(part)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    fa = json.loads((full / "result.json").read_text())
    assert r["linear_accuracy"] == fa["linear_accuracy"]
    assert r["health"] == fa["health"] and r["episodes"] == fa["episodes"]


def test_checkpoint_of_another_config_is_refused_and_require_needs_one(cache, tmp_path):
    out = tmp_path / "run"
    ck = out / files.CHECKPOINT

    def stop(done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_members([_member(cache, out, 0.2)], _opts(checkpoint=ck, checkpoint_every=0, on_chunk=stop))
    before = ck.read_bytes()
    with pytest.raises(RunError, match="another configuration"):
        run_members([_member(cache, out, 0.1)], _opts(checkpoint=ck))
    assert ck.read_bytes() == before  # nothing lost
    with pytest.raises(RunError, match="no checkpoint"):
        run_members([_member(cache, tmp_path / "other", 0.1)],
                    _opts(checkpoint=tmp_path / "other" / files.CHECKPOINT, resume="require"))


def test_batch_members_equal_single_runs(cache, tmp_path):
    """Batching (fraction, seed) members in one simulator changes nothing (numpy oracle)."""
    ms = [_member(cache, tmp_path / "b0", 0.0, 0), _member(cache, tmp_path / "b1", 0.2, 1)]
    batch = run_members(ms, _opts())
    single = run_members([_member(cache, tmp_path / "s1", 0.2, 1)], _opts())[0]
    assert batch[1]["linear_accuracy"] == single["linear_accuracy"]
    assert batch[1]["health"] == single["health"]
    assert batch[0]["sleep"]["steps_planned"] == 0 and batch[1]["sleep"]["steps_planned"] > 0


def test_torch_backend_matches_numpy_through_the_pipeline(cache, tmp_path):
    a = run_members([_member(cache, None)], _opts())[0]
    b = run_members([_member(cache, None)], dataclasses.replace(_opts(), backend="torch"))[0]
    for k in ("assignment_accuracy", "linear_accuracy"):
        assert a[k] == b[k]
    assert a["sleep"] == b["sleep"]
    assert a["metrics"]["weights"]["XE"]["total"] == pytest.approx(b["metrics"]["weights"]["XE"]["total"],
                                                                   rel=1e-12)


def test_chunk_bounds_keep_the_raster_window_whole():
    b = chunk_bounds(20, 10, (3, 6))
    assert b[0] == 0 and b[-1] == 20 and 3 in b and 6 in b
    assert not any(3 < x < 6 for x in b)
    assert chunk_bounds(5, 50, None) == [0, 1, 2, 3, 4, 5]


# -- sweeps -------------------------------------------------------------------------------------
def _sweep_cfg(seeds=(0,), fractions=(0.0, 0.2), params=None):
    return SweepConfig(datasets=["digits"], fractions=list(fractions), seeds=list(seeds), models=["stdp"],
                       params=params or tiny_params(0.0), n_train=N_TRAIN, n_test=N_TEST,
                       backend="numpy", batch=2, progress=False)


def test_sweep_resumes_skips_finished_runs_and_ignores_partial_lines(tmp_path):
    sw = tmp_path / "sweep"
    logs = []
    run_sweep(sw, _sweep_cfg(), plots=False, log=logs.append)
    lines = read_jsonl(sw / RUNS)
    assert len(lines) == 2 and {x["fraction"] for x in lines} == {0.0, 0.2}
    model = sw / lines[0]["run_dir"] / "model.npz"
    mtime = model.stat().st_mtime_ns
    # an interrupted append leaves a partial last line: it is ignored
    with open(sw / RUNS, "a") as fh:
        fh.write('{"dataset": "digits", "model": "stdp", "fra')
    logs.clear()
    run_sweep(sw, _sweep_cfg(seeds=(0, 1)), plots=False, log=logs.append)  # extend by seed 1
    assert "2 runs recorded, 2 to run" in logs[0]
    lines = read_jsonl(sw / RUNS)
    assert sorted((x["seed"], x["fraction"]) for x in lines) == [(0, 0.0), (0, 0.2), (1, 0.0), (1, 0.2)]
    assert model.stat().st_mtime_ns == mtime  # finished runs were not re-run
    # a run whose result is complete but whose line is missing is recorded without re-running
    text = (sw / RUNS).read_text().splitlines()
    kept = [t for t in text if '"seed": 1' not in t or '"fraction": 0.2' not in t]
    (sw / RUNS).write_text("\n".join(kept) + "\n")
    logs.clear()
    run_sweep(sw, _sweep_cfg(seeds=(0, 1)), plots=False, log=logs.append)
    assert "1 to run" in logs[0] and len(logs) == 1  # no training log line
    assert len(read_jsonl(sw / RUNS)) == 4
    summary = json.loads((sw / "summary.json").read_text())
    assert summary["runs"] == 4 and all(c["n"] == 2 for c in summary["cells"])


def test_sweep_killed_mid_batch_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    import lava_sleep.sweep as sweep_mod

    clean = tmp_path / "clean"
    run_sweep(clean, _sweep_cfg(), plots=False, log=lambda m: None)
    real = sweep_mod.run_members

    def killed(members, opts):
        def stop(done):
            if done >= N_TRAIN // 2:
                raise KeyboardInterrupt
        return real(members, dataclasses.replace(opts, checkpoint_every=0, on_chunk=stop))

    sw = tmp_path / "killed"
    monkeypatch.setattr(sweep_mod, "run_members", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sw, _sweep_cfg(), plots=False, log=lambda m: None)
    assert read_jsonl(sw / RUNS) == []
    assert len(list((sw / "checkpoints").glob("*.npz"))) == 1
    monkeypatch.setattr(sweep_mod, "run_members", real)
    run_sweep(sw, _sweep_cfg(), plots=False, log=lambda m: None)
    assert not (sw / "checkpoints").exists()  # used and removed
    a = {(x["fraction"], x["seed"]): x for x in read_jsonl(clean / RUNS)}
    b = {(x["fraction"], x["seed"]): x for x in read_jsonl(sw / RUNS)}
    assert a.keys() == b.keys()
    for k in a:
        for metric in ("linear_accuracy", "assignment_accuracy", "phi", "sleep_steps_used"):
            assert a[k][metric] == b[k][metric]
        ra = json.loads((clean / a[k]["run_dir"] / "result.json").read_text())
        rb = json.loads((sw / b[k]["run_dir"] / "result.json").read_text())
        assert ra["health"] == rb["health"]


def test_sweep_refuses_a_folder_of_another_configuration(tmp_path):
    sw = tmp_path / "sweep"
    run_sweep(sw, _sweep_cfg(fractions=(0.0,)), plots=False, log=lambda m: None)
    before = (sw / RUNS).read_bytes()
    base = tiny_params(0.0)
    other = dataclasses.replace(base, input=dataclasses.replace(base.input, max_rate_hz=100.0))
    with pytest.raises(RunError, match="another configuration"):
        run_sweep(sw, _sweep_cfg(params=other), plots=False, log=lambda m: None)
    assert (sw / RUNS).read_bytes() == before


def test_summary_statistics_match_scipy(tmp_path):
    from scipy import stats

    acc = {0.0: [0.61, 0.70, 0.64, 0.58], 0.1: [0.72, 0.69, 0.75, 0.81]}
    lines = [{"dataset": "d", "model": "stdp", "fraction": f, "seed": s, "accuracy": a, "phi": None}
             for f, v in acc.items() for s, a in enumerate(v)]
    lines.append({"dataset": "d", "model": "sg", "fraction": 0.0, "seed": 0, "accuracy": 0.9})
    rows = {(r["model"], r["fraction"]): r for r in summarize(lines)}
    for f, v in acc.items():
        st = rows[("stdp", f)]["accuracy"]
        lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
        assert st["n"] == 4
        assert st["mean"] == pytest.approx(np.mean(v))
        assert st["sd"] == pytest.approx(np.std(v, ddof=1))
        assert st["lo"] == pytest.approx(lo) and st["hi"] == pytest.approx(hi)
        assert "phi" not in rows[("stdp", f)]  # all None: no statistic
    single = rows[("sg", 0.0)]["accuracy"]
    assert single["n"] == 1 and single["sd"] is None and single["ci95"] is None
    # duplicate lines of one run count once (the last one)
    dup = summarize(lines + [dict(lines[0], accuracy=0.99)])
    st = next(r for r in dup if r["model"] == "stdp" and r["fraction"] == 0.0)["accuracy"]
    assert st["n"] == 4 and st["mean"] == pytest.approx(np.mean([0.99, 0.70, 0.64, 0.58]))
    # written files
    from lava_sleep.io import append_jsonl

    for x in lines:
        append_jsonl(tmp_path / RUNS, x)
    s = write_summary(tmp_path)
    assert s["runs"] == len(lines)
    md = (tmp_path / "summary.md").read_text()
    assert "| stdp | d | 10 | 4 |" in md and math.isfinite(rows[("stdp", 0.1)]["accuracy"]["ci95"])
