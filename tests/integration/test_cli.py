"""The command line end to end on tiny configs: train -> eval -> plot, sweep, demo, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np
import pytest
from cli_helpers import TINY_TOML
from cli_helpers import run_main as _main

from lava_sleep import params as P
from lava_sleep.data import Dataset, load_dataset, resize_images, save_npz, split_dataset
from lava_sleep.params import load_toml

TINY = ["--dataset", "digits", "--n-train", "40", "--n-test", "20", "--preset", "quick", "--backend", "numpy",
        "--no-progress"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tiny_toml(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML)
    return path




def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_train_eval_plot_end_to_end(capsys, tmp_path, tiny_toml):
    run = tmp_path / "run"
    rc, out, err = _main(capsys, ["train", *TINY, "--config", tiny_toml, "--sleep-fraction", "0.25",
                                  "--seed", "3", "--out", run])
    assert rc == 0, err
    assert "linear accuracy" in out
    res = json.loads((run / "result.json").read_text())
    assert res["sleep_fraction"] == 0.25 and res["config"]["sleep"]["fraction"] == 0.25  # the flag is used
    assert res["seed"] == 3 and res["backend"] == "numpy"
    assert res["sleep"]["share_planned"] == pytest.approx(0.25, abs=0.02)
    # a fresh .npz of held-out digits, stored at another size (12x12): resampled to the model's 6x6
    _, test = split_dataset(load_dataset("digits"), 40, 20, 3)
    fresh = Dataset(resize_images(test.images, 12), test.labels, "fresh", test.classes)
    save_npz(fresh, tmp_path / "fresh.npz")
    rc, out, err = _main(capsys, ["eval", run, "--data", tmp_path / "fresh.npz"])
    assert rc == 0, err
    ev = json.loads(out)
    assert ev["n_images"] == 20
    assert 0.0 <= ev["assignment_accuracy"] <= 1.0 and 0.0 <= ev["linear_accuracy"] <= 1.0
    # the same images at the model's size reproduce the run's own held-out numbers
    save_npz(test, tmp_path / "same.npz")
    ev = json.loads(_main(capsys, ["eval", run, "--data", tmp_path / "same.npz"])[1])
    assert ev["linear_accuracy"] == res["linear_accuracy"]
    assert ev["assignment_accuracy"] == res["assignment_accuracy"]
    rc, out, err = _main(capsys, ["plot", run])
    assert rc == 0, err
    names = {p.split("/")[-1] for p in out.split()}
    assert names == {"health.png", "weights_hist.png", "receptive_fields.png", "raster.png"}
    for p in out.split():
        with open(p, "rb") as fh:
            assert fh.read(8) == PNG
    # running the same command again finds the finished run and keeps it
    before = (run / "result.json").read_bytes()
    rc, out, _ = _main(capsys, ["train", *TINY, "--config", tiny_toml, "--sleep-fraction", "0.25",
                                "--seed", "3", "--out", run])
    assert rc == 0 and "already holds" in out
    assert (run / "result.json").read_bytes() == before


def test_sweep_cli_writes_lines_summary_and_plots(capsys, tmp_path, tiny_toml):
    sw = tmp_path / "sw"
    argv = ["sweep", "--datasets", "digits", "--fractions", "0,0.2", "--seeds", "0", "--n-train", "30",
            "--n-test", "20", "--preset", "quick", "--config", tiny_toml, "--backend", "numpy",
            "--batch", "2", "--no-progress", "--out", sw]
    rc, out, err = _main(capsys, argv)
    assert rc == 0, err
    assert "| stdp | digits | 20 | 1 |" in out
    lines = [json.loads(x) for x in (sw / "runs.jsonl").read_text().splitlines()]
    assert [(x["model"], x["fraction"]) for x in lines] == [("stdp", 0.0), ("stdp", 0.2)]
    assert (sw / "plots" / "accuracy_vs_sleep.png").read_bytes()[:8] == PNG
    rc, out, err = _main(capsys, argv)  # resumed: nothing left to run
    assert rc == 0 and "2 runs recorded, 0 to run" in out
    assert len((sw / "runs.jsonl").read_text().splitlines()) == 2
    rc, out, err = _main(capsys, ["plot", sw])
    assert rc == 0
    names = [line.rsplit("/", 1)[-1] for line in out.split()]
    assert names == ["accuracy_vs_sleep.png", "generalization.png", "energy.png"]


def test_sg_model_through_train_sweep_and_eval(capsys, tmp_path, tiny_toml):
    run = tmp_path / "sg"
    rc, out, err = _main(capsys, ["train", *TINY, "--config", tiny_toml, "--model", "sg", "--out", run])
    assert rc == 0, err
    res = json.loads((run / "result.json").read_text())
    assert res["model"] == "sg" and 0.0 <= res["accuracy"] <= 1.0
    _, test = split_dataset(load_dataset("digits"), 40, 20, 0)
    save_npz(test, tmp_path / "t.npz")
    ev = json.loads(_main(capsys, ["eval", run, "--data", tmp_path / "t.npz"])[1])
    assert ev["n_images"] == 20 and ev["accuracy"] == pytest.approx(res["accuracy"])
    sw = tmp_path / "sw"
    rc, out, err = _main(capsys, ["sweep", "--datasets", "digits", "--fractions", "0", "--seeds", "0",
                                  "--model", "stdp,sg", "--n-train", "30", "--n-test", "20",
                                  "--preset", "quick", "--config", tiny_toml, "--backend", "numpy",
                                  "--no-progress", "--no-plots", "--out", sw])
    assert rc == 0, err
    cells = json.loads((sw / "summary.json").read_text())["cells"]
    assert sorted(c["model"] for c in cells) == ["sg", "stdp"]


def test_demo_small(capsys, tmp_path):
    out_dir = tmp_path / "demo"
    rc, out, err = _main(capsys, ["demo", "--n-train", "30", "--n-test", "20", "--no-progress", "--backend",
                                  "torch", "--out", out_dir])
    assert rc == 0, err
    assert "| no_sleep | 0 |" in out and "| sleep_15 | 15 |" in out
    assert "| baseline: raw pixels (logistic) |" in out and "| baseline: untrained network |" in out
    comp = json.loads((out_dir / "comparison.json").read_text())
    # the two baselines of the shared split and seed come first, then the two networks
    assert [r["sleep_fraction"] for r in comp["rows"]] == [None, None, 0.0, 0.15]
    no_sleep = json.loads((out_dir / "no_sleep" / "result.json").read_text())
    assert comp["rows"][0]["linear_accuracy"] == no_sleep["metrics"]["baselines"]["pixels_linear_accuracy"]
    assert comp["rows"][1]["linear_accuracy"] == no_sleep["metrics"]["baselines"]["untrained_linear_accuracy"]
    assert comp["rows"][2]["sleep_steps_used"] == 0 and comp["rows"][3]["sleep_steps_planned"] > 0
    energy = [r["energy_uj_per_image"]["sleep"] for r in comp["rows"][2:]]
    assert energy[0] == 0 and energy[1] > 0
    for name in ("accuracy_vs_sleep.png", "health.png", "weights_final_hist.png", "generalization.png",
                 "energy.png"):
        assert (out_dir / "plots" / name).read_bytes()[:8] == PNG
    assert (out_dir / "sleep_15" / "plots" / "raster.png").exists()
    # one model: the demo runs the paper preset unchanged (no demo-specific parameters)
    assert load_toml(out_dir / "demo_config.toml") == P.paper()
    res = json.loads((out_dir / "sleep_15" / "result.json").read_text())
    assert res["config"]["input"]["max_rate_hz"] == P.paper().input.max_rate_hz
    assert res["config"]["neuron"]["sigma_wake"] == P.paper().neuron.sigma_wake


def test_demo_falls_back_to_reduced_paper_preset_without_compiled_kernel(capsys, tmp_path, monkeypatch):
    """--backend auto without the compiled kernel: NumPy backend, paper preset with shorter timing only."""
    from lava_sleep.commands import demo

    monkeypatch.setattr(demo, "native_engine_available", lambda: False)
    out_dir = tmp_path / "demo"
    rc, out, err = _main(capsys, ["demo", "--n-train", "10", "--n-test", "10", "--no-progress", "--no-plots",
                                  "--out", out_dir])
    assert rc == 0, err
    assert "reduced demo on the numpy backend" in out
    comp = json.loads((out_dir / "comparison.json").read_text())
    assert comp["backend"] == "numpy"
    used = load_toml(out_dir / "demo_config.toml")
    paper = P.paper()
    assert used.input.steps_per_image == 150 and used.sleep.period == 1500
    # everything else is the paper's: restoring the two timing values gives the paper preset back
    restored = dataclasses.replace(used, input=dataclasses.replace(used.input, steps_per_image=350),
                                   sleep=dataclasses.replace(used.sleep, period=3500))
    assert restored == paper
    assert (paper.input.steps_per_image, paper.sleep.period) == (350, 3500)


# -- bad input: exit 2, one line on stderr, no traceback, nothing written ----------------------------
def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _bad_inputs(tmp, toml):
    garbage = _write(tmp / "garbage.npz", b"PK\x03\x04 this is not a zip archive")
    floats = tmp / "floats.npz"
    np.savez(floats, images=np.zeros((4, 6, 6), dtype=np.float32), labels=np.zeros(4, dtype=np.int64))
    short = tmp / "short.npz"
    np.savez(short, images=np.zeros((4, 6, 6), dtype=np.uint8), labels=np.zeros(3, dtype=np.int64))
    badcfg = tmp / "bad.toml"
    badcfg.write_text("[neuron]\ntau_m = -5.0\n")
    notoml = tmp / "broken.toml"
    notoml.write_text("[neuron\n")
    unknown = tmp / "unknown.toml"
    unknown.write_text("[nuron]\ntau_m = 5.0\n")
    out = tmp / "out"
    common = ["train", "--n-train", "40", "--n-test", "20", "--preset", "quick", "--no-progress",
              "--out", out]
    base = [*common, "--backend", "numpy"]
    return {
        "unknown dataset": [*base, "--dataset", "no-such-set"],
        "missing folder": [*base, "--dataset", tmp / "no" / "such" / "folder"],
        "corrupted file": [*base, "--dataset", garbage],
        "wrong dtype": [*base, "--dataset", floats],
        "wrong shapes": [*base, "--dataset", short],
        "fraction out of range": [*base, "--dataset", "digits", "--sleep-fraction", "1.5"],
        "impossible parameter": [*base, "--dataset", "digits", "--config", badcfg],
        "broken toml": [*base, "--dataset", "digits", "--config", notoml],
        "unknown section": [*base, "--dataset", "digits", "--config", unknown],
        "missing config": [*base, "--dataset", "digits", "--config", tmp / "none.toml"],
        "unknown backend": [*common, "--backend", "warp-drive", "--dataset", "digits"],
        "unknown preset": [*base, "--dataset", "digits", "--preset", "huge"],
        "unknown model": [*base, "--dataset", "digits", "--model", "transformer"],
        "too many images": [*base, "--dataset", "digits", "--n-train", "5000"],
        "zero images": [*base, "--dataset", "digits", "--n-test", "0"],
        "negative seed": [*base, "--dataset", "digits", "--seed", "-1"],
        "cuda on numpy": [*base, "--dataset", "digits", "--device", "cuda"],
        "bad epochs": [*base, "--dataset", "digits", "--epochs", "0"],
        "eval missing run": ["eval", tmp / "no-run", "--data", floats],
        "eval run without model": ["eval", tmp, "--data", floats],
        "plot empty folder": ["plot", tmp / "empty"],
        "plot missing folder": ["plot", tmp / "nowhere"],
        "sweep bad list": ["sweep", "--datasets", "digits", "--fractions", "0,abc", "--out", out],
        "sweep bad fraction": ["sweep", "--datasets", "digits", "--fractions", "0,0.99", "--backend", "numpy",
                               "--out", out],
        "sweep unknown dataset": ["sweep", "--datasets", "digits,nope", "--backend", "numpy", "--out", out],
        "sweep bad batch": ["sweep", "--datasets", "digits", "--batch", "0", "--out", out],
        "demo bad fraction": ["demo", "--fraction", "0", "--out", out],
    }


def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, tiny_toml):
    (tmp_path / "empty").mkdir()
    cases = _bad_inputs(tmp_path, tiny_toml)
    before = _files(tmp_path)
    for name, argv in cases.items():
        rc, out, err = _main(capsys, argv)
        lines = err.strip().splitlines()
        assert rc == 2, f"{name}: rc {rc}, stderr {err!r}"
        assert len(lines) == 1, f"{name}: {err!r}"
        assert lines[0].startswith("lava-sleep"), f"{name}: {err!r}"
        assert "Traceback" not in err
        assert _files(tmp_path) == before, f"{name} wrote files"


def test_bad_model_files_and_eval_data(capsys, tmp_path, tiny_toml):
    run = tmp_path / "run"
    assert _main(capsys, ["train", *TINY, "--config", tiny_toml, "--out", run])[0] == 0
    good = (run / "result.json").read_bytes()
    labels_big = tmp_path / "big_labels.npz"
    np.savez(labels_big, images=np.zeros((3, 8, 8), dtype=np.uint8), labels=np.array([0, 1, 12]))
    garbage = _write(tmp_path / "garbage.npz", b"not an npz at all")
    cases = {
        "labels beyond the model's classes": ["eval", run, "--data", labels_big],
        "corrupted data": ["eval", run, "--data", garbage],
        "missing data": ["eval", run, "--data", tmp_path / "missing.npz"],
        "another config into a finished run": ["train", *TINY, "--config", tiny_toml,
                                               "--sleep-fraction", "0.1", "--out", run],
        "resume without checkpoint": ["train", *TINY, "--config", tiny_toml, "--sleep-fraction", "0.1",
                                      "--resume", "--force", "--out", tmp_path / "fresh"],
    }
    for name, argv in cases.items():
        rc, _, err = _main(capsys, argv)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, f"{name}: {err!r}"
    assert (run / "result.json").read_bytes() == good  # nothing already written is lost
    assert not (tmp_path / "fresh").exists()
    # a corrupted model file is reported, not a traceback
    (run / "model.npz").write_bytes(b"PK\x03\x04 broken")
    _, test = split_dataset(load_dataset("digits"), 40, 20, 0)
    save_npz(test, tmp_path / "t.npz")
    rc, _, err = _main(capsys, ["eval", run, "--data", tmp_path / "t.npz"])
    assert rc == 2 and "corrupted model file" in err and len(err.strip().splitlines()) == 1


def test_model_sg_without_the_sg_package_is_one_line(capsys, tmp_path, tiny_toml, monkeypatch):
    monkeypatch.setitem(sys.modules, "lava_sleep.sg", None)  # import now raises ImportError
    argv = ["train", *TINY, "--config", tiny_toml, "--model", "sg", "--out", tmp_path / "x"]
    rc, _, err = _main(capsys, argv)
    assert rc == 2 and "lava_sleep.sg" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


# -- unusable --out, incomplete model files, corrupt checkpoints, stray labels, corrupt .npz ---------
def _one_line_exit_2(capsys, argv, name=""):
    """The error line of a command that must fail with exit 2 and exactly one stderr line."""
    rc, _, err = _main(capsys, argv)
    lines = err.strip().splitlines()
    assert rc == 2, f"{name}: rc {rc}, stderr {err!r}"
    assert len(lines) == 1 and lines[0].startswith("lava-sleep"), f"{name}: {err!r}"
    assert "Traceback" not in err, f"{name}: {err!r}"
    return lines[0]


def _out_commands(out, toml):
    return {"train": ["train", *TINY, "--config", toml, "--out", out],
            "sweep": ["sweep", "--datasets", "digits", "--fractions", "0", "--seeds", "0", "--n-train", "30",
                      "--n-test", "20", "--preset", "quick", "--config", toml, "--backend", "numpy",
                      "--no-progress", "--no-plots", "--out", out],
            "demo": ["demo", "--n-train", "10", "--n-test", "10", "--backend", "numpy", "--no-progress",
                     "--no-plots", "--out", out]}


def _forbid_data_loading(monkeypatch):
    from lava_sleep.experiment.data import DataCache

    def fail(*args, **kwargs):
        raise AssertionError("data loaded before --out was checked")

    monkeypatch.setattr(DataCache, "dataset", fail)
    monkeypatch.setattr(DataCache, "run_data", fail)


def test_unusable_out_is_one_line_before_any_data(capsys, tmp_path, tiny_toml, monkeypatch):
    """An --out that is a file or lies under a file fails for train, sweep and demo before any data
    is loaded; a path under a regular file cannot be created even by root (the CI user)."""
    _forbid_data_loading(monkeypatch)
    afile = tmp_path / "file.txt"
    afile.write_text("keep me\n")
    outs = {"an existing file": afile, "a folder under a file": afile / "sub",
            "a deeper folder under a file": afile / "a" / "b"}
    before = _files(tmp_path)
    for what, out in outs.items():
        for cmd, argv in _out_commands(out, tiny_toml).items():
            line = _one_line_exit_2(capsys, argv, f"{cmd} --out {what}")
            assert str(out) in line and cmd in line
    assert _files(tmp_path) == before and afile.read_text() == "keep me\n"


def test_out_folder_that_refuses_files_is_one_line(capsys, tmp_path, tiny_toml, monkeypatch):
    """Writability is tested by really creating a file (root ignores permission bits): a folder that
    refuses it is one line; the probe leaves nothing behind, also in folders it had to create."""
    import tempfile

    from lava_sleep.experiment.files import check_out_dir

    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "old.txt").write_text("old")
    check_out_dir(kept)
    check_out_dir(tmp_path / "new" / "deeper")
    assert _files(tmp_path) == ["kept", "kept/old.txt", "tiny.toml"]  # the probe left nothing behind
    _forbid_data_loading(monkeypatch)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    for out in (kept, tmp_path / "new" / "deeper"):
        for cmd, argv in _out_commands(out, tiny_toml).items():
            line = _one_line_exit_2(capsys, argv, f"{cmd} --out {out}")
            assert "not writable" in line and "Permission denied" in line
    assert _files(tmp_path) == ["kept", "kept/old.txt", "tiny.toml"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders; the root-proof cases are "
                           "test_unusable_out_is_one_line_before_any_data (a path under a file) and "
                           "test_out_folder_that_refuses_files_is_one_line")
def test_read_only_out_folder_is_one_line(capsys, tmp_path, tiny_toml, monkeypatch):
    _forbid_data_loading(monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        for out in (ro, ro / "run"):
            for cmd, argv in _out_commands(out, tiny_toml).items():
                assert "not writable" in _one_line_exit_2(capsys, argv, f"{cmd} --out {out}")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def _rewrite_npz(path, drop=(), **replace):
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files if k not in drop}
    d.update({k: np.array(v) for k, v in replace.items()})
    np.savez(path, **d)


@pytest.fixture
def tiny_run(capsys, tmp_path, tiny_toml):
    run = tmp_path / "run"
    rc, _, err = _main(capsys, ["train", *TINY, "--config", tiny_toml, "--out", run])
    assert rc == 0, err
    _, test = split_dataset(load_dataset("digits"), 40, 20, 0)
    save_npz(test, tmp_path / "t.npz")
    return run, tmp_path / "t.npz"


def test_model_file_missing_keys_is_one_line_naming_them(capsys, tmp_path, tiny_run):
    import shutil

    run, data = tiny_run
    with np.load(run / "model.npz") as z:
        config = json.loads(str(z["config_json"]))
        state_keys = [k for k in z.files if k.startswith("state_")]
    assert {"state_u", "state_m_XE", "state_mask_EE"} <= set(state_keys)

    def without(key):
        return json.dumps({k: v for k, v in config.items() if k != key})

    cases = {  # name: (arrays to drop, replaced arrays, words the line must hold)
        "assignments": (["assignments"], {}, ["assignments"]),
        "readout_coef": (["readout_coef"], {}, ["readout_coef"]),
        "one state array": (["state_u"], {}, ["state_u"]),
        "all state arrays": (state_keys, {}, ["state_u", "state_v", "state_m_XE", "state_mask_IE"]),
        "image_size": ([], {"config_json": without("image_size")}, ["image_size"]),
        "n_classes": ([], {"config_json": without("n_classes")}, ["n_classes"]),
        "seed": ([], {"config_json": without("seed")}, ["seed"]),
        "params": ([], {"config_json": without("params")}, ["params"]),
        "arrays and fields": (["assignments"], {"config_json": without("seed")}, ["assignments", "seed"]),
        "config not an object": ([], {"config_json": "[1, 2]"}, ["config_json"]),
        "image_size not an integer": ([], {"config_json": json.dumps({**config, "image_size": "six"})},
                                      ["image_size"]),
    }
    for i, (name, (drop, replace, words)) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}"
        shutil.copytree(run, bad)
        _rewrite_npz(bad / "model.npz", drop, **replace)
        before = {p: p.read_bytes() for p in bad.iterdir()}
        line = _one_line_exit_2(capsys, ["eval", bad, "--data", data], name)
        assert all(w in line for w in words), f"{name}: {line!r}"
        assert {p: p.read_bytes() for p in bad.iterdir()} == before, f"{name}: files changed"
    rc, out, err = _main(capsys, ["eval", run, "--data", data])  # the intact run still evaluates
    assert rc == 0 and json.loads(out)["n_images"] == 20, err


def test_corrupt_checkpoint_is_one_line_and_left_in_place(capsys, tmp_path, tiny_toml, monkeypatch):
    from lava_sleep.experiment import stdp

    run = tmp_path / "run"
    argv = ["train", *TINY, "--config", tiny_toml, "--out", run]
    real = stdp.run_members

    def interrupted(members, opts):
        def stop(done):
            raise KeyboardInterrupt

        return real(members, dataclasses.replace(opts, checkpoint_every=0, on_chunk=stop))

    monkeypatch.setattr(stdp, "run_members", interrupted)
    assert _main(capsys, argv)[0] == 130  # interrupted after the first chunk, checkpoint written
    monkeypatch.undo()
    ck = run / "checkpoint.npz"
    good = ck.read_bytes()
    with np.load(ck) as z:
        prog = json.loads(str(z["progress_json"]))
        member_keys = [k for k in z.files if k.startswith("b0_")]
    assert "b0_x_X" in member_keys  # a trace: which traces exist depends on the parameters
    cases = {  # name: (arrays to drop, replaced arrays, words the line must hold)
        "progress not JSON": ([], {"progress_json": "{not json"}, ["progress_json", "JSON"]),
        "progress lacks done": ([], {"progress_json": json.dumps({k: v for k, v in prog.items()
                                                                  if k != "done"})}, ["done"]),
        "progress not an object": ([], {"progress_json": "[]"}, ["progress_json"]),
        "progress of another batch size": ([], {"progress_json": json.dumps({**prog, "steps": [0, 0]})},
                                           ["steps"]),
        "no key": (["key"], {}, ["key"]),
        "no progress": (["progress_json"], {}, ["progress_json"]),
        "no member state": (member_keys, {}, ["member"]),
        "member lacks u": (["b0_u"], {}, ["lacks state arrays u"]),
        "member lacks a trace": (["b0_x_X"], {}, ["x_X"]),
        "not a checkpoint": (["format"], {}, ["not a lava-sleep checkpoint"]),
    }
    for name, (drop, replace, words) in cases.items():
        ck.write_bytes(good)
        _rewrite_npz(ck, drop, **replace)
        before = {p.name: p.read_bytes() for p in run.iterdir()}
        line = _one_line_exit_2(capsys, argv, name)
        assert str(ck) in line and all(w in line for w in words), f"{name}: {line!r}"
        assert {p.name: p.read_bytes() for p in run.iterdir()} == before, f"{name}: files changed"
    ck.write_bytes(b"PK\x03\x04 broken")
    assert "corrupted checkpoint" in _one_line_exit_2(capsys, argv, "garbage bytes")
    assert ck.read_bytes() == b"PK\x03\x04 broken"
    ck.write_bytes(good)  # the intact checkpoint resumes
    rc, _, err = _main(capsys, argv)
    assert rc == 0 and not ck.exists() and (run / "result.json").exists(), err


def test_labels_far_beyond_the_class_count_are_one_line(capsys, tmp_path, tiny_toml, tiny_run):
    from lava_sleep.data import write_idx

    run, _ = tiny_run
    images = np.zeros((5, 8, 8), dtype=np.uint8)
    sets = {}
    for name, labels in {"huge": [0, 1, 10**9, 1, 0], "negative": [0, 1, -3, 1, 0],
                         "just too many": [0, 1, 1000, 1, 0]}.items():
        sets[name] = tmp_path / f"{name}.npz"
        np.savez(sets[name], images=images, labels=np.array(labels, dtype=np.int64))
    idx = tmp_path / "idx"
    idx.mkdir()
    write_idx(idx / "train-images-idx3-ubyte", images)
    write_idx(idx / "train-labels-idx1-ubyte", np.array([0, 1, 10**9, 1, 0], dtype=np.int32))
    sets["idx folder"] = idx
    before = _files(tmp_path)
    for name, path in sets.items():
        for argv in (["train", *TINY[2:], "--dataset", path, "--config", tiny_toml, "--out", tmp_path / "o"],
                     ["sweep", "--datasets", path, "--fractions", "0", "--seeds", "0", "--backend", "numpy",
                      "--no-progress", "--out", tmp_path / "s"],
                     ["eval", run, "--data", path]):
            line = _one_line_exit_2(capsys, argv, f"{argv[0]} {name}")
            assert ("0..K-1" in line or "negative label" in line) and str(path) in line, line
            if name == "huge" and argv[0] != "eval":
                assert "at most 1000" in line
    assert _files(tmp_path) == before
    ok = tmp_path / "ok.npz"  # 1000 classes (labels 0..999) is still allowed
    np.savez(ok, images=images, labels=np.array([0, 1, 999, 1, 0]))
    assert len(load_dataset(ok).classes) == 1000


def test_sweep_out_file_and_eval_corrupt_npz(capsys, tmp_path, tiny_toml, tiny_run):
    import zipfile

    run, good = tiny_run
    afile = _write(tmp_path / "sweep.txt", b"not a folder")
    line = _one_line_exit_2(capsys, _out_commands(afile, tiny_toml)["sweep"], "sweep --out FILE")
    assert "is not a folder" in line and afile.read_bytes() == b"not a folder"
    raw = good.read_bytes()
    bad = {"truncated": raw[: len(raw) // 2], "garbage": b"PK\x03\x04 not a zip"}
    flipped = bytearray(raw)
    flipped[120:140] = b"\xff" * 20  # inside images.npy: CRC mismatch
    bad["bad CRC"] = bytes(flipped)
    for name, data in bad.items():
        _write(tmp_path / f"{name}.npz", data)
    with zipfile.ZipFile(tmp_path / "no-npy.npz", "w") as z:  # members that are no .npy arrays
        z.writestr("images.npy", b"hello")
        z.writestr("labels.npy", b"world")
    np.save(tmp_path / "single.npy", np.zeros((3, 8, 8), dtype=np.uint8))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    model = (run / "model.npz").read_bytes()
    for name in [*bad, "no-npy", "single"]:
        path = tmp_path / f"{name}.npz"
        line = _one_line_exit_2(capsys, ["eval", run, "--data", path], f"eval --data {name}")
        assert str(path) in line
    assert (run / "model.npz").read_bytes() == model
