"""Honest numbers: baselines, generalization and cost in every STDP result, checked against
independent computations; the number format follows the backend; fixed mode runs every preset."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from cli_helpers import run_main as _main
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from lava_sleep import params as P
from lava_sleep.backends import BackendError, make_simulator
from lava_sleep.data import Dataset, save_npz
from lava_sleep.experiment.data import DataCache
from lava_sleep.experiment.stdp import Member, TrainOptions, run_members
from lava_sleep.readout import LinearReadout, accuracy, assign_labels, predict_assignment
from lava_sleep.reference import ReferenceSimulator
from lava_sleep.simulation import resolve_mode


@pytest.fixture(scope="module")
def tiny():
    base = P.quick()
    return dataclasses.replace(
        base, input=dataclasses.replace(base.input, image_size=6, steps_per_image=30, max_rate_hz=200.0),
        network=dataclasses.replace(base.network, n_exc=12, n_inh=3),
        sleep=dataclasses.replace(base.sleep, period=90))


@pytest.fixture(scope="module")
def data(tiny):
    return DataCache().run_data("digits", tiny.input.image_size, 4, 40, 20)


@pytest.fixture(scope="module")
def batch(tiny, data):
    """Two sleep fractions of one seed in one numpy batch, baselines cached in a dict."""
    cache = {}
    members = [Member(tiny.with_sleep_fraction(f), 4, data, label=f"f{f}") for f in (0.0, 0.25)]
    opts = TrainOptions(backend="numpy", progress=False, record_raster=False, baseline_cache=cache)
    return run_members(members, opts), cache




def test_pixel_baseline_equals_independent_logistic_regression(batch, data):
    results, _ = batch
    x_tr, x_te = data.train_x.astype(float), data.test_x.astype(float)
    sc = StandardScaler().fit(x_tr)
    lr = LogisticRegression(C=1.0, max_iter=2000).fit(sc.transform(x_tr), data.train_y)
    want = float(np.mean(lr.predict(sc.transform(x_te)) == data.test_y))
    for r in results:
        assert r["metrics"]["baselines"]["pixels_linear_accuracy"] == pytest.approx(want, abs=1e-12)
        assert r["metrics"]["baselines"]["pixels_train_linear_accuracy"] == pytest.approx(
            float(np.mean(lr.predict(sc.transform(x_tr)) == data.train_y)), abs=1e-12)


def test_untrained_baseline_equals_a_fresh_network(batch, tiny, data):
    """The untrained network is the initial network of the same params and seed, read out
    like the trained one: recomputed here from two fresh oracles, learning and sleep off."""
    results, cache = batch
    counts = {}
    for split, x in (("test", data.test_x), ("train", data.train_x)):
        sim = ReferenceSimulator(tiny, 4)
        counts[split] = sim.run(x, learn=False, sleep_on=False).counts
    assign = assign_labels(counts["train"], data.train_y, data.n_classes)
    lin = LinearReadout.fit(counts["train"], data.train_y)
    want_assign = accuracy(predict_assignment(counts["test"], assign, data.n_classes), data.test_y)
    want_lin = accuracy(lin.predict(counts["test"]), data.test_y)
    for r in results:
        b = r["metrics"]["baselines"]
        assert b["untrained_assignment_accuracy"] == want_assign
        assert b["untrained_linear_accuracy"] == want_lin
    # one untrained network for the seed, not one per fraction (plus one pixel entry)
    assert len([k for k in cache if isinstance(k, str)]) == 1
    assert len([k for k in cache if isinstance(k, tuple) and k[0] == "pixels"]) == 1


def test_generalization_and_cost_in_results(batch):
    results, _ = batch
    for r in results:
        m = r["metrics"]
        assert m["generalization"]["linear_gap"] == pytest.approx(
            m["train_linear_accuracy"] - m["linear_accuracy"])
        c = r["cost"]["counts"]
        # every wake step updates every E and I neuron; E spikes during wake appear as active updates
        assert c["wake"]["steps"] == r["steps"]["wake"]
        assert c["wake"]["neuron_updates"] == 15 * r["steps"]["wake"]
        assert c["sleep"]["steps"] == r["steps"]["sleep"]
        assert c["wake"]["synaptic_events"] > 0
    no_sleep, sleep = results
    assert no_sleep["cost"]["counts"]["sleep"]["decay_updates"] == 0
    assert sleep["cost"]["counts"]["sleep"]["decay_updates"] > 0
    assert sleep["cost"]["energy"]["per_training_image_uj"]["sleep"] > 0
    assert no_sleep["cost"]["energy"]["per_training_image_uj"]["sleep"] == 0


def test_eval_reports_the_same_baselines(capsys, tmp_path, data):
    run = tmp_path / "run"
    argv = ["train", "--dataset", "digits", "--n-train", "40", "--n-test", "20", "--preset", "quick",
            "--backend", "numpy", "--no-progress", "--seed", "4", "--sleep-fraction", "0.2", "--out", run]
    rc, _, err = _main(capsys, argv)
    assert rc == 0, err
    res = json.loads((run / "result.json").read_text())
    held = DataCache().run_data("digits", 10, 4, 40, 20)
    ds = Dataset(held.test_x.reshape(-1, 10, 10), held.test_y, "held", held.classes)
    save_npz(ds, tmp_path / "held.npz")
    rc, out, err = _main(capsys, ["eval", run, "--data", tmp_path / "held.npz"])
    assert rc == 0, err
    ev = json.loads(out)
    for k in ("pixels_linear_accuracy", "untrained_linear_accuracy", "untrained_assignment_accuracy"):
        assert ev["baselines"][k] == pytest.approx(res["metrics"]["baselines"][k], abs=1e-12), k
    assert ev["linear_accuracy"] == pytest.approx(res["linear_accuracy"], abs=1e-12)


def test_backend_decides_the_mode():
    assert resolve_mode("lava-fixed", None) == "fixed"
    assert resolve_mode("lava-fixed-fused", None) == "fixed"
    assert resolve_mode("lava-float", None) == "float"
    assert resolve_mode("torch", None) == "float" and resolve_mode("torch", "fixed") == "fixed"
    for backend, mode in (("lava-fixed", "float"), ("lava-float", "fixed"), ("lava-float-fused", "fixed")):
        with pytest.raises(BackendError, match="contradicts"):
            resolve_mode(backend, mode)
    with pytest.raises(BackendError, match="contradicts"):
        make_simulator("lava-fixed", [P.quick()], [0], mode="float")


@pytest.mark.parametrize("backend,mode", [("lava-fixed", "float"), ("lava-float", "fixed")])
def test_contradicting_mode_is_one_line(capsys, tmp_path, backend, mode):
    out = tmp_path / "run"
    rc, _, err = _main(capsys, ["train", "--dataset", "digits", "--preset", "quick", "--backend", backend,
                                "--mode", mode, "--out", out, "--no-progress"])
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "contradicts" in err
    assert not out.exists()


@pytest.mark.parametrize("preset", sorted(P.PRESETS))
def test_fixed_mode_runs_every_preset(capsys, tmp_path, preset):
    """--mode fixed with a sleeping preset (log decay form by default) trains: the linear form
    is used and said so in one note; the run records the form it used."""
    assert P.preset(preset).sleep.form == "log"
    run = tmp_path / preset
    rc, _, err = _main(capsys, ["train", "--dataset", "digits", "--n-train", "12", "--n-test", "10",
                                "--preset", preset, "--backend", "torch", "--mode", "fixed",
                                "--sleep-fraction", "0.2", "--out", run, "--no-progress"])
    assert rc == 0, err
    assert "note: fixed point has no log sleep-decay form" in err
    res = json.loads((run / "result.json").read_text())
    assert res["mode"] == "fixed" and res["config"]["sleep"]["form"] == "linear"
    assert res["sleep"]["steps_used"] > 0


def test_missing_cuda_device_is_one_line(capsys, tmp_path, monkeypatch):
    import torch

    rc, _, err = _main(capsys, ["train", "--dataset", "digits", "--preset", "quick", "--backend", "torch",
                                "--device", "cuda:7", "--out", tmp_path / "r", "--no-progress"])
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "cuda:7" in err
    # where CUDA exists, an index beyond the devices present is named as such
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    rc, _, err = _main(capsys, ["train", "--dataset", "digits", "--preset", "quick", "--backend", "torch",
                                "--device", "cuda:7", "--out", tmp_path / "r", "--no-progress"])
    assert rc == 2 and "does not exist" in err and "cuda:0 .. cuda:1" in err
    assert not (tmp_path / "r").exists()
