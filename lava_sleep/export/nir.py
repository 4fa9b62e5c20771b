"""A trained STDP run as a NIR graph (``lava-sleep export RUN_DIR --format nir OUT.nir``).

NIR (the Neuromorphic Intermediate Representation, package ``nir`` 1.0) describes a network
as a graph of continuous-time nodes. The trained network maps to it as follows (the full
table, what is lost and how consumers read it: docs/export.md)::

    input (n_x) -> XE -> E
    E -> EE -> E        E -> EI -> I        I -> IE -> E        E -> output (n_exc)

* ``XE``, ``EE``, ``EI``, ``IE``: ``nir.Linear`` (post x pre), the signed trained weights
  (model.npz ``w_*``; fixed-point runs: dequantized), exact zeros where the structural mask
  has no synapse; the mask itself is in the node's metadata.
* ``E``, ``I``: ``nir.CubaLIF`` with per-neuron arrays. NIR's equations
  ``tau_syn dI/dt = -I + w_in S`` and ``tau_mem dv/dt = (v_leak - v) + R I`` integrated by
  forward Euler with step dt and unit spikes (S = 1 in a step with a spike) are our neuron
  (docs/model.md) with ``R = r_m``, ``U = r_m I dt / tau_m``. Units: seconds for time
  constants (our ms * 1e-3; dt = 1e-3 s), mV *relative to v_rest* for voltages (so the
  resting state is v = 0, where every consumer starts), ``r`` in mV per weight unit,
  ``w_in`` = 1. ``v_leak = bias * tau_m / dt`` (0 without bias).
* Frozen: threshold adaptation at the model file's final value per neuron, folded into
  ``v_threshold = (v_thresh - v_rest) + a_i``. Dropped: membrane noise, STDP, sleep, the
  membrane clamp [v_min, v_max]. Not a node: the one-step delay of every pathway (NIR has a
  ``Delay`` node, but the consumers we checked cannot run it, and in a recurrent graph a
  simulator inserts its own step of delay on edges that close a cycle): it is recorded in
  the metadata (``pathway_delay_steps`` = 1) and docs/export.md says how to reproduce it.

Everything else (dt, the input rate and encoding, the full parameter set, the fixed-point
scales of ``--mode fixed`` runs) is graph metadata.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lava_sleep import __version__
from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError
from lava_sleep.params import PATHWAY_NAMES, ModelParams, ParamError

#: Value of the graph's ``metadata["format"]``.
FORMAT = "lava-sleep-nir/1"
#: Our times are milliseconds; NIR time constants are seconds.
MS = 1e-3
#: Arrays of model.npz the export needs (the trained weights, masks and adaptation).
REQUIRED_ARRAYS = (*(f"w_{n}" for n in PATHWAY_NAMES), *(f"mask_{n}" for n in PATHWAY_NAMES), "state_a")
#: Fields of model.npz's config_json the export needs.
REQUIRED_CONFIG = ("params",)
#: How the network is simplified on the way out (graph metadata ``frozen_dropped``).
FROZEN_DROPPED = {
    "adaptation": "frozen at the model file's final value per neuron (state_a), folded into "
                  "v_threshold; delta_a and tau_a are not part of the graph",
    "noise": "dropped (sigma_wake / sigma_sleep: the graph is noise-free)",
    "plasticity": "dropped (weights frozen at their trained values; no STDP)",
    "sleep": "dropped (no sleep phase, no homeostatic decay)",
    "membrane_clamp": "dropped (v is not clipped to [v_min, v_max])",
    "pathway_delay": "not a node: every pathway delivers one step (dt) after the spike "
                     "(pathway_delay_steps); see docs/export.md",
    "fixed_point": "fixed-point runs export dequantized weights and the float neuron; the "
                   "integer rounding of the fixed-point neuron is not part of the graph",
}


@dataclass(frozen=True)
class ExportedNetwork:
    """What the graph is built from: parameters and trained arrays of one STDP run."""

    params: ModelParams
    mode: str  # "float" or "fixed"
    weights: dict  # pathway -> signed float64 (post x pre), exact 0 where mask is 0
    masks: dict  # pathway -> bool (post x pre)
    adaptation: np.ndarray  # (n_exc + n_inh,) threshold adaptation a in mV, E first
    meta: dict  # run facts for the graph metadata


def _sizes_ok(name: str, arr: np.ndarray, shape: tuple, where) -> None:
    if arr.shape != shape:
        raise RunError(f"{where}: {name} has shape {arr.shape}, the parameters need {shape} "
                       "(damaged model file)")


def network_from_model(arrays: dict, config, where) -> ExportedNetwork:
    """The exportable network of a model file's ``arrays`` and ``config`` (RunError, one line,
    for an SG run, missing pieces, or arrays that do not fit the parameters)."""
    if not isinstance(config, dict):
        raise RunError(f"{where}: corrupted config (config_json is not a JSON object)")
    kind = config.get("model", "stdp")
    if kind == "sg":
        raise RunError(f"{where}: a surrogate-gradient (SG) run; NIR export takes STDP runs only "
                       "(the recurrent E/I network of `lava-sleep train --model stdp`)")
    if kind != "stdp":
        raise RunError(f"{where}: model file of unknown model kind {kind!r}")
    missing = [k for k in REQUIRED_ARRAYS if k not in arrays]
    missing_cfg = [k for k in REQUIRED_CONFIG if k not in config]
    if missing or missing_cfg:
        parts = ([f"arrays {', '.join(missing)}"] if missing else []) + \
                ([f"config_json fields {', '.join(missing_cfg)}"] if missing_cfg else [])
        raise RunError(f"{where}: model file lacks {' and '.join(parts)} (incomplete or damaged; "
                       "train the run again)")
    try:
        params = ModelParams.from_dict(config["params"])
    except (KeyError, TypeError, ParamError) as exc:
        raise RunError(f"{where}: model file holds an unusable configuration ({exc})") from None
    mode = config.get("mode", "float")
    if mode not in ("float", "fixed"):
        raise RunError(f"{where}: unknown number format mode {mode!r} in config_json")
    sizes = params.sizes()
    weights, masks = {}, {}
    for n in PATHWAY_NAMES:
        shape = (sizes[n[1]], sizes[n[0]])
        w = np.asarray(arrays[f"w_{n}"])
        m = np.asarray(arrays[f"mask_{n}"])
        _sizes_ok(f"w_{n}", w, shape, where)
        _sizes_ok(f"mask_{n}", m, shape, where)
        if not np.issubdtype(w.dtype, np.number) or not np.all(np.isfinite(w)):
            raise RunError(f"{where}: w_{n} holds non-finite or non-numeric weights (damaged model file)")
        m = m.astype(bool)
        w = np.where(m, w.astype(np.float64), 0.0)  # structural zeros are exact zeros
        sign = params.network.pathway(n).sign
        if np.any(w * sign < 0):
            raise RunError(f"{where}: w_{n} has weights of the wrong sign for a "
                           f"{'inhibitory' if sign < 0 else 'excitatory'} pathway (damaged model file)")
        weights[n], masks[n] = w, m
    a = np.asarray(arrays["state_a"])
    _sizes_ok("state_a", a, (sizes["E"] + sizes["I"],), where)
    a = a.astype(np.float64)
    scales = None
    if mode == "fixed":
        from lava_sleep.fixed import to_fixed

        try:
            fc = to_fixed(params)
        except ParamError as exc:
            raise RunError(f"{where}: fixed-point run with parameters that have no fixed-point "
                           f"form ({exc})") from None
        a = a / 2.0**fc.v_frac_bits  # state_a is in integer voltage units
        scales = {"v_frac_bits": fc.v_frac_bits, "mV_per_unit": 2.0**-fc.v_frac_bits,
                  "w_bits": params.fixed.w_bits, "w_scale": params.fixed.w_scale,
                  "pathways": {n: {"lsb": fc.pathways[n].lsb, "shift": fc.pathways[n].shift,
                                   "w_mult": fc.pathways[n].w_mult} for n in PATHWAY_NAMES}}
    if not np.all(np.isfinite(a)):
        raise RunError(f"{where}: state_a holds non-finite values (damaged model file)")
    meta = {"seed": config.get("seed"), "backend": config.get("backend"), "image_size":
            config.get("image_size"), "n_classes": config.get("n_classes"),
            "classes": config.get("classes"), "run_key": config.get("run_key"), "fixed_point": scales}
    return ExportedNetwork(params=params, mode=mode, weights=weights, masks=masks, adaptation=a,
                           meta=meta)


def neuron_arrays(net: ExportedNetwork, pop: str) -> dict:
    """CubaLIF parameters of population ``pop`` ("E" or "I") in NIR's units (see module doc)."""
    p = net.params
    nn_ = p.neuron
    n_e, n_i = p.network.n_exc, p.network.n_inh
    sl = slice(0, n_e) if pop == "E" else slice(n_e, n_e + n_i)
    n = n_e if pop == "E" else n_i
    full = np.full(n, 1.0)
    return {
        "tau_syn": full * (nn_.tau_syn * MS),
        "tau_mem": full * (nn_.tau_m * MS),
        "r": full * nn_.r_m,
        "v_leak": full * (nn_.bias * nn_.tau_m / nn_.dt),
        "v_threshold": (nn_.v_thresh - nn_.v_rest) + net.adaptation[sl],
        "v_reset": full * (nn_.v_reset - nn_.v_rest),
        "w_in": full.copy(),
    }


