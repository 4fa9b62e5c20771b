"""``lava-sleep export --format nir``: the file, its round trip through ``nir.read``, one-line
errors, and the exported network checked by an independent consumer (Norse).

The consumer check (``test_norse_runs_the_exported_network_spike_for_spike``) and the
conventions it relies on are described in docs/export.md ("Checked by Norse").
"""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import sys
import warnings

import nir
import numpy as np
import pytest
import torch

from lava_sleep import cli
from lava_sleep import params as P
from lava_sleep.experiment import files
from lava_sleep.export import FORMATS
from lava_sleep.export import nir as nir_export


def _one_line(text: str) -> str:
    lines = text.strip("\n").split("\n")
    assert len(lines) == 1, text
    return lines[0]


def _train(out, *extra):
    argv = ["train", "--dataset", "digits", "--n-train", "30", "--n-test", "20", "--sleep-fraction", "0.2",
            "--seed", "0", "--no-progress", "--out", str(out), *extra]
    assert cli.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """A trained STDP run of the quick preset (100 inputs, 100 E, 25 I), float64, torch engine."""
    return _train(tmp_path_factory.mktemp("export") / "quick", "--preset", "quick")


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory):
    """The same in fixed point (``--mode fixed``): model.npz holds dequantized weights."""
    return _train(tmp_path_factory.mktemp("export") / "fixed", "--preset", "quick", "--mode", "fixed")


def _export(run_dir, out):
    return cli.main(["export", str(run_dir), "--format", "nir", str(out)])


