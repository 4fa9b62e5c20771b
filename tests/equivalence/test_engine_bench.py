"""``lava-sleep bench``: the JSON contract of ARCHITECTURE.md, on short windows."""

from __future__ import annotations

import json

import pytest

from lava_sleep import cli
from lava_sleep.commands import bench

CONTRACT = ("backend", "network", "batch", "steps", "seconds", "network_steps_per_s",
            "synaptic_events_per_s", "device")


def test_bench_writes_contract_records(tmp_path, capsys):
    path = tmp_path / "sub" / "bench.json"
    rc = cli.main(["bench", "--backends", "numpy", "torch", "--batches", "1", "2", "--seconds", "0.2",
                   "--json", str(path)])
    assert rc == 0
    rows = json.loads(path.read_text())
    assert [(r["backend"], r["batch"]) for r in rows] == [("numpy", 1), ("torch", 1), ("torch", 2)]
    for r in rows:
        assert set(CONTRACT) <= set(r) and r["status"] == "ok" and r["network"] == "paper"
        assert r["steps"] > 0 and r["seconds"] >= 0.2
        assert r["network_steps_per_s"] == pytest.approx(r["steps"] / r["seconds"])
        assert r["synaptic_events_per_s"] == pytest.approx(r["network_steps_per_s"] * r["events_per_step"])
        # one sleep episode of 87 or 88 steps after every 350-step image: 20 % sleep
        assert r["sleep_share"] == pytest.approx(0.2, abs=0.002)
        assert r["machine"]["cores"] >= 1 and r["machine"]["torch"]
    assert rows[1]["impl"] in ("native", "torch") and rows[0]["impl"] is None
    assert not list(path.parent.glob("*.tmp"))
    out = capsys.readouterr().out
    assert "net-steps/s" in out and "wrote 3 records" in out


def test_bench_rejects_unknown_backend(capsys):
    assert cli.main(["bench", "--backends", "tensorflow"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown backend" in err[0]


def test_unavailable_backend_becomes_a_skipped_row():
    row = bench._row("lava-nonexistent", 1, "cpu", "float", "float64", None, False)
    row = bench.run_lava_subprocess(row, seconds=0.1, seed=0, eps=1.0)
    assert row["status"] == "skipped" and "unknown" in row["reason"].lower()
    assert row["network_steps_per_s"] is None
