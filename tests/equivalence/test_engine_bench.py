"""``lava-sleep bench``: the JSON contract of ARCHITECTURE.md, on short windows."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lava_sleep import cli
from lava_sleep.commands import bench
from lava_sleep.engine import TorchSimulator

ROOT = Path(__file__).resolve().parents[2]
GPU_CHECK = ROOT / "benchmarks" / "gpu_check.py"

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
        assert r["launches_per_tick"] is None or r["impl"] in bench.PURE_TORCH  # only the pure torch path
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


# -- kernel launches per tick (issue "GPU engine") ------------------------------------------------
@pytest.fixture
def one_thread():
    """torch on one thread: the torch path's tiny tensors gain nothing from more, and on a busy
    machine the extra threads slow it down many times over."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _short_params(steps_per_image=20, fraction=0.2):
    """The bench's per-image schedule with 20-step images (a 5-step episode after each)."""
    p = bench.bench_params(fraction=fraction)
    return dataclasses.replace(p, input=dataclasses.replace(p.input, steps_per_image=steps_per_image),
                               sleep=dataclasses.replace(p.sleep, period=steps_per_image))


class _OpsPerTick:
    """A stand-in simulator whose run() dispatches exactly 3 computing top-level torch ops per tick,
    plus a view (a metadata op: no launch) and a reshape of a non-contiguous tensor (which copies:
    one launch)."""

    impl_name, device = "torch", torch.device("cpu")

    def __init__(self, ticks):
        self.ticks = ticks
        self.a, self.b, self.c = torch.zeros(8), torch.ones(8), torch.empty(8)

    def run(self, images, learn=True, sleep_on=True):
        for _ in range(self.ticks):
            self.a.add_(1)
            self.a.mul_(0.5)
            torch.add(self.a, self.b, out=self.c)
            self.a.view(2, 4)
            self.a.view(2, 4).t().reshape(8)
        return SimpleNamespace(steps=np.array([self.ticks, self.ticks - 2]), sleep_steps=np.array([0, 0]))


def test_launch_counter_counts_what_it_claims():
    res = bench.launches_per_tick(_OpsPerTick(7), images=None)
    assert res["ticks"] == 7 and res["launches"] == 28 and res["launches_per_tick"] == 4.0
    # per tick: view, view, t (metadata, not launches); add_, mul_, add, copying reshape (launches)
    assert res["by_kind"] == {"aten": 28, "generated": 0, "compiled_region": 0, "metadata": 21}
    assert "ATen" in res["counted"]


def test_launch_counters_on_synthetic_events():
    node = bench._Node
    region = node("Torch-Compiled Region: 0/0")
    inner = node("CompiledFunction", region)
    events = [region, inner, node("cpp_fused_add_mul_0", inner), node("aten::empty_strided", inner),
              node("aten::mm"), node("aten::addmm", node("aten::linear"))]
    blind = node("Torch-Compiled Region: 1/0")  # a region whose kernels the profiler does not show
    events += [blind, node("aten::empty_strided", blind)]
    n, by_kind = bench.count_cpu_launches(events)
    # aten::mm (aten::addmm is inside aten::linear, which is not listed), one generated kernel, and
    # the blind region as one launch; the two aten::empty_strided only allocate (metadata)
    assert by_kind == {"aten": 1, "generated": 1, "compiled_region": 1, "metadata": 2} and n == 3

    dev = [SimpleNamespace(device_type="DeviceType.CUDA", activity_type=a, name=nm, is_user_annotation=False)
           for a, nm in (("kernel", "void k<>"), ("gpu_memcpy", "Memcpy HtoD"), ("gpu_memset", "Memset"),
                         ("gpu_user_annotation", "step"), (None, "Memcpy DtoH"), (None, "triton_poi_0"))]
    dev.append(SimpleNamespace(device_type="DeviceType.CPU", activity_type="cpu_op", name="aten::add"))
    assert bench.count_device_launches(dev) == (5, {"kernel": 2, "memcpy": 2, "memset": 1})


class _Spy:
    """A simulator seen through: keeps the output of its last run()."""

    def __init__(self, sim):
        self.sim, self.impl_name, self.device = sim, sim.impl_name, sim.device

    def run(self, *args, **kwargs):
        self.out = self.sim.run(*args, **kwargs)
        return self.out


def test_launches_per_tick_of_the_torch_path(one_thread):
    p = _short_params()
    images = bench.bench_images(2)
    p4 = dataclasses.replace(p, sleep=dataclasses.replace(p.sleep, fraction=0.4))
    spy = _Spy(TorchSimulator([p, p4], [0, 1], impl="torch"))
    res = bench.launches_per_tick(spy, images[:1])
    assert res["ticks"] == int(spy.out.steps.max()) == 20 + 13  # the 0.4 member sleeps 13 steps
    assert res["sleep_ticks"] == 13 and res["launches"] > 0 and res["launches_per_tick"] > 1
    native = TorchSimulator([p], [0], impl="native")
    assert bench.launches_per_tick(native, images[:1])["launches_per_tick"] is None


def test_torch_path_rows_record_launches_per_tick(one_thread):
    p = _short_params()
    row = bench._row("torch", 2, "cpu", "float", "float64", "torch", False)
    row.update(bench.schedule_fields(p))
    bench.run_inprocess(row, bench.bench_images(4), 0.01, 0, eps=1.0, params=p)
    assert row["status"] == "ok" and row["steps_per_image"] == 20 and row["sleep_share"] == 0.2
    assert row["launches_per_tick"] > 1 and row["launch_profile"]["ticks"] == 25


# -- benchmarks/gpu_check.py -------------------------------------------------------------------
def _gpu_check(*args):
    """Run benchmarks/gpu_check.py (torch on one thread, as in the ``one_thread`` fixture)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(GPU_CHECK), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_gpu_check_quick_on_the_cpu(tmp_path):
    path = tmp_path / "gpu_check.json"
    res = _gpu_check("--device", "cpu", "--quick", "--impl", "torch", "--json", str(path))
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(path.read_text())
    assert out["status"] == "done" and out["correctness"]["passed"] is True
    for key in ("fixed", "float64"):
        c = out["correctness"][key]
        assert c["passed"] and c["first_mismatch"] is None and c["episodes"] == 2
    assert out["correctness"]["float64"]["max_weight_rel_diff"] <= 1e-9
    (row,) = out["throughput"]
    assert row["status"] == "ok" and row["impl"] == "torch" and row["batch"] == 2
    assert out["impl"] == "torch" and out["correctness"]["fixed"]["impl"] == "torch"
    assert row["launches_per_tick"] > 0 and row["network_steps_per_s"] > 0
    est = out["estimate"]
    assert est["sweep"]["runs"] == 220 and est["by_rate_at_best_batch"]["seconds"] > 0
    assert out["machine"]["cores"] >= 1 and out["started"]
    assert "correctness passed" in res.stdout


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="this machine has a cuda:7")
def test_gpu_check_missing_device_is_one_line_and_exit_2(tmp_path):
    res = _gpu_check("--device", "cuda:7", "--json", str(tmp_path / "x.json"))
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1 and "cuda:7" in err[0] and "Traceback" not in res.stderr
    assert not (tmp_path / "x.json").exists()
