"""Sweep executors: the local executor, Ray (a local Ray, started once for the module), equal
results under both, a worker killed mid-task, a task that always fails, and the one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import TINY_TOML
from cli_helpers import run_main as _main

from lava_sleep import cli, executors
from lava_sleep.io import read_jsonl
from lava_sleep.sweep import FAILED, FAULT_ENV, RUNS, line_id

#: Fields of a runs.jsonl line that may differ between two runs of the same sweep.
TIMING = {"train_s"}
#: ... and of result.json (timings; "seconds" per SG epoch in "history").
RESULT_TIMING = {"timings", "seconds"}


def _untimed(obj):
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if k not in RESULT_TIMING}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


@pytest.fixture(scope="module")
def tiny_toml(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


def _argv(out, toml, mode="float", executor="local", model="stdp", extra=()):
    """2 fractions x 2 seeds of a tiny network on the torch engine, batches of 2: two tasks
    (SG: four tasks, one run each)."""
    return ["sweep", "--datasets", "digits", "--fractions", "0,0.2", "--seeds", "0,1", "--n-train", "40",
            "--n-test", "20", "--preset", "quick", "--config", str(toml), "--backend", "torch",
            "--mode", mode, "--model", model, "--batch", "2", "--no-progress", "--no-plots",
            "--out", str(out), "--executor", executor, *extra]




def _rows(sweep) -> dict:
    """runs.jsonl as {run id: line without timing}; every run must be there exactly once."""
    rows = {}
    for x in read_jsonl(sweep / RUNS):
        assert line_id(x) not in rows, f"run {line_id(x)} recorded twice"
        rows[line_id(x)] = {k: v for k, v in x.items() if k not in TIMING}
    return rows


def _assert_same_sweep(a, b):
    ra, rb = _rows(a), _rows(b)
    assert ra == rb
    for line in ra.values():  # the run folders too: result.json but timings, every array (npz)
        da, db = a / line["run_dir"], b / line["run_dir"]
        assert sorted(p.name for p in da.iterdir()) == sorted(p.name for p in db.iterdir())
        res_a, res_b = (_untimed(json.loads((d / "result.json").read_text())) for d in (da, db))
        assert res_a == res_b
        for npz in da.glob("*.npz"):
            with np.load(npz) as xa, np.load(db / npz.name) as xb:
                assert sorted(xa.files) == sorted(xb.files)
                for k in xa.files:
                    np.testing.assert_array_equal(xa[k], xb[k], err_msg=f"{npz.name}:{k}")


# -- without Ray ------------------------------------------------------------------------------
def test_local_executor_reports_failures_and_goes_on_but_stops_on_interrupt():
    def fn(x):
        if x == 1:
            raise ValueError("bad task\nsecond line")
        if x == 3:
            raise KeyboardInterrupt
        return 10 * x

    ex = executors.make_executor("local")
    got = []
    with pytest.raises(KeyboardInterrupt):
        for out in ex.run(fn, [0, 1, 2, 3, 4]):
            got.append(out)
    assert [(o.index, o.ok, o.value, o.error) for o in got] == [
        (0, True, 0, None), (1, False, None, "ValueError: bad task"), (2, True, 20, None)]
    assert "Traceback" in got[1].details


def test_executor_options_are_one_line_exit_2(capsys, tmp_path, tiny_toml, monkeypatch):
    out = tmp_path / "sw"
    cases = {
        "unknown executor": _argv(out, tiny_toml, executor="dask"),
        "ray flag with local": _argv(out, tiny_toml, extra=["--cpus-per-task", "2"]),
        "cuda without gpus": _argv(out, tiny_toml, executor="ray", extra=["--device", "cuda"]),
        "gpus without cuda": _argv(out, tiny_toml, executor="ray", extra=["--gpus-per-task", "1"]),
        "cuda:1 under ray": _argv(out, tiny_toml, executor="ray",
                                  extra=["--device", "cuda:1", "--gpus-per-task", "1"]),
        "negative retries": _argv(out, tiny_toml, executor="ray", extra=["--max-retries", "-1"]),
        "no cluster there": _argv(out, tiny_toml, executor="ray", extra=["--address", "127.0.0.1:1"]),
    }
    for name, argv in cases.items():
        rc, _, err = _main(capsys, argv)
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("lava-sleep sweep: error:"), \
            f"{name}: {rc} {err!r}"
    # without Ray installed: one line saying what to install
    monkeypatch.setattr(executors, "ray_available", lambda: False)
    rc, _, err = _main(capsys, _argv(out, tiny_toml, executor="ray"))
    assert rc == 2 and err.strip() == ("lava-sleep sweep: error: --executor ray needs Ray, which is not "
                                       "installed here: pip install 'lava-sleep[ray]'")
    assert not out.exists()


# -- with a local Ray -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_local():
    """A local Ray with 2 CPUs for the module (the sweeps find it initialised and leave it up)."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=256 * 2**20)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_sweeps(tmp_path_factory, tiny_toml):
    """The sweep run once per mode and model with the local executor (the reference of the Ray
    tests)."""
    done = {}

    def get(mode, model="stdp"):
        if (mode, model) not in done:
            out = tmp_path_factory.mktemp(f"local-{mode}-{model}") / "sweep"
            assert cli.main(_argv(out, tiny_toml, mode, model=model)) == 0
            done[mode, model] = out
        return done[mode, model]

    return get