# -- the file -------------------------------------------------------------------------------
def test_round_trip_holds_weights_neurons_edges_and_metadata(quick_run, tmp_path, capsys):
    out = tmp_path / "sub" / "model.nir"
    assert _export(quick_run, out) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (nir, ")
    assert not [p for p in out.parent.iterdir() if p.name != "model.nir"]  # no temp file left
    g = nir.read(str(out))
    arrays, config = files.read_model(quick_run)
    p = P.ModelParams.from_dict(config["params"])
    n_x, n_e, n_i = p.n_input, p.network.n_exc, p.network.n_inh
    assert set(g.nodes) == {"input", "XE", "EE", "EI", "IE", "E", "I", "output"}
    assert set(g.edges) == {("input", "XE"), ("XE", "E"), ("E", "EE"), ("EE", "E"), ("E", "EI"),
                            ("EI", "I"), ("I", "IE"), ("IE", "E"), ("E", "output")}
    assert isinstance(g.nodes["input"], nir.Input) and isinstance(g.nodes["output"], nir.Output)
    assert list(g.nodes["input"].input_type["input"]) == [n_x]
    assert list(g.nodes["output"].output_type["output"]) == [n_e]
    # weights: the trained signed matrices (post x pre), exact zeros where no synapse exists
    for n in ("XE", "EE", "EI", "IE"):
        node = g.nodes[n]
        assert isinstance(node, nir.Linear)
        mask = arrays[f"mask_{n}"].astype(bool)
        np.testing.assert_array_equal(node.weight, np.where(mask, arrays[f"w_{n}"], 0.0))
        np.testing.assert_array_equal(node.metadata["mask"].astype(bool), mask)
        assert np.all(node.weight[~mask] == 0)
        sign = -1 if n == "IE" else 1
        assert np.all(node.weight * sign >= 0) and np.any(node.weight != 0)
        assert node.metadata["sign"] == sign and node.metadata["delay_steps"] == 1
    assert np.all(np.diag(g.nodes["EE"].weight) == 0)  # no E->E self-connections
    # neurons: NIR units (s, mV relative to v_rest), adaptation folded into the threshold
    a = arrays["state_a"]
    nrn = p.neuron
    for pop, sl, n in (("E", slice(0, n_e), n_e), ("I", slice(n_e, n_e + n_i), n_i)):
        c = g.nodes[pop]
        assert isinstance(c, nir.CubaLIF) and c.v_threshold.shape == (n,)
        np.testing.assert_allclose(c.tau_syn, nrn.tau_syn * 1e-3)
        np.testing.assert_allclose(c.tau_mem, nrn.tau_m * 1e-3)
        np.testing.assert_array_equal(c.r, nrn.r_m)
        np.testing.assert_array_equal(c.v_leak, 0.0)  # no bias
        np.testing.assert_array_equal(c.v_reset, nrn.v_reset - nrn.v_rest)
        np.testing.assert_array_equal(c.w_in, 1.0)
        np.testing.assert_array_equal(c.v_threshold, (nrn.v_thresh - nrn.v_rest) + a[sl])
        np.testing.assert_array_equal(c.metadata["adaptation_mV"], a[sl])
    assert np.ptp(g.nodes["E"].v_threshold) > 0  # trained: per-neuron thresholds differ
    md = g.metadata
    assert md["format"] == nir_export.FORMAT and md["model"] == "stdp" and md["mode"] == "float"
    assert md["dt"] == pytest.approx(1e-3) and md["dt_ms"] == 1.0 and md["time_unit"] == "s"
    assert md["v_rest_mV"] == nrn.v_rest and md["pathway_delay_steps"] == 1
    assert md["input_rate_hz"] == p.input.max_rate_hz == 400.0
    assert md["steps_per_image"] == p.input.steps_per_image and md["sleep_fraction"] == 0.2
    assert P.ModelParams.from_dict(json.loads(md["params_json"])) == p  # the full parameter set
    assert set(md["frozen_dropped"]) >= {"adaptation", "noise", "plasticity", "sleep", "pathway_delay"}
    assert md["run"]["seed"] == 0 and md["run"]["fixed_point"] == ""


def test_fixed_point_run_exports_dequantized_weights_and_its_scales(fixed_run, tmp_path):
    out = tmp_path / "fixed.nir"
    assert _export(fixed_run, out) == 0
    g = nir.read(str(out))
    arrays, config = files.read_model(fixed_run)
    assert config["mode"] == "fixed" and g.metadata["mode"] == "fixed"
    p = P.ModelParams.from_dict(config["params"])
    from lava_sleep.fixed import to_fixed
    fc = to_fixed(p)
    fx = g.metadata["run"]["fixed_point"]
    assert fx["v_frac_bits"] == fc.v_frac_bits and fx["w_bits"] == p.fixed.w_bits
    for n in ("XE", "EE", "EI", "IE"):
        pf = fc.pathways[n]
        assert fx["pathways"][n]["lsb"] == pf.lsb and fx["pathways"][n]["shift"] == pf.shift
        # the exported weights are the integer magnitudes times the LSB, signed
        sign = -1 if n == "IE" else 1
        want = sign * arrays[f"state_m_{n}"].astype(np.float64) * pf.lsb
        np.testing.assert_allclose(g.nodes[n].weight, want, rtol=1e-12, atol=0)
    # adaptation is stored in integer voltage units: the threshold is in mV
    a_mv = arrays["state_a"] / 2.0**fc.v_frac_bits
    np.testing.assert_allclose(g.nodes["E"].v_threshold,
                               p.neuron.v_thresh - p.neuron.v_rest + a_mv[: p.network.n_exc])


def test_existing_file_is_replaced_atomically(quick_run, tmp_path):
    out = tmp_path / "model.nir"
    out.write_bytes(b"old")
    assert _export(quick_run, out) == 0
    assert nir.read(str(out)).metadata["format"] == nir_export.FORMAT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.nir"]


def test_network_without_inhibitory_neurons(quick_run):
    arrays, config = files.read_model(quick_run)
    p = P.ModelParams.from_dict(config["params"])
    p0 = dataclasses.replace(p, network=dataclasses.replace(p.network, n_inh=0))
    n_e, n_x = p.network.n_exc, p.n_input
    arrays0 = {**arrays, "w_EI": np.zeros((0, n_e)), "mask_EI": np.zeros((0, n_e), bool),
               "w_IE": np.zeros((n_e, 0)), "mask_IE": np.zeros((n_e, 0), bool),
               "state_a": arrays["state_a"][:n_e]}
    net = nir_export.network_from_model(arrays0, {**config, "params": p0.to_dict()}, "x")
    g = nir_export.build_graph(net)
    assert set(g.nodes) == {"input", "XE", "EE", "E", "output"}
    assert g.nodes["XE"].weight.shape == (n_e, n_x)


# -- one-line errors -----------------------------------------------------------------------
def _err(capsys, argv):
    rc = cli.main(argv)
    cap = capsys.readouterr()
    assert rc == 2, cap
    assert "Traceback" not in cap.err
    return _one_line(cap.err)


def _write_model(run_dir, arrays, config):
    run_dir.mkdir(parents=True, exist_ok=True)
    files.write_model(run_dir, arrays, config)
    return run_dir


def test_sg_run_is_one_line(tmp_path, capsys):
    run = _write_model(tmp_path / "sg", {"sg_W1": np.zeros((3, 4)), "sg_b1": np.zeros(3)},
                       {"model": "sg", "image_size": 2, "n_classes": 3, "sg_params": {}})
    line = _err(capsys, ["export", str(run), "--format", "nir", str(tmp_path / "o.nir")])
    assert line.startswith("lava-sleep export: error:") and "surrogate-gradient" in line
    assert not (tmp_path / "o.nir").exists()


def test_model_missing_pieces_is_one_line_naming_them(quick_run, tmp_path, capsys):
    arrays, config = files.read_model(quick_run)
    cut = {k: v for k, v in arrays.items()
           if k not in ("w_EE", "state_a", "format", "config_json", "config_toml")}
    run = _write_model(tmp_path / "cut", cut, config)
    line = _err(capsys, ["export", str(run), str(tmp_path / "o.nir")])
    assert "w_EE" in line and "state_a" in line and "lacks" in line
    # a weight matrix that does not fit the parameters
    bad = {k: v for k, v in arrays.items() if k not in ("format", "config_json", "config_toml")}
    bad["w_XE"] = bad["w_XE"][:, :3]
    run = _write_model(tmp_path / "bad", bad, config)
    line = _err(capsys, ["export", str(run), str(tmp_path / "o.nir")])
    assert "w_XE" in line and "shape" in line
    assert not (tmp_path / "o.nir").exists()


def test_not_a_run_and_unusable_out_paths_are_one_line(quick_run, tmp_path, capsys):
    line = _err(capsys, ["export", str(tmp_path / "nowhere"), str(tmp_path / "o.nir")])
    assert "does not exist" in line
    line = _err(capsys, ["export", str(tmp_path), str(tmp_path / "o.nir")])
    assert "model.npz" in line
    line = _err(capsys, ["export", str(quick_run), str(tmp_path)])  # OUT is a folder
    assert "is a folder" in line
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = _err(capsys, ["export", str(quick_run), str(blocker / "o.nir")])  # parent is a file
    assert "file" in line and str(blocker) in line
    assert blocker.read_text() == "x"


def test_unknown_format_is_one_line(quick_run, tmp_path, capsys):
    assert FORMATS == ("nir", "loihi")
    with pytest.raises(SystemExit) as info:
        cli.main(["export", str(quick_run), "--format", "onnx", str(tmp_path / "o.x")])
    assert info.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert "invalid choice: 'onnx'" in line and "nir" in line and "loihi" in line
    from lava_sleep.experiment.config import RunError
    from lava_sleep.export import export_run
    with pytest.raises(RunError, match="unknown export format 'onnx'; choose one of: nir, loihi"):
        export_run(quick_run, tmp_path / "o.x", "onnx")
    assert not (tmp_path / "o.x").exists()


def test_importing_lava_sleep_does_not_import_lava():
    code = ("import sys, lava_sleep, lava_sleep.cli, lava_sleep.backends, lava_sleep.export.nir, "
            "lava_sleep.experiment.evaluate, lava_sleep.commands.export, lava_sleep.commands.train;"
            "bad = sorted(m for m in sys.modules if m == 'lava' or m.startswith('lava.'));"
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_lava_backend_without_lava_is_one_line(monkeypatch, capsys, tmp_path):
    """Where lava-nc is missing (Python 3.11+), a Lava backend says what it needs in one line."""
    from lava_sleep import backends
    monkeypatch.setattr(backends, "lava_available", lambda: False)
    with pytest.raises(backends.BackendError, match=r"needs Python 3\.10 with lava-nc"):
        backends.make_simulator("lava-float", [P.quick()], [0])
    line = _err(capsys, ["train", "--dataset", "digits", "--preset", "quick", "--n-train", "10",
                         "--n-test", "10", "--backend", "lava-float", "--no-progress",
                         "--out", str(tmp_path / "r")])
    assert "needs Python 3.10 with lava-nc" in line and "numpy or torch" in line


# -- the independent consumer: Norse ---------------------------------------------------------
#: Steps compared (6 images of 350 steps).
N_IMAGES = 6
#: Input rate of the comparison raster. Without membrane noise, 400 Hz (training's rate) drives
#: the trained paper network to ~200 E spikes and no I spike in 1,400 steps, which would leave
#: E->I->E untested; 1000 Hz (p = intensity / 255) makes both populations fire.
COMPARE_RATE_HZ = 1000.0


class OneStepDelay(torch.nn.Module):
    """The consumer's ``nir.Delay`` of one step: the input of the previous step (zeros first).

    Norse 1.1.0 maps no ``nir.Delay``; this is the module the comparison adds (see
    :func:`norse_module`). The ``state`` argument makes nirtorch's executor keep its state."""

    def forward(self, x, state=None):
        return (torch.zeros_like(x) if state is None else state), x


def norse_module(graph, forward_pathways):
    """The graph as a Norse module: Norse 1.1.0's own NIR import (``from_nir``'s node mapping
    and nirtorch's executor, as ``norse.torch.from_nir`` does), with two documented additions:

    * a one-step ``nir.Delay`` on each pathway in ``forward_pathways`` (nirtorch runs edges
      that close a cycle, EE -> E and IE -> E here, with one step of delay, the rest within the
      step; lava-sleep delays every pathway by one step: docs/export.md);
    * the reset value: Norse 1.1.0's importer does not pass ``CubaLIF.v_reset`` on (its neurons
      reset to 0); it is set from the node.
    """
    import nirtorch
    from norse.torch.utils.import_nir import _import_norse_module

    dt = float(graph.metadata["dt"])
    for n in forward_pathways:
        post = n[1]
        size = graph.nodes[post].v_threshold.shape[0]
        graph.nodes[f"delay_{n}"] = nir.Delay(delay=np.full(size, dt))
        graph.edges = [e for e in graph.edges if e != (n, post)] + [(n, f"delay_{n}"), (f"delay_{n}", post)]
    base = functools.partial(_import_norse_module, dt=dt)

    def node_map(node):
        return OneStepDelay() if isinstance(node, nir.Delay) else base(node)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = nirtorch.load(graph, node_map)
    for pop in ("E", "I"):
        cell = getattr(module, pop).lif
        cell.p = cell.p._replace(v_reset=torch.as_tensor(graph.nodes[pop].v_reset, dtype=torch.float32))
    return module


def frozen_oracle_spikes(arrays, config, params, images):
    """X, E, I rasters of the oracle in the frozen configuration the graph describes: no
    learning, no sleep, sigma_wake = sigma_sleep = 0, adaptation frozen at the model file's
    value (the neuron's k_a = 1, delta_a = 0: tau_a -> infinity, no increments), membranes and
    pending drive at rest."""
    from lava_sleep.reference import ReferenceSimulator

    sim = ReferenceSimulator(params, int(config["seed"]))
    sim.load_state_dict(files.prefixed(arrays, "state_"))
    sim.u[:] = 0.0
    sim.v[:] = 0.0
    sim.pending[:] = 0.0
    sim.nc = dataclasses.replace(sim.nc, k_a=1.0, delta_a=0.0)
    out = sim.run(images, learn=False, sleep_on=False, record_spikes=True)
    return out.spikes["X"], out.spikes["E"], out.spikes["I"]


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    """A trained run of the paper network (225 inputs, 200 E, 50 I), 20 % sleep."""
    out = tmp_path_factory.mktemp("export") / "paper"
    assert cli.main(["train", "--dataset", "digits", "--n-train", "100", "--n-test", "20",
                     "--sleep-fraction", "0.2", "--seed", "0", "--no-progress", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_norse_runs_the_exported_network_spike_for_spike(paper_run, tmp_path, torch_single_thread):
    """Norse 1.1.0 (pinned in the dev extra) runs the exported file on our encoder's input
    raster and reproduces our oracle's E and I spikes exactly, step for step, over 2,100 steps.

    Tolerance 0 (every spike of every neuron in every step): both sides compute forward Euler
    of the same equations (docs/export.md); Norse in float32 and we in float64, and no
    membrane in these steps comes within float32 rounding of its threshold. Conventions:
    dt = 1e-3 s passed to Norse's importer (it multiplies dt / tau with tau in seconds, Norse
    issue 411); unit spikes; voltages relative to v_rest (the initial state 0 is rest); the
    delays and the reset value of :func:`norse_module`; the input raster is the one our
    encoder produced (ReferenceSimulator.run(record_spikes=True)).
    """
    out = tmp_path / "paper.nir"
    assert _export(paper_run, out) == 0
    arrays, config = files.read_model(paper_run)
    params = P.ModelParams.from_dict(config["params"])
    params = dataclasses.replace(
        params, neuron=dataclasses.replace(params.neuron, sigma_wake=0.0, sigma_sleep=0.0),
        input=dataclasses.replace(params.input, max_rate_hz=COMPARE_RATE_HZ))
    from lava_sleep.data import load_dataset
    from lava_sleep.experiment.data import flatten_resized
    images = flatten_resized(load_dataset("digits").images[:N_IMAGES], params.input.image_size)
    X, E, I = frozen_oracle_spikes(arrays, config, params, images)
    n_steps = len(X)
    assert n_steps == N_IMAGES * params.input.steps_per_image >= 1000
    assert E.sum() > 5000 and I.sum() > 300  # both populations fire
    # the membrane clamp (dropped by the export) never acted: the same run without it is equal
    unclamped = dataclasses.replace(params, neuron=dataclasses.replace(params.neuron, v_min=-200.0))
    _, E2, I2 = frozen_oracle_spikes(arrays, config, unclamped, images)
    assert np.array_equal(E, E2) and np.array_equal(I, I2)

    graph = nir.read(str(out))
    module = norse_module(graph, forward_pathways=("XE", "EI"))
    order = [n.name for n in module.execution_order]
    # the executor convention the delays rely on: E runs before EE and IE (their edges into E
    # close cycles and are delayed), XE before E and EI before I (forward, not delayed)
    assert order.index("XE") < order.index("E") < order.index("EE")
    assert order.index("EI") < order.index("I") < order.index("IE") and order.index("E") < order.index("IE")
    state = None
    got_e = np.zeros_like(E)
    got_i = np.zeros_like(I)
    x = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        for t in range(n_steps):
            _, state = module(x[t][None], state)
            got_e[t] = state.cache["E"][0].numpy() > 0
            got_i[t] = state.cache["I"][0].numpy() > 0
    mismatch = [(t, int((got_e[t] != E[t]).sum()), int((got_i[t] != I[t]).sum()))
                for t in range(n_steps) if (got_e[t] != E[t]).any() or (got_i[t] != I[t]).any()]
    assert not mismatch, f"first differing steps (step, E, I): {mismatch[:5]} of {len(mismatch)}"
    assert int(got_e.sum()) == int(E.sum()) and int(got_i.sum()) == int(I.sum())


def test_norse_plain_import_loads_the_file_but_drops_v_reset(paper_run, tmp_path):
    """Norse's plain ``from_nir`` imports and runs the file as it is; its neurons reset to 0
    instead of the graph's v_reset (why norse_module sets it)."""
    from norse.torch import from_nir

    out = tmp_path / "paper.nir"
    assert _export(paper_run, out) == 0
    graph = nir.read(str(out))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = from_nir(graph, dt=float(graph.metadata["dt"]))
    assert float(module.E.lif.p.v_reset) == 0.0 and graph.nodes["E"].v_reset[0] == -10.0
    x = torch.zeros(1, graph.nodes["XE"].weight.shape[1])
    _, state = module(x, None)
    assert state.cache["E"].shape == (1, graph.nodes["E"].v_threshold.shape[0])
