"""A trained STDP run as a Loihi 2 deployment file (``lava-sleep export RUN_DIR --format loihi OUT.json``).

The file holds what a deployment of the Loihi-native network (processes/loihi_native: Lava's
fixed-point LIF, Sparse / LearningSparse with the three-factor rule :class:`LoihiSleepSTDP`, the
on-chip sleep) needs, in Loihi's integer formats, whatever the run's number format was:

* per pathway: the trained weights as signed 8-bit mantissas (float runs quantized with the
  fixed-point format of :func:`lava_sleep.fixed.to_fixed` exactly as the fixed model does,
  :func:`~lava_sleep.fixed.quantize_weights`; fixed runs: their integer magnitudes) with the
  shared ``weight_exp``, the structural mask (CSR index lists), and for plastic pathways the
  learning rule (``dw``), trace impulses and time constants, ``t_epoch`` and the tag;
* per population: Lava's fixed LIF constants (du, dv, vth, bias) as
  ``native_constants(params, init, "fixed")`` computes them, the trained adaptation frozen into
  per-neuron thresholds, and the noise;
* the on-chip sleep (or "none"), and an estimate of cores and synaptic memory under stated
  assumptions.

Every constant is checked against what Loihi / Lava can hold (:func:`representability`); a value
outside is a one-line RunError and nothing is written. docs/export.md ("Loihi 2 deployment file")
describes every key.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from lava_sleep import __version__
from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError
from lava_sleep.export.nir import check_out_path, network_from_model
from lava_sleep.params import PATHWAY_NAMES, ParamError, loihi_literal

#: Value of the file's ``format`` key.
FORMAT = "lava-sleep-loihi/1"
#: Signed weight mantissa: 8-bit magnitude (Lava's Sparse with sign mode excitatory/inhibitory).
WEIGHT_MANT_MAX = 255
#: Shared weight exponent range (this project's assumption for Loihi 2: a 4-bit signed exponent).
WEIGHT_EXP_RANGE = (-8, 7)
#: Learning epoch: a 6-bit field (lava.magma.core.learning.constants.W_EPOCH_TIME).
T_EPOCH_MAX = 63
#: Trace impulse / trace value: 7 bits (W_TRACE).
TRACE_MAX = 127
#: Trace time constant as Lava's fixed-point learning connection holds it (an 8-bit integer).
TRACE_TAU_RANGE = (1, 255)
#: Tag t (tag_1): 8-bit magnitude plus sign (W_TAG_1_U).
TAG_MAX = 255
#: Lava's fixed LIF (PyLifModelBitAcc): 12-bit du / dv, 17-bit unsigned vth, 13-bit signed bias
#: mantissa with a 3-bit exponent.
DECAY_MAX = 4095
VTH_MAX = 2**17 - 1
BIAS_MANT_RANGE = (-4096, 4095)
BIAS_EXP_MAX = 7
#: Lava's learning-rule scaling factors (ProductSeries): 4-bit signed mantissa, exponent -7..8.
LIT_MANT_RANGE = (-8, 7)
LIT_EXP_RANGE = (-7, 8)
#: Resource assumptions (this project's, not measured on hardware).
CORE_NEURONS = 8192
CORE_SYN_BYTES = 128 * 1024
BITS_STATIC = 16
BITS_LEARNING = 32
ASSUMPTIONS = {
    "source": "this project's assumptions for Loihi 2, not measured on hardware",
    "neurons_per_core": CORE_NEURONS,
    "synaptic_memory_bytes_per_core": CORE_SYN_BYTES,
    "bits_per_static_synapse": BITS_STATIC,
    "bits_per_learning_synapse": BITS_LEARNING,
    "synapse_bits_note": "static: 8-bit weight + 8 bits of addressing; learning: 8-bit weight, "
                         "8-bit tag t and 16 bits of addressing and learning-profile overhead",
    "placement": "a pathway's synapses live on the cores of its post population (fan-in); a "
                 "population takes max(ceil(neurons / neurons_per_core), ceil(synaptic bytes / "
                 "synaptic_memory_bytes_per_core)) cores; the input X, the noise and the sleep gate "
                 "are spike sources driven from the host or an embedded CPU and take no neuro core",
}
#: How a consumer reads the numbers (the file's ``units`` key).
UNITS = {
    "time": "steps of dt_ms milliseconds",
    "weights": "signed mantissa m (post x pre); Lava's Sparse adds sum(m s) * 2**weight_exp to a_in, "
               "which Lava's fixed LIF shifts << 6 into u: a spike through m adds m * 2**(weight_exp + 6) "
               "voltage units to u (1 mV = 2**v_frac_bits units); in lava-sleep weight units "
               "w = m * 2**(weight_exp + 6) / 2**v_frac_bits / gain (gain = r_m dt**2 / (tau_m tau_syn), "
               "mV per weight unit per spike), i.e. w = m * lsb",
    "neurons": "Lava's fixed LIF (PyLifModelBitAcc): u <- u (4096 - du - 1) / 4096 + (a_in << 6), "
               "v <- v (4096 - dv) / 4096 + u + (bias_mant << bias_exp), spike when v > vth << 6, "
               "reset to 0; v relative to v_rest",
    "noise": "standard deviation per step of a Gaussian added to a_in (LSB of a_in, before the << 6)",
    "mask": "CSR, rows = post neurons: synapses of post i are indices[indptr[i]:indptr[i + 1]] "
            "(pre indices, ascending)",
}


def lava_missing_message() -> str:
    """The one line the export gives where lava-nc is missing (e.g. on Python 3.11+)."""
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return ("export format 'loihi' needs Python 3.10 with lava-nc 0.10 (it derives the constants with "
            "the Loihi-native variant's Lava code; lava-nc supports only Python >=3.10,<3.11; this is "
            f"Python {py} without it): use --format nir, or the Python 3.10 environment that "
            "`make demo` / `make test` set up (.venv)")


def _native():
    """processes/loihi_native.process (imports Lava); RunError (one line) without lava-nc."""
    from lava_sleep.backends import lava_available

    if not lava_available():
        raise RunError(lava_missing_message())
    try:
        from lava_sleep.processes.loihi_native import process
    except ImportError:
        raise RunError(lava_missing_message()) from None
    return process


def _out_path(out) -> Path:
    out = Path(out)
    if str(out) not in ("", ".") and out.is_dir():
        raise RunError(f"OUT {out} is a folder; give a file path, e.g. {out / 'model.loihi.json'}")
    parent = out.parent if str(out.parent) else Path(".")
    if str(out) not in ("", "."):
        p = parent
        while not p.exists() and p != p.parent:
            p = p.parent
        if p.exists() and not p.is_dir():
            raise RunError(f"OUT {out} cannot be written: {p} is a file, not a folder")
        if not parent.exists():
            raise RunError(f"folder of OUT {parent} does not exist (create it first)")
    return check_out_path(out)


def _fail(where, what: str) -> RunError:
    return RunError(f"{where}: not deployable on Loihi 2: {what}")


def _in(where, value, lo, hi, what: str) -> None:
    if not lo <= value <= hi:
        raise _fail(where, f"{what} = {value} is outside [{lo}, {hi}]")


def _lit_ok(where, lit, what: str) -> None:
    m, e = lit
    if not (LIT_MANT_RANGE[0] <= m <= LIT_MANT_RANGE[1] and LIT_EXP_RANGE[0] <= e <= LIT_EXP_RANGE[1]):
        raise _fail(where, f"{what} {m} * 2^{e} is outside Lava's learning-rule scaling range "
                           f"(mantissa {LIT_MANT_RANGE[0]}..{LIT_MANT_RANGE[1]}, exponent "
                           f"{LIT_EXP_RANGE[0]}..{LIT_EXP_RANGE[1]})")


def _csr(mask: np.ndarray) -> dict:
    rows, cols = np.nonzero(mask)  # row-major: ascending pre index per post row
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=mask.shape[0]))])
    return {"encoding": "csr", "indptr": indptr.astype(int).tolist(), "indices": cols.astype(int).tolist()}


def _bias(where, b: int) -> tuple[int, int]:
    """(bias_mant, bias_exp) of the integer bias (a_in LSB): exponent 0 when it fits 13 bits."""
    for e in range(BIAS_EXP_MAX + 1):
        m = b >> e
        if BIAS_MANT_RANGE[0] <= m <= BIAS_MANT_RANGE[1] and (m << e) == b:
            return m, e
    raise _fail(where, f"bias {b} is no 13-bit mantissa times 2**(0..{BIAS_EXP_MAX})")


def deployment(arrays: dict, config, where, source: str = "") -> dict:
    """The deployment document (a JSON-ready dict) of a model file's ``arrays`` and ``config``;
    RunError (one line) for whatever Loihi 2 or the Loihi-native variant cannot hold."""
    from lava_sleep.fixed import LAVA_ACT_SHIFT, quantize_weights, synaptic_gain, to_fixed
    from lava_sleep.network import build_network
    from lava_sleep.rng import NORMAL_INT_SD

    if isinstance(config, dict) and config.get("model", "stdp") == "sg":
        raise RunError(f"{where}: a surrogate-gradient (SG) run; the Loihi export takes STDP runs only "
                       "(the recurrent E/I network of `lava-sleep train --model stdp`)")
    native = _native()
    net = network_from_model(arrays, config, where)
    params, notes = net.params, []
    seed = config.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise RunError(f"{where}: model file lacks the run's seed in config_json (the tags need the "
                       "initial network); train the run again")
    st, sp, nrn = params.stdp, params.sleep, params.neuron
    # -- what the Loihi-native variant refuses -------------------------------------------------
    if params.network.n_inh < 1:
        raise _fail(where, "the Loihi-native variant needs at least one inhibitory neuron (n_inh = 0)")
    if st.t_epoch > T_EPOCH_MAX:
        raise _fail(where, f"stdp.t_epoch = {st.t_epoch} exceeds Loihi's 6-bit learning epoch "
                           f"(t_epoch <= {T_EPOCH_MAX})")
    sleeping = sp.fraction > 0
    if sleeping and sp.site == "host":
        try:
            on = sp.onchip()
        except ParamError as exc:
            raise _fail(where, f"the run's host sleep has no on-chip form ({exc})") from None
        m, e = loihi_literal(1.0 - on.lam**on.block)
        notes.append(f"the run slept in the host form ({sp.form}/{sp.target}, block {sp.block}, "
                     f"decay_noise {sp.decay_noise}, tol {sp.tol}); the file holds the on-chip conversion "
                     f"SleepParams.onchip(): linear decay toward the static target every {on.block} steps "
                     f"asleep, c = {m} * 2^{e}; the trained weights are the host-form run's")
        params = replace(params, sleep=on)
        sp = on
    if sleeping and not st.learn_in_sleep:
        raise _fail(where, "the Loihi-native variant learns in sleep only (stdp.learn_in_sleep = false)")
    if sleeping and sp.block % st.t_epoch:
        raise _fail(where, f"the on-chip decay needs sleep.block ({sp.block}) a multiple of stdp.t_epoch "
                           f"({st.t_epoch})")
    init = build_network(params, seed)
    try:
        consts = native.native_constants(params, init, "fixed")
        fc = to_fixed(params)
    except ParamError as exc:
        raise _fail(where, str(exc)) from None
    gain = synaptic_gain(params)
    vfb = fc.v_frac_bits
    # -- pathways --------------------------------------------------------------------------------
    sizes = params.sizes()
    pathways, syn_counts = {}, {}
    plastic = params.network.plastic_pathways
    for n in PATHWAY_NAMES:
        pw, pf = params.network.pathway(n), fc.pathways[n]
        mask, w = net.masks[n], net.weights[n]
        sm = arrays.get(f"state_m_{n}")
        if net.mode == "fixed" and sm is not None and np.issubdtype(np.asarray(sm).dtype, np.integer) \
                and np.shape(sm) == mask.shape:
            mag = np.where(mask, np.abs(np.asarray(sm, dtype=np.int64)), 0)
            how = "the fixed-point run's integer magnitudes (model.npz state_m), unchanged"
        else:
            mag = np.where(mask, quantize_weights(np.abs(w), pf), 0)
            how = ("quantized from the trained weights (model.npz w): round half to even to the "
                   "pathway's LSB, clipped to [0, m_max] (lava_sleep.fixed.quantize_weights)")
        mant = pw.sign * mag
        err = float(np.max(np.abs(w - mant * pf.lsb)[mask])) if mask.any() else 0.0
        if np.abs(mant).max(initial=0) > WEIGHT_MANT_MAX:
            raise _fail(where, f"pathway {n}: weight mantissa {int(np.abs(mant).max())} exceeds 8 bits "
                               f"(|m| <= {WEIGHT_MANT_MAX})")
        wexp = int(consts.weight_exp[n])
        if not WEIGHT_EXP_RANGE[0] <= wexp <= WEIGHT_EXP_RANGE[1]:
            raise _fail(where, f"pathway {n}: weight_exp = {wexp} (shift {pf.shift} - {LAVA_ACT_SHIFT}) is "
                               f"outside Loihi's weight exponent range {list(WEIGHT_EXP_RANGE)}")
        nsyn = int(mask.sum())
        syn_counts[n] = nsyn
        entry = {
            "pre": n[0], "post": n[1], "shape": [sizes[n[1]], sizes[n[0]]], "sign": pw.sign,
            "plastic": n in plastic, "n_synapses": nsyn, "delay_steps": 1,
            "weight_exp": wexp, "weights": mant.astype(int).tolist(), "mask": _csr(mask),
            "quantization": {"lsb": pf.lsb, "shift": pf.shift, "m_max": pf.m_max,
                             "max_abs_error": err, "source": how},
            "learning": None,
        }
        if n in plastic:
            entry["learning"] = _learning(where, n, params, consts, fc, init, pf)
        pathways[n] = entry
    # -- populations ---------------------------------------------------------------------------
    du, dv, vth = int(consts.du), int(consts.dv), int(consts.vth)
    _in(where, du, 0, DECAY_MAX, "LIF du (12 bits; tau_syn too long or too short for the step)")
    _in(where, dv, 0, DECAY_MAX, "LIF dv (12 bits; tau_m too long or too short for the step)")
    _in(where, vth, 0, VTH_MAX, "LIF vth (17-bit unsigned)")
    bias_mant, bias_exp = _bias(where, int(consts.bias))
    n_e = params.network.n_exc
    adapt_int = np.rint(net.adaptation * 2.0**vfb).astype(np.int64)
    has_adapt = bool(np.any(adapt_int != 0))
    f = native.noise_factor(params)
    populations = {"X": {"size": sizes["X"], "kind": "input spike source (host raster)"}}
    for pop, sl in (("E", slice(0, n_e)), ("I", slice(n_e, None))):
        a = adapt_int[sl]
        frozen = (fc.v_thresh + a) >> LAVA_ACT_SHIFT
        if has_adapt:
            bad = frozen[(frozen < 0) | (frozen > VTH_MAX)]
            if bad.size:
                raise _fail(where, f"population {pop}: threshold with frozen adaptation {int(bad[0])} "
                                   f"is outside the 17-bit unsigned vth [0, {VTH_MAX}]")
        populations[pop] = {
            "size": sizes[pop], "kind": "LIF (Lava fixed_pt)",
            "du": du, "dv": dv, "vth": vth, "bias_mant": bias_mant, "bias_exp": bias_exp,
            "vth_frozen": frozen.astype(int).tolist() if has_adapt else None,
            "adaptation_units": a.astype(int).tolist() if has_adapt else None,
            "noise": {"sd_a_in_wake": consts.noise[0] * NORMAL_INT_SD,
                      "sd_a_in_sleep": consts.noise[1] * NORMAL_INT_SD,
                      "sigma_wake_mV": nrn.sigma_wake, "sigma_sleep_mV": nrn.sigma_sleep,
                      "noise_factor": f},
            "post_trace": None,
        }
        if pop in consts.post:
            pt = consts.post[pop]
            keep = int(pt.keep)
            _in(where, keep, 1, DECAY_MAX, f"population {pop}: post-trace keep factor (12 bits)")
            populations[pop]["post_trace"] = {"y1_impulse": pt.impulse, "y1_keep": keep,
                                              "y1_tau": st.tau_minus / nrn.dt}
    if has_adapt:
        notes.append("threshold adaptation: frozen at the model file's final value per neuron into "
                     "vth_frozen ((v_thresh_int + a_int) >> 6); Lava's LIF holds one vth per population "
                     "(vth, the base threshold, what the Loihi-native variant uses), so vth_frozen needs a "
                     "neuron with per-neuron thresholds; with vth alone the adaptation is dropped")
    else:
        notes.append("threshold adaptation: none in the model file (all zero); vth is the base threshold")
    notes.append("noise: Lava's LIF has no noise input; the Loihi-native variant adds a Gaussian of the "
                 "stated sd to a_in every step (a host raster); the sd maps the run's membrane noise so "
                 "that a free membrane keeps its stationary variance (noise_factor)")
    notes.append("dropped: the membrane clamp [v_min, v_max], reset to v_reset (Lava resets to 0 = v_rest)")
    # -- sleep, resources ------------------------------------------------------------------------
    sleep = _sleep(where, params, consts, native) if sleeping else "none"
    resources = _resources(sizes, syn_counts, plastic)
    p = params
    doc = {
        "format": FORMAT,
        "producer": f"lava-sleep {__version__}",
        "source_run": source,
        "model": "stdp",
        "mode": net.mode,
        "target": "Loihi 2: the Loihi-native network (processes/loihi_native): Lava's LIF (fixed_pt), "
                  "Sparse / LearningSparse with a Loihi3FLearningRule, on-chip sleep",
        "dt_ms": nrn.dt,
        "units": UNITS,
        "fixed_point": {"v_frac_bits": vfb, "act_shift": LAVA_ACT_SHIFT, "gain_mV_per_weight": gain,
                        "w_bits": p.fixed.w_bits, "w_scale": p.fixed.w_scale},
        "input": {"size": p.n_input, "image_size": p.input.image_size, "max_rate_hz": p.input.max_rate_hz,
                  "steps_per_image": p.input.steps_per_image, "rest_steps": p.input.rest_steps,
                  "encoding": "Bernoulli rate code: pixel j spikes in a step with probability "
                              "intensity_j/255 * max_rate_hz * dt"},
        "params": net.params.to_dict(),
        "run": {k: v for k, v in net.meta.items() if k != "fixed_point"},
        "populations": populations,
        "pathways": pathways,
        "sleep": sleep,
        "resources": resources,
        "notes": notes,
    }
    return files.jsonable(doc)


def _learning(where, n, params, consts, fc, init, pf) -> dict:
    """The learning entry of plastic pathway ``n`` (checked)."""
    st, nrn = params.stdp, params.neuron
    rule = consts.rules[n]
    _lit_ok(where, rule.stdp_lit, f"pathway {n}: STDP scaling factor")
    if rule.decay_lit is not None:
        _lit_ok(where, rule.decay_lit, f"pathway {n}: decay scaling factor")
    lv = rule.stdp_lit[0] * 2.0 ** rule.stdp_lit[1]
    scale = 2.0 ** -fc.dw_frac_bits
    for what, eta in (("x1 (pre)", pf.eta_plus), ("y1 (post)", pf.eta_minus)):
        imp = st.trace_impulse * eta * scale / lv
        if imp > TRACE_MAX:
            raise _fail(where, f"pathway {n}: {what} trace impulse {imp:.4g} exceeds the 7-bit trace "
                               f"(<= {TRACE_MAX}; lower stdp.trace_impulse)")
    tau = float(rule.x1_tau)
    if tau != round(tau) or not TRACE_TAU_RANGE[0] <= tau <= TRACE_TAU_RANGE[1]:
        raise _fail(where, f"pathway {n}: pre-trace time constant x1_tau = {tau:g} steps is no 8-bit "
                           f"integer {list(TRACE_TAU_RANGE)} (Lava's fixed-point learning connection)")
    m0 = init.masks[n]
    tags = np.asarray(consts.tags[n])[m0]
    tag = float(tags[0]) if tags.size else 0.0
    if tag != round(tag) or abs(tag) > TAG_MAX:
        raise _fail(where, f"pathway {n}: tag {tag:g} is no 8-bit signed integer (|t| <= {TAG_MAX})")
    post = consts.post[n[1]]
    return {
        "rule": "Loihi3FLearningRule (LoihiSleepSTDP)",
        "dw": rule.dw_string,
        "x1_impulse": float(rule.x1_impulse),
        "x1_tau": int(tau),
        "y1_impulse": float(post.impulse),
        "y1_tau": st.tau_minus / nrn.dt,
        "y1_keep": int(post.keep),
        "y1_source": "the post neuron (SleepGatedLIF) sends y1 decayed by y1_keep / 4096 per step "
                     "(stochastic rounding) and adds y1_impulse per spike",
        "y2_source": "the sleep gate: y2_level on decay steps, else 0 (see sleep)",
        "t_epoch": int(st.t_epoch),
        "tag": int(tag),
        "tag_note": "tag_1 (t) holds the static target sign * t_p on every existing synapse (t_p: mean "
                    "initial integer magnitude of the pathway, rounded)",
        "stdp_scaling": list(rule.stdp_lit),
        "decay_scaling": list(rule.decay_lit) if rule.decay_lit is not None else None,
    }


def _sleep(where, params, consts, native) -> dict:
    sp = params.sleep
    lit = loihi_literal(1.0 - sp.lam**sp.block) if sp.lam < 1.0 else (0, 0)
    decay = native.sleep_enabled(params)
    dl = None
    if decay:
        rule = next(iter(consts.rules.values()), None)
        dl = rule.decay_lit if rule is not None else None
        _in(where, consts.y2_level, 1, TRACE_MAX, "y2 level (7-bit third factor)")
    c_eff = (dl[0] * 2.0 ** dl[1] * consts.y2_level * 2.0 ** -native.FIXED_PRODUCT_SHIFT) if dl else 0.0
    return {
        "site": "onchip",
        "fraction": sp.fraction,
        "period": sp.period,
        "episode_rule": "after every period-th wake step, sleep episode k (k = 1, 2, ...) of "
                        "floor(k P + 1/2) - floor((k - 1) P + 1/2) steps, P = period f / (1 - f) "
                        "(SleepParams.episode_length)",
        "first_episodes": [sp.episode_length(k) for k in range(1, 6)],
        "block": sp.block,
        "lam": sp.lam,
        "decay": decay,
        "c_mantissa": lit[0],
        "c_exponent": lit[1],
        "c": lit[0] * 2.0 ** lit[1],
        "c_exact": 1.0 - sp.lam**sp.block,
        "rule_decay_scaling": list(dl) if dl else None,
        "y2_level": consts.y2_level,
        "c_fixed": c_eff,
        "c_fixed_note": "the rule's decay terms give dm = -D y2 (w - t) 2**-5 per decay step "
                        "(D = rule_decay_scaling, Lava's bit-approximate product shift)",
        "gate": "y2 = y2_level on the global steps t (steps done, Lava's 1-based time step) with "
                "t % block == 0 while asleep, else 0; while asleep the input is silent, the noise is "
                "sigma_sleep and STDP runs (learn_in_sleep); no early wake-up, so the schedule is "
                "known in advance",
        "learn_in_sleep": params.stdp.learn_in_sleep,
    }


def _resources(sizes, syn_counts, plastic) -> dict:
    pops = {}
    total = 0
    for pop in ("E", "I"):
        incoming = [n for n in PATHWAY_NAMES if n[1] == pop]
        bits = sum(syn_counts[n] * (BITS_LEARNING if n in plastic else BITS_STATIC) for n in incoming)
        nbytes = math.ceil(bits / 8)
        cores = max(math.ceil(sizes[pop] / CORE_NEURONS), math.ceil(nbytes / CORE_SYN_BYTES), 1)
        pops[pop] = {"neurons": sizes[pop], "incoming": incoming,
                     "synapses": sum(syn_counts[n] for n in incoming), "synaptic_bytes": nbytes,
                     "cores": cores}
        total += cores
    return {"assumptions": ASSUMPTIONS, "populations": pops, "cores": total,
            "synaptic_bytes": sum(v["synaptic_bytes"] for v in pops.values())}


def export_run(run_dir, out) -> dict:
    """Write the Loihi 2 deployment file of the STDP run in ``run_dir`` to ``out`` atomically."""
    from lava_sleep.io import atomic_write_bytes

    out = _out_path(out)
    arrays, config = files.read_model(run_dir)
    doc = deployment(arrays, config, Path(run_dir) / files.MODEL, source=str(run_dir))
    data = (json.dumps(doc, separators=(",", ":")) + "\n").encode()
    try:
        atomic_write_bytes(out, data)
    except OSError as exc:
        raise RunError(f"cannot write {out} ({exc.strerror or type(exc).__name__})") from None
    return {"out": str(out), "format": "loihi", "bytes": len(data), "mode": doc["mode"],
            "pathways": {n: {"synapses": v["n_synapses"], "plastic": v["plastic"]}
                         for n, v in doc["pathways"].items()},
            "cores": doc["resources"]["cores"], "notes": len(doc["notes"])}


def read_deployment(path) -> dict:
    """The document of an exported file, checked to be ours (RunError otherwise)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RunError(f"{path}: not a lava-sleep Loihi deployment file")
    return doc
