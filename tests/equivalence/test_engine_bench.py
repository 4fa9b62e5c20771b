"""``lava-sleep bench``: the JSON contract of ARCHITECTURE.md, on short windows."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from lava_sleep import cli
from lava_sleep.commands import bench

CONTRACT = ("backend", "network", "batch", "steps", "seconds", "network_steps_per_s",
            "synaptic_events_per_s", "device")
#: how every row says what it measured (issue "Truth in numbers")
DESCRIBED = ("input_rate_hz", "dataset", "random_images", "sleep_fraction", "images_per_call",
             "schedule", "sleep_period", "sleep_share")


def test_bench_writes_contract_records(tmp_path, capsys):
    path = tmp_path / "sub" / "bench.json"
    rc = cli.main(["bench", "--backends", "numpy", "torch", "--batches", "1", "2", "--seconds", "0.2",
                   "--chunk-images", "10", "--json", str(path)])
    assert rc == 0
    rows = json.loads(path.read_text())
    # a 20 %-sleep row and a no-sleep row beside it at every engine batch
    assert [(r["backend"], r["batch"], r["sleep_fraction"]) for r in rows] == [
        ("numpy", 1, 0.2), ("torch", 1, 0.2), ("torch", 1, 0.0), ("torch", 2, 0.2), ("torch", 2, 0.0)]
    for r in rows:
        assert set(CONTRACT) <= set(r) and set(DESCRIBED) <= set(r)
        assert r["status"] == "ok" and r["network"] == "paper"
        assert r["steps"] > 0 and r["seconds"] >= 0.2
        assert r["network_steps_per_s"] == pytest.approx(r["steps"] / r["seconds"])
        assert r["synaptic_events_per_s"] == pytest.approx(r["network_steps_per_s"] * r["events_per_step"])
        assert r["input_rate_hz"] == 400.0 and 0 < r["mean_input_rate_hz"] < 400.0
        assert r["dataset"] == "digits" and r["random_images"] is False and r["dataset_images"] == 512
        assert r["images"] == r["calls"] * r["images_per_call"]
        assert r["machine"]["cores"] >= 1 and r["machine"]["torch"]
    numpy_row, engine = rows[0], rows[1:]
    # the oracle: one image per call, one sleep episode of 87 or 88 steps after every 350-step image
    assert numpy_row["images_per_call"] == 1 and numpy_row["schedule"] == bench.SCHEDULE_PER_IMAGE
    assert numpy_row["sleep_period"] == 350 and numpy_row["sleep_share"] == pytest.approx(0.2, abs=0.002)
    # the engine as `train` runs it: the paper schedule (sleep every 10 images), chunks of whole periods
    for r in engine:
        assert r["schedule"] == bench.SCHEDULE_TRAINING and r["sleep_period"] == 3500
        assert r["images_per_call"] == 10 and r["steps"] % r["calls"] == 0
        if r["sleep_fraction"] > 0:
            assert 0.15 < r["sleep_share"] <= 0.202  # early wake-up may only shorten episodes
        else:
            assert r["sleep_share"] == 0 and r["steps"] == r["images"] * 350 * r["batch"]
    assert engine[0]["impl"] in ("native", "torch") and numpy_row["impl"] is None
    assert not list(path.parent.glob("*.tmp"))
    out = capsys.readouterr().out
    assert "net-steps/s" in out and "wrote 5 records" in out


def _args(**kw):
    base = dict(backends=["numpy", "torch", "lava-float"], full=False, batches=None, device="auto",
                sleep_fractions=list(bench.SLEEP_FRACTIONS), chunk_images=bench.TRAIN_CHUNK)
    base.update(kw)
    return argparse.Namespace(**base)


def test_engine_rows_are_called_like_training():
    assert bench.TRAIN_CHUNK == 160
    rows = bench.plan_rows(_args(), cuda=True)
    engine = [(r["device"], r["batch"], r["sleep_fraction"], r["images_per_call"])
              for r in rows if r["backend"] == "torch"]
    assert engine[:6] == [("cpu", 1, 0.2, 160), ("cpu", 1, 0.0, 160), ("cpu", 16, 0.2, 10),
                          ("cpu", 16, 0.0, 10), ("cpu", 64, 0.2, 10), ("cpu", 64, 0.0, 10)]
    # large CUDA batches: the sleep row only (no-sleep rows up to B = 64)
    assert [(b, f) for d, b, f, _ in engine if d == "cuda" and b > 64] == [(256, 0.2), (1024, 0.2)]
    for r in rows:
        if r["backend"] != "torch":  # slow rows: one image per call, sleep after every image
            assert r["images_per_call"] == 1 and r["sleep_period"] == r["steps_per_image"]
            assert r["sleep_fraction"] == 0.2
    # an explicit chunk: about N / B images, whole sleep periods, at least one period
    small = bench.plan_rows(_args(backends=["torch"], batches=[1, 2, 4], chunk_images=40), cuda=False)
    assert [(r["batch"], r["images_per_call"]) for r in small] == [(1, 40), (1, 40), (2, 20), (2, 20),
                                                                    (4, 10), (4, 10)]
    assert {r["warmup_images"] for r in small if r["sleep_fraction"] > 0} == {10}


def test_bench_bad_data_path_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nothing_here.npz"
    assert cli.main(["bench", "--backends", "numpy", "--seconds", "0.1", "--dataset", str(missing)]) == 2
    cap = capsys.readouterr()
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0] and str(missing) in err[0]
    assert "net-steps/s" not in cap.out  # nothing was measured on substitute images

    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"this is not a zip archive")
    assert cli.main(["bench", "--backends", "numpy", "--seconds", "0.1", "--dataset", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt.npz" in err[0]


def test_default_data_failure_is_never_replaced_by_random_images(monkeypatch, capsys):
    from lava_sleep import data

    def broken(*a, **k):
        raise data.DataError("digits: embedded data unreadable")

    monkeypatch.setattr(data, "load_dataset", broken)
    with pytest.raises(data.DataError):
        bench.bench_images()
    assert cli.main(["bench", "--backends", "numpy", "--seconds", "0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "embedded data unreadable" in err[0]


def test_random_images_only_on_request(capsys):
    images, info = bench.load_bench_images(random=True, n=8)
    assert images.shape == (8, 225) and images.dtype == np.uint8
    assert info["random_images"] is True and info["dataset"].startswith("random")
    images, info = bench.load_bench_images(n=8)
    assert info == {"dataset": "digits", "dataset_images": 8, "original_size": [8, 8], "random_images": False}
    assert cli.main(["bench", "--random-images", "--dataset", "digits", "--backends", "numpy"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_bench_rejects_unknown_backend(capsys):
    assert cli.main(["bench", "--backends", "tensorflow"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown backend" in err[0]


def test_unavailable_backend_becomes_a_skipped_row():
    row = bench._row("lava-nonexistent", 1, "cpu", "float", "float64", None, False)
    row = bench.run_lava_subprocess(row, seconds=0.1, seed=0, eps=1.0)
    assert row["status"] == "skipped" and "unknown" in row["reason"].lower()
    assert row["network_steps_per_s"] is None
