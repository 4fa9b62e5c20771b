"""The command line end to end on tiny configs: train -> eval -> plot, sweep, demo, bad input."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest

from lava_sleep import cli
from lava_sleep import params as P
from lava_sleep.data import Dataset, load_dataset, resize_images, save_npz, split_dataset
from lava_sleep.params import load_toml

TINY_TOML = """
[input]
image_size = 6
steps_per_image = 30
max_rate_hz = 200.0
[network]
n_exc = 12
n_inh = 3
[sleep]
period = 90
fraction = 0.2
[sg]
hidden = 16
steps = 5
epochs = 1
batch_size = 16
sleep_period = 2
"""
TINY = ["--dataset", "digits", "--n-train", "40", "--n-test", "20", "--preset", "quick", "--backend", "numpy",
        "--no-progress"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tiny_toml(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


def _main(capsys, argv):
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


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
    assert rc == 0 and out.strip().endswith("accuracy_vs_sleep.png")


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
    comp = json.loads((out_dir / "comparison.json").read_text())
    assert [r["sleep_fraction"] for r in comp["rows"]] == [0.0, 0.15]
    assert comp["rows"][0]["sleep_steps_used"] == 0 and comp["rows"][1]["sleep_steps_planned"] > 0
    for name in ("accuracy_vs_sleep.png", "health.png", "weights_final_hist.png"):
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