@pytest.mark.ray
@pytest.mark.parametrize("mode,model", [("float", "stdp"), ("fixed", "stdp"), ("float", "sg")])
def test_ray_and_local_sweeps_are_identical(ray_local, local_sweeps, tmp_path, tiny_toml, capsys, mode,
                                            model):
    ref = local_sweeps(mode, model)
    rc, out, err = _main(capsys, _argv(tmp_path / "sweep", tiny_toml, mode, "ray", model))
    assert rc == 0, err
    assert f"| {model} | digits | 20 | 2 |" in out  # the summary table
    assert len(_rows(ref)) == 4
    _assert_same_sweep(ref, tmp_path / "sweep")
    assert not (tmp_path / "sweep" / FAILED).exists()
    assert not (tmp_path / "sweep" / "checkpoints").exists()


@pytest.mark.ray
def test_worker_killed_mid_task_is_retried_and_every_run_recorded_once(ray_local, local_sweeps, tmp_path,
                                                                       tiny_toml, capsys, monkeypatch):
    marker = tmp_path / "first-attempt"
    monkeypatch.setenv(FAULT_ENV, f"exit-once:{marker}")  # reaches the tasks (LAVA_SLEEP_*)
    rc, _, err = _main(capsys, _argv(tmp_path / "sweep", tiny_toml, "float", "ray"))
    assert rc == 0, err
    assert marker.exists()  # a worker did die (os._exit in its task) ...
    assert not (tmp_path / "sweep" / FAILED).exists()  # ... and its task was run again
    _assert_same_sweep(local_sweeps("float"), tmp_path / "sweep")


@pytest.mark.ray
def test_a_task_that_always_fails_is_recorded_and_the_rest_completes(ray_local, local_sweeps, tmp_path,
                                                                     tiny_toml, capsys, monkeypatch):
    sw = tmp_path / "sweep"
    monkeypatch.setenv(FAULT_ENV, "raise:runs/digits/stdp/f0.2_s1")  # the task of seed 1
    rc, out, err = _main(capsys, _argv(sw, tiny_toml, "float", "ray"))
    assert rc == 1
    assert "2 run(s) failed, first: RuntimeError: test fault" in err and str(sw / FAILED) in err
    assert sorted(k[3] for k in _rows(sw)) == [0, 0]  # seed 0 complete
    failed = read_jsonl(sw / FAILED)
    assert sorted((x["seed"], x["fraction"]) for x in failed) == [(1, 0.0), (1, 0.2)]
    assert all(x["error"].startswith("RuntimeError: test fault") and x["executor"] == "ray" for x in failed)
    summary = json.loads((sw / "summary.json").read_text())
    assert summary["runs"] == 2  # failed runs are not in the summary
    # the same command again (here locally, the fault gone) runs only the failed runs
    monkeypatch.delenv(FAULT_ENV)
    rc, out, err = _main(capsys, _argv(sw, tiny_toml, "float", "local"))
    assert rc == 0, err
    _assert_same_sweep(local_sweeps("float"), sw)


def test_task_checkpoints_go_to_the_sweep_folder_only_where_the_task_sees_it(tmp_path):
    import tempfile

    from lava_sleep.sweep import SWEEP, SweepTask, _task_checkpoint

    task = SweepTask("stdp", [], str(tmp_path / "sweep"), "abc", "abc-1", checkpoint="batch-x.npz")
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / SWEEP).write_text(json.dumps({"hash": "abc"}))
    assert _task_checkpoint(task) == tmp_path / "sweep" / "checkpoints" / "batch-x.npz"
    (tmp_path / "sweep" / SWEEP).write_text(json.dumps({"hash": "another sweep at the same path"}))
    elsewhere = _task_checkpoint(task)  # another machine: its own temp folder, keyed by the sweep
    assert elsewhere.is_relative_to(tempfile.gettempdir()) and "abc" in elsewhere.parts
    assert elsewhere.name == "batch-x.npz"


@pytest.mark.ray
def test_a_worker_that_always_dies_fails_after_its_retries(ray_local):
    def die(code):  # nested: pickled by value, so the workers need not import this module
        import os

        os._exit(code)

    ex = executors.RayExecutor(max_retries=1)
    (out,) = list(ex.run(die, [1]))  # the task's process ends in every attempt
    assert not out.ok and out.error.endswith("(after 1 retries)") and "Worker" in out.error
    ex.close()
    assert ray_local.is_initialized()  # a Ray the executor did not start is left running