def _clean(obj):
    """Metadata NIR's HDF5 writer can store: no None (-> ""), numeric lists as arrays, nested dicts."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if obj is None:
        return ""
    if isinstance(obj, (list, tuple)):
        arr = np.asarray(obj)
        # HDF5 (h5py) stores numeric arrays, not NumPy unicode arrays: other lists as JSON
        return arr if arr.dtype.kind in "biuf" else json.dumps(list(obj))
    return obj


def graph_metadata(net: ExportedNetwork, source: str = "") -> dict:
    p = net.params
    n = p.neuron
    return _clean({
        "format": FORMAT,
        "producer": f"lava-sleep {__version__}",
        "source_run": source,
        "model": "stdp",
        "mode": net.mode,
        "dt": n.dt * MS,
        "dt_ms": n.dt,
        "time_unit": "s",
        "voltage_unit": "mV relative to v_rest",
        "v_rest_mV": n.v_rest,
        "weight_unit": "weight units: a spike through weight w adds r*w*dt/tau_syn to I, "
                       "i.e. r*w*dt^2/(tau_mem*tau_syn) mV to the per-step voltage increment",
        "spike_convention": "unit spikes: S = 1 in a step with a spike (forward Euler); "
                            "a consumer integrating spikes as Dirac impulses scales weights by dt/1 s",
        "pathway_delay_steps": 1,
        "input_rate_hz": p.input.max_rate_hz,
        "input_encoding": "Bernoulli rate code: pixel j spikes in a step with probability "
                          "intensity_j/255 * input_rate_hz * dt",
        "steps_per_image": p.input.steps_per_image,
        "image_size": p.input.image_size,
        "population_sizes": {"X": p.n_input, "E": p.network.n_exc, "I": p.network.n_inh},
        "sleep_fraction": p.sleep.fraction,
        "frozen_dropped": FROZEN_DROPPED,
        "params_json": json.dumps(p.to_dict(), sort_keys=True),
        "run": net.meta,
    })


def build_graph(net: ExportedNetwork, source: str = ""):
    """The ``nir.NIRGraph`` of ``net`` (nodes and edges of the module doc)."""
    import nir

    p = net.params
    n_x, n_e, n_i = p.n_input, p.network.n_exc, p.network.n_inh
    pops = ("E", "I") if n_i > 0 else ("E",)
    pathways = [n for n in PATHWAY_NAMES if all(q in ("X", *pops) for q in n)]
    nodes = {"input": nir.Input(input_type={"input": np.array([n_x])})}
    for pop in pops:
        a = net.adaptation[:n_e] if pop == "E" else net.adaptation[n_e:]
        nodes[pop] = nir.CubaLIF(**neuron_arrays(net, pop), metadata={
            "population": pop, "adaptation_mV": a, "base_threshold_mV": p.neuron.v_thresh - p.neuron.v_rest})
    for n in pathways:
        pw = p.network.pathway(n)
        nodes[n] = nir.Linear(weight=net.weights[n], metadata={
            "pathway": n, "pre": n[0], "post": n[1], "sign": pw.sign, "plastic": pw.plastic,
            "w_max": pw.w_max, "delay_steps": 1, "mask": net.masks[n].astype(np.uint8)})
    nodes["output"] = nir.Output(output_type={"output": np.array([n_e])})
    edges = [("input", "XE")]
    for n in pathways:
        src = "input" if n[0] == "X" else n[0]
        if src != "input":
            edges.append((src, n))
        edges.append((n, n[1]))
    edges.append(("E", "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph_metadata(net, source))


def graph_bytes(graph) -> bytes:
    """The HDF5 bytes ``nir.write`` produces for ``graph``."""
    import nir

    buf = io.BytesIO()
    nir.write(buf, graph)
    return buf.getvalue()


def check_out_path(out) -> Path:
    """RunError (one line) unless ``out`` can become a file (probed by writing beside it)."""
    out = Path(out)
    if str(out) in ("", "."):
        raise RunError("OUT must be a file path, e.g. model.nir")
    if out.is_dir():
        raise RunError(f"OUT {out} is a folder; give a file path, e.g. {out / 'model.nir'}")
    files.check_out_dir(out.parent if str(out.parent) else Path("."), what="folder of OUT")
    return out


def export_run(run_dir, out) -> dict:
    """Write the NIR graph of the STDP run in ``run_dir`` to ``out`` atomically; a summary."""
    from lava_sleep.io import atomic_write_bytes

    out = check_out_path(out)
    arrays, config = files.read_model(run_dir)
    net = network_from_model(arrays, config, Path(run_dir) / files.MODEL)
    graph = build_graph(net, source=str(run_dir))
    data = graph_bytes(graph)
    try:
        atomic_write_bytes(out, data)
    except OSError as exc:
        raise RunError(f"cannot write {out} ({exc.strerror or type(exc).__name__})") from None
    return {"out": str(out), "format": "nir", "bytes": len(data), "mode": net.mode,
            "nodes": sorted(graph.nodes), "edges": len(graph.edges),
            "synapses": {n: int(m.sum()) for n, m in net.masks.items()}}


def read_graph(path):
    """``nir.read`` of an exported file, checked to be ours (RunError otherwise)."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such file")
    try:
        g = nir.read(os.fspath(path))
    except Exception as exc:  # h5py/nir raise many kinds on a damaged file
        raise RunError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})") from None
    fmt = g.metadata.get("format", "") if isinstance(g.metadata, dict) else ""
    if fmt != FORMAT:
        raise RunError(f"{path}: not a lava-sleep NIR export (metadata format {fmt!r})")
    return g
