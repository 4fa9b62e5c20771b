"""Lava backends through lava_sleep.backends.make_simulator: errors, interface, clean shutdown."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time

import numpy as np
import pytest
from lava_helpers import LAVA_TIMEOUT, active_params, make_test_images

from lava_sleep.backends import BackendError, make_simulator
from lava_sleep.lava_backend import lava_loihi_available
from lava_sleep.params import ParamError


def _child_pids() -> set[int]:
    """PIDs whose parent is this process (scan of /proc, no psutil).

    Python's multiprocessing resource tracker (one per interpreter, started with
    the first shared memory segment and kept until exit) is not counted.
    """
    me, out = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) != me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if b"multiprocessing.resource_tracker" in fh.read():
                    continue
        except OSError:
            continue
        out.add(int(entry))
    return out


@pytest.mark.skipif(
    lava_loihi_available(),
    reason="lava-loihi is installed here, so the missing-extension error cannot occur",
)
def test_loihi2_without_lava_loihi_simulates_and_says_so_in_one_line(monkeypatch, capsys):
    from lava_sleep import lava_backend
    from lava_sleep.params import SleepParams

    monkeypatch.setattr(lava_backend, "_NOTICED", set())
    p = dataclasses.replace(active_params(), sleep=SleepParams().onchip())
    assert not lava_backend.lava_loihi_available()  # lava-loihi is for INRC members only
    for mode in ("float", "float", "fixed"):
        sim = make_simulator("loihi2", [p], [1], mode=mode)
        assert isinstance(sim, lava_backend.LoihiNativeSimulator) and not sim.hardware and sim.mode == mode
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2  # once per mode
    for line, mode in zip(lines, ("float", "fixed"), strict=True):
        assert "lava-loihi" in line and "Loihi2SimCfg" in line and f"{mode} models" in line


def test_lava_backend_argument_errors():
    p = active_params()
    with pytest.raises(BackendError, match="B = 1"):
        make_simulator("lava-float", [p, p], [1, 2])
    with pytest.raises(BackendError, match="float64"):
        make_simulator("lava-float-fused", [p], [1], dtype="float32")
    no_inh = dataclasses.replace(p, network=dataclasses.replace(p.network, n_inh=0))
    with pytest.raises(BackendError, match="inhibitory"):
        make_simulator("lava-float", [no_inh], [1])
    with pytest.raises(ParamError, match="fixed-point form"):  # log decay has no fixed form
        make_simulator("lava-fixed", [active_params("float")], [1])


def test_fused_kernel_choice_and_errors(monkeypatch):
    from lava_sleep.kernels import native
    from lava_sleep.lava_backend import LavaSimulator

    p = active_params()
    with pytest.raises(BackendError, match="fused_kernel must be one of auto, native, numpy"):
        LavaSimulator(p, 1, model="fused", fused_kernel="cuda")
    assert LavaSimulator(p, 1, model="graph").fused_kernel is None
    assert LavaSimulator(p, 1, model="fused", fused_kernel="numpy").fused_kernel == "numpy"
    expected = "native" if native.available() else "numpy"
    assert LavaSimulator(p, 1, model="fused").fused_kernel == expected
    # without a compiler: auto falls back to NumPy, an explicit native request is one clear error
    monkeypatch.setattr(native, "_libs", {})
    monkeypatch.setattr(native, "compiler", lambda: None)
    assert LavaSimulator(p, 1, model="fused").fused_kernel == "numpy"
    with pytest.raises(BackendError, match="compiled kernel is unavailable: no C compiler found"):
        LavaSimulator(p, 1, model="fused", fused_kernel="native")


@pytest.mark.lava
@pytest.mark.timeout(LAVA_TIMEOUT)
def test_backends_run_and_leave_nothing_behind():
    p = active_params("fixed")
    images = make_test_images(5)
    children0 = {c.pid for c in multiprocessing.active_children()}
    procs0 = _child_pids()
    shm_names, results = [], {}
    for backend in ("lava-fixed", "lava-fixed-fused"):
        sim = make_simulator(backend, [p], [3], mode="fixed")
        try:
            assert sim.weights(0)["XE"].shape == (20, 16)  # before any run: the initial weights
            done = []
            out = sim.run(images, progress=done.append)
            assert done == [1, 2, 3, 4, 5]
            assert out.counts.shape == (1, 5, 20) and out.steps[0] == 250 + out.sleep_steps[0]
            assert len(_child_pids() - procs0) > 0  # Lava's workers are running
            shm_names += [port._shm.name for port in sim._pipes.values()]
            results[backend] = (out.counts, sim.weights(0), sim.masks(0))
        finally:
            sim.close()
        sim.close()  # idempotent
        with pytest.raises(BackendError, match="closed"):
            sim.run(images)  # never reaches Lava (run() after stop() would crash it)
    g, f = results["lava-fixed"], results["lava-fixed-fused"]
    assert np.array_equal(g[0], f[0])
    for n in g[1]:
        assert np.array_equal(g[1][n], f[1][n]) and np.array_equal(g[2][n], f[2][n])
    assert np.all(g[1]["XE"] >= 0) and np.all(g[1]["IE"] <= 0)  # sign invariants
    assert np.all(g[1]["XE"][~g[2]["XE"]] == 0)  # absent synapses stay absent
    # a runtime that was created but never ran (e.g. an error before the first
    # step): Lava's own stop() would wait forever for its workers
    sim = make_simulator("lava-float", [active_params()], [3])
    sim._start()
    sim.close()
    deadline = time.time() + 10
    while (_child_pids() - procs0) and time.time() < deadline:
        time.sleep(0.1)
    assert _child_pids() - procs0 == set()
    assert {c.pid for c in multiprocessing.active_children()} <= children0
    assert shm_names and not [n for n in shm_names if os.path.exists(f"/dev/shm/{n}")]


TRAIN_TOML = """
[input]
image_size = 4
steps_per_image = 30
[network]
n_exc = 10
n_inh = 3
[sleep]
period = 60
"""


@pytest.mark.lava
@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("backend,mode", [("lava-float", "float"), ("lava-fixed", "fixed"),
                                          ("lava-float-fused", "float"), ("lava-fixed-fused", "fixed")])
def test_train_and_eval_use_the_backends_number_format(tmp_path, capsys, backend, mode):
    """Regression: `train --backend lava-fixed` without --mode once trained in fixed point and
    read the integer state into a float oracle (XE mean 27.6 instead of ~0.2). The backend's
    name decides the mode; the saved weights are the trained ones in weight units, and `eval`
    on the run's own held-out images reproduces its accuracies."""
    import json

    from lava_sleep import cli
    from lava_sleep.data import Dataset, save_npz
    from lava_sleep.experiment.data import DataCache

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TRAIN_TOML)
    run = tmp_path / "run"
    rc = cli.main(["train", "--dataset", "digits", "--n-train", "8", "--n-test", "6", "--preset", "paper",
                   "--config", str(cfg), "--sleep-fraction", "0.25", "--backend", backend, "--seed", "2",
                   "--out", str(run), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    res = json.loads((run / "result.json").read_text())
    assert res["mode"] == mode and res["eval_backend"] == "numpy"
    assert res["sleep"]["steps_used"] > 0
    if mode == "fixed":
        assert res["config"]["sleep"]["form"] == "linear" and "log sleep-decay form" in err
    model = np.load(run / "model.npz")
    xe = np.abs(model["w_XE"][model["mask_XE"].astype(bool)])
    # trained weights in weight units: XE starts at 0.15 and stays within [0, w_max = 1]
    assert 0.05 < xe.mean() < 0.5 and xe.max() <= 1.0
    assert res["metrics"]["weights"]["XE"]["mean"] == pytest.approx(xe.mean())
    held = DataCache().run_data("digits", 4, 2, 8, 6)
    save_npz(Dataset(held.test_x.reshape(-1, 4, 4), held.test_y, "held", held.classes), tmp_path / "h.npz")
    rc = cli.main(["eval", str(run), "--data", str(tmp_path / "h.npz")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    ev = json.loads(out.out)
    assert ev["linear_accuracy"] == res["linear_accuracy"]
    assert ev["assignment_accuracy"] == res["assignment_accuracy"]


@pytest.mark.lava
def test_lava_imports_after_the_start_method_was_fixed():
    """lava-nc sets the multiprocessing start method when first imported; a process that fixed it
    before (here: get_start_method(), as scikit-learn's helpers do) must still load our Processes
    (it raised "context has already been set" before lava_sleep.processes released the context)."""
    import subprocess
    import sys

    code = ("import multiprocessing as mp; mp.get_start_method(); "
            "import lava_sleep.processes.ei_network.process; print(mp.get_start_method())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-500:]
    assert r.stdout.strip() == "fork"
