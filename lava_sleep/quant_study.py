"""Fixed-point quantization study: how few bits does sleep-regularized STDP need?

A grid of fixed-point precision *cells* (weight scale x weight bits x trace bits x update
fraction bits x sleep-decay fraction bits x rounding mode; docs/model.md "Fixed-point
precision") plus the float model
as the reference cell, each run at every sleep fraction and seed. Per seed, every cell uses
the same data split and the same network draw (paired design).

Folder layout (``STUDY_DIR``)::

    quant.json          the study's configuration (what a resumed study must match)
    cells/<cell key>/   one resumable sweep (lava_sleep.sweep) per cell: its sleep fractions
                        and seeds share simulator batches
    runs.jsonl          every finished run of the grid, one JSON line each (rewritten whole)
    summary.json, summary.md   per cell and sleep fraction: accuracy (mean, 95 % CI), paired
                        difference to float, sleep benefit, final weight health, Loihi 2 column
    plots/              accuracy_vs_bits.png, sleep_benefit_vs_bits.png, accuracy_vs_rate.png,
                        weight_histograms.png

A cell's rounding mode applies to both the trace decay and the weight updates
(``FixedParams.trace_rounding`` and ``dw_rounding``). A cell with fewer trace bits than the base
parameters scales the trace impulse with the trace range (:func:`impulse_for_bits`), so a trace
holds about as many spikes at every width. The float cell runs the base parameters in float64
(in the fixed model's form: linear sleep decay), so it differs from the fixed cells only in the
number format.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lava_sleep import fixed as F
from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError, config_hash
from lava_sleep.experiment.data import DataCache
from lava_sleep.io import atomic_write_json, atomic_write_text, read_jsonl
from lava_sleep.params import ROUNDING_MODES, ModelParams, ParamError
from lava_sleep.summary import RUNS, baseline_rows, holm_correct, paired_difference, run_id, seed_stats
from lava_sleep.sweep import SweepConfig, check_sweep_dir, run_sweep

QUANT_JSON = "quant.json"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
FORMAT = "lava-sleep-quant/1"
CELLS_DIR = "cells"
FLOAT = "float"
#: Accuracies compared: run-line key -> name.
METRICS = {"linear_accuracy": "linear readout", "assignment_accuracy": "label assignment"}
#: Final weight health per plastic pathway (result.json metrics.weights.<pathway>).
HEALTH_KEYS = ("at_min", "at_max", "total")
#: "Within 1 pp of float": the tolerance (percentage points) of the smallest-width answer.
TOLERANCE_PP = 1.0
#: Weight widths shown by the histogram plot (those of the grid).
HIST_BITS = (8, 4, 2)


def impulse_for_bits(base_impulse: int, base_bits: int, bits: int) -> int:
    """Trace impulse at ``bits`` trace bits that keeps the trace's range in spikes:
    ``max(1, round(base_impulse * (2**bits - 1) / (2**base_bits - 1)))`` (the base impulse at
    the base width; e.g. 13 at 7 bits becomes 6, 3, 2 and 1 at 6, 5, 4 and 3 bits)."""
    if bits == base_bits:
        return int(base_impulse)
    return max(1, F.rint(base_impulse * (2**bits - 1) / (2**base_bits - 1)))


@dataclass(frozen=True)
class Cell:
    """One precision setting: key (folder name), and w_scale, w_bits, trace_bits, trace_impulse,
    dw_frac_bits, rounding, decay_frac_bits (all None for the float cell)."""

    key: str
    w_scale: str | None = None
    w_bits: int | None = None
    trace_bits: int | None = None
    trace_impulse: int | None = None
    dw_frac_bits: int | None = None
    rounding: str | None = None
    decay_frac_bits: int | None = None

    @property
    def is_float(self) -> bool:
        return self.key == FLOAT

    @property
    def label(self) -> str:
        if self.is_float:
            return "float64"
        return (f"{self.w_bits}-bit w ({self.w_scale}), {self.trace_bits}-bit traces, "
                f"dw 2^-{self.dw_frac_bits}, decay 2^-{self.decay_frac_bits}, {self.rounding}")


def _list(values, what: str) -> list:
    out = list(dict.fromkeys(values))
    if not out:
        raise RunError(f"{what}: empty list")
    return out


@dataclass
class QuantConfig:
    """Everything that defines a quantization study.

    dataset, seeds, fractions: data and the sleep fractions of every cell (0 = no sleep).
    params: base parameters (their FixedParams give the defaults of the axes that are not
    varied; the sleep fraction is set per run). w_bits, roundings, w_scales, trace_bits,
    dw_frac_bits, decay_frac_bits: the grid axes (None: the base parameters' value). The other
    fields are those of :class:`lava_sleep.sweep.SweepConfig` (the mode is per cell: fixed, and
    float64 for the reference). cell_baselines: also score the untrained network (and pixels)
    in every fixed cell (default: only in the float cell; each cell's untrained network costs a
    run per seed).
    """

    dataset: str
    seeds: list
    params: ModelParams
    fractions: list = field(default_factory=lambda: [0.0, 0.1])
    w_bits: list = field(default_factory=lambda: [2, 3, 4, 5, 6, 7, 8])
    roundings: list = field(default_factory=lambda: list(ROUNDING_MODES))
    w_scales: list = field(default_factory=lambda: ["full"])
    trace_bits: list | None = None
    dw_frac_bits: list | None = None
    decay_frac_bits: list | None = None
    n_train: int | None = None
    n_test: int | None = None
    data_dir: str | None = None
    subset: str = "all"
    backend: str = "torch"
    device: str = "cpu"
    epochs: int = 1
    readout_images: int | None = None
    batch: int = 16
    progress: bool = True
    cell_baselines: bool = False

    def axes(self) -> dict:
        """The grid's axes with the base parameters' values filled in."""
        fx, st = self.params.fixed, self.params.stdp
        return {"w_scale": list(self.w_scales), "w_bits": list(self.w_bits),
                "trace_bits": list(self.trace_bits) if self.trace_bits else [st.trace_bits],
                "dw_frac_bits": list(self.dw_frac_bits) if self.dw_frac_bits else [fx.dw_frac_bits],
                "decay_frac_bits": (list(self.decay_frac_bits) if self.decay_frac_bits
                                    else [fx.decay_frac_bits]),
                "rounding": list(self.roundings)}

    def cells(self) -> list[Cell]:
        """The float reference, then every fixed cell of the grid (product of the axes). Keys:
        ``<scale>_w<bits>_t<trace bits>_dw<update bits>_<rounding>``, plus ``_dec<bits>`` when
        the sleep-decay fraction bits differ from the base parameters'."""
        ax = self.axes()
        out = [Cell(FLOAT)]
        base_impulse, base_bits = self.params.stdp.trace_impulse, self.params.stdp.trace_bits
        base_dec = self.params.fixed.decay_frac_bits
        for scale, wb, tb, dwf, dec, rnd in itertools.product(*ax.values()):
            key = f"{scale}_w{wb}_t{tb}_dw{dwf}_{rnd}" + ("" if dec == base_dec else f"_dec{dec}")
            out.append(Cell(key, scale, int(wb), int(tb), impulse_for_bits(base_impulse, base_bits, int(tb)),
                            int(dwf), rnd, int(dec)))
        return out

    def cell_params(self, cell: Cell) -> ModelParams:
        """The base parameters with the cell's precision (ParamError for a value out of range)."""
        if cell.is_float:
            return self.params
        p = self.params
        fx = dataclasses.replace(p.fixed, w_scale=cell.w_scale, w_bits=cell.w_bits,
                                 dw_frac_bits=cell.dw_frac_bits, decay_frac_bits=cell.decay_frac_bits,
                                 trace_rounding=cell.rounding, dw_rounding=cell.rounding)
        st = dataclasses.replace(p.stdp, trace_bits=cell.trace_bits, trace_impulse=cell.trace_impulse)
        return dataclasses.replace(p, fixed=fx, stdp=st)

    def sweep_config(self, cell: Cell) -> SweepConfig:
        return SweepConfig(
            datasets=[self.dataset], fractions=[float(f) for f in self.fractions], seeds=list(self.seeds),
            models=["stdp"], params=self.cell_params(cell), n_train=self.n_train, n_test=self.n_test,
            data_dir=self.data_dir, subset=self.subset, backend=self.backend,
            mode="float" if cell.is_float else "fixed", dtype="float64", device=self.device,
            epochs=self.epochs, readout_images=self.readout_images, batch=self.batch,
            progress=self.progress, baselines=cell.is_float or self.cell_baselines)

    def identity(self) -> dict:
        """What a resumed study must match (grid lists may grow; sub-sweeps check the rest)."""
        return {"dataset": str(self.dataset), "params": self.params.with_sleep_fraction(0.0).to_dict(),
                "n_train": self.n_train, "n_test": self.n_test, "subset": self.subset,
                "backend": self.backend, "epochs": self.epochs, "readout_images": self.readout_images}


def check_quant(study_dir, cfg: QuantConfig) -> None:
    """Every check that can fail, before anything runs or is written (one-line RunError,
    ParamError or DataError): folders, fractions, seeds, every cell's fixed-point constants
    (a width out of range names its field), the dataset and the split sizes."""
    study_dir = files.check_out_dir(Path(study_dir))
    for what, values in (("--seeds", cfg.seeds), ("--fractions", cfg.fractions), ("--w-bits", cfg.w_bits),
                         ("--rounding", cfg.roundings), ("--w-scale", cfg.w_scales)):
        _list(values, what)
    for what, values in (("--trace-bits", cfg.trace_bits), ("--dw-frac-bits", cfg.dw_frac_bits),
                         ("--decay-frac-bits", cfg.decay_frac_bits)):
        if values is not None:
            _list(values, what)
    for f in cfg.fractions:
        if not isinstance(f, (int, float)) or not math.isfinite(f) or f < 0:
            raise RunError(f"--fractions: sleep fractions must be >= 0, got {f!r}")
        cfg.params.with_sleep_fraction(f)  # ParamError above 0.95
    if cfg.batch < 1:
        raise RunError(f"--batch must be >= 1, got {cfg.batch}")
    if cfg.epochs < 1:
        raise RunError(f"--epochs must be >= 1, got {cfg.epochs}")
    cfg.params.check_fixed()
    for cell in cfg.cells():
        p = cfg.cell_params(cell)  # ParamError names the FixedParams / STDPParams field
        if not cell.is_float:
            try:
                F.to_fixed(p)
            except ParamError as exc:
                raise ParamError(f"cell {cell.key}: {exc}") from None
        check_sweep_dir(study_dir / CELLS_DIR / cell.key, cfg.sweep_config(cell))
    path = study_dir / QUANT_JSON
    if path.exists():
        old = files.read_json(path, QUANT_JSON)
        if not isinstance(old, dict) or old.get("hash") != config_hash(cfg.identity()):
            raise RunError(f"{study_dir} holds a quantization study of another configuration (dataset, "
                           "preset, config, sizes or backend differ); use another --out")
    DataCache().run_data(cfg.dataset, cfg.params.input.image_size, cfg.seeds[0], cfg.n_train, cfg.n_test,
                         cfg.data_dir, cfg.subset)


def run_quant(study_dir, cfg: QuantConfig, plots: bool = True, log=print, executor=None) -> dict:
    """Run every unfinished run of every cell (float first), then write runs.jsonl,
    summary.json, summary.md (and plots). Returns the summary with ``failed_runs``."""
    study_dir = Path(study_dir)
    check_quant(study_dir, cfg)
    study_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(study_dir / QUANT_JSON, files.jsonable(
        {"format": FORMAT, "hash": config_hash(cfg.identity()), "identity": cfg.identity(),
         "last_grid": {**cfg.axes(), "fractions": cfg.fractions, "seeds": cfg.seeds}}))
    failed = []
    cells = cfg.cells()
    for i, cell in enumerate(cells, 1):
        log(f"quant {study_dir}: cell {i}/{len(cells)} {cell.key}")
        s = run_sweep(study_dir / CELLS_DIR / cell.key, cfg.sweep_config(cell), plots=False, log=log,
                      executor=executor)
        failed += [{**x, "run_dir": f"{CELLS_DIR}/{cell.key}/{x['run_dir']}"}
                   for x in s.get("failed_runs") or []]
    summary = write_quant(study_dir, cfg)
    if plots:
        plot_quant(study_dir, summary)
    summary["failed_runs"] = failed
    return summary


# -- combining the cells ---------------------------------------------------------------------------
def collect(study_dir, cfg: QuantConfig) -> list[dict]:
    """One record per finished run of the grid: the cell's axes, fraction, seed, the run line's
    accuracies and baselines, the final weight health of every plastic pathway and the run
    folder (relative to the study folder)."""
    study_dir = Path(study_dir)
    plastic = [pw.name for pw in cfg.params.network.pathways if pw.plastic]
    out = []
    for cell in cfg.cells():
        sub = Path(CELLS_DIR) / cell.key
        lines = {(x["fraction"], x["seed"]): x for x in read_jsonl(study_dir / sub / RUNS)}
        for f in cfg.fractions:
            for seed in cfg.seeds:
                x = lines.get(run_id(cfg.dataset, "stdp", f, seed)[2:])
                if x is None:
                    continue
                health, rate = {}, None
                try:
                    metrics = files.read_result(study_dir / sub / x["run_dir"]).get("metrics") or {}
                    w = metrics.get("weights") or {}
                    health = {n: {k: (w.get(n) or {}).get(k) for k in HEALTH_KEYS} for n in plastic}
                    rate = metrics.get("test_rate_hz")
                except RunError:
                    pass
                out.append({**x, **dataclasses.asdict(cell), "cell": cell.key, "fraction": float(f),
                            "seed": int(seed), "run_dir": str(sub / x["run_dir"]), "health": health,
                            "test_rate_hz": rate})
    return out


def _per_seed(records, cell: str, fraction: float, metric: str) -> dict:
    return {r["seed"]: float(r[metric]) for r in records
            if r["cell"] == cell and r["fraction"] == fraction and r.get(metric) is not None}


def _diff(cur: dict, base: dict) -> dict:
    """Paired difference (percentage points) with its 95 % CI (t distribution over pairs)."""
    from scipy import stats

    pd = paired_difference(cur, base)
    pd["diff_pp"] = None if pd["diff_mean"] is None else 100 * pd["diff_mean"]
    pd["ci95_pp"] = None
    if pd["n"] > 1 and pd["diff_sd"] is not None:
        pd["ci95_pp"] = 100 * float(stats.t.ppf(0.975, pd["n"] - 1) * pd["diff_sd"] / math.sqrt(pd["n"]))
    return pd


def combine(records: list[dict], cfg: QuantConfig) -> dict:
    """Rows (cell x fraction), paired comparisons with float and with no sleep (each
    Holm-corrected per metric and fraction), and the smallest widths within TOLERANCE_PP."""
    cells = cfg.cells()
    fractions = [float(f) for f in cfg.fractions]
    rows = []
    for cell in cells:
        p = cfg.cell_params(cell)
        mism = None if cell.is_float else F.loihi2_mismatches(p)
        for f in fractions:
            sel = [r for r in records if r["cell"] == cell.key and r["fraction"] == f]
            row = {**dataclasses.asdict(cell), "cell": cell.key, "label": cell.label, "fraction": f,
                   "n": len(sel), "seeds": sorted(r["seed"] for r in sel),
                   "loihi2": None if mism is None else {"as_is": not mism, "mismatches": mism}}
            for m in METRICS:
                row[m] = seed_stats([r.get(m) for r in sel])
                row["untrained_" + m] = seed_stats([r.get("untrained_" + m) for r in sel])
            row["test_rate_hz"] = seed_stats([r.get("test_rate_hz") for r in sel])
            row["health"] = {}
            for r in sel:
                for pw, h in (r.get("health") or {}).items():
                    for k, v in h.items():
                        row["health"].setdefault(pw, {}).setdefault(k, []).append(v)
            row["health"] = {pw: {k: seed_stats(v) for k, v in hs.items()}
                             for pw, hs in row["health"].items()}
            for m in METRICS:
                row["vs_float_" + m] = None if cell.is_float else _diff(
                    _per_seed(records, cell.key, f, m), _per_seed(records, FLOAT, f, m))
                row["sleep_benefit_" + m] = None if f == 0 or 0.0 not in fractions else _diff(
                    _per_seed(records, cell.key, f, m), _per_seed(records, cell.key, 0.0, m))
            rows.append(row)
    for m in METRICS:
        for f in fractions:
            holm_correct([r["vs_float_" + m] for r in rows if r["fraction"] == f and r["vs_float_" + m]])
            holm_correct([r["sleep_benefit_" + m] for r in rows
                          if r["fraction"] == f and r["sleep_benefit_" + m]])
    base = baseline_rows([r for r in records if r["cell"] == FLOAT])
    return {"rows": rows, "baselines": base, "smallest": smallest_widths(rows, cfg),
            "activity": activity_correlations(records, cfg)}


def activity_correlations(records: list[dict], cfg: QuantConfig) -> list[dict]:
    """Per sleep fraction and metric: Spearman's rank correlation, over every run of the study
    (all cells and seeds), of the accuracy with the E neurons' mean rate on the held-out images
    and with each plastic pathway's final weight total. A strong correlation says that a cell's
    accuracy follows the network's gain (how strongly the input drives it) more than the
    precision as such."""
    from scipy import stats

    plastic = [pw.name for pw in cfg.params.network.pathways if pw.plastic]
    out = []
    for f in (float(x) for x in cfg.fractions):
        sel = [r for r in records if r["fraction"] == f]
        for m in METRICS:
            row = {"fraction": f, "metric": m, "n": 0}
            for what in ["test_rate_hz"] + [f"{pw}_total" for pw in plastic]:
                pairs = []
                for r in sel:
                    v = r.get("test_rate_hz") if what == "test_rate_hz" else \
                        (r.get("health") or {}).get(what[:-6], {}).get("total")
                    if v is not None and r.get(m) is not None:
                        pairs.append((float(v), float(r[m])))
                rho = None
                if len(pairs) > 2 and len({a for a, _ in pairs}) > 1 and len({b for _, b in pairs}) > 1:
                    rho = float(stats.spearmanr(*zip(*pairs, strict=True)).statistic)
                row[what] = rho
                row["n"] = max(row["n"], len(pairs))
            out.append(row)
    return out


def smallest_widths(rows: list[dict], cfg: QuantConfig) -> list[dict]:
    """Per varied width axis (w_bits, trace_bits), the other axes' values, fraction and metric:
    the smallest width whose mean paired difference to float is at least -TOLERANCE_PP, and
    every wider one's too (None when even the widest misses it)."""
    ax = cfg.axes()
    out = []
    for axis in ("w_bits", "trace_bits"):
        if len(ax[axis]) < 2:
            continue
        others = [a for a in ax if a != axis]
        groups: dict[tuple, list] = {}
        for r in rows:
            if r["cell"] != FLOAT:
                groups.setdefault((tuple(r[a] for a in others), r["fraction"]), []).append(r)
        for (vals, f), grp in groups.items():
            grp = sorted(grp, key=lambda r: r[axis])
            for m in METRICS:
                ok = [(r.get("vs_float_" + m) or {}).get("diff_pp") for r in grp]
                best = None
                for r, d in zip(reversed(grp), reversed(ok), strict=True):
                    if d is None or d < -TOLERANCE_PP:
                        break
                    best = r[axis]
                out.append({"axis": axis, **dict(zip(others, vals, strict=True)), "fraction": f, "metric": m,
                            "smallest": best})
    return out


def write_quant(study_dir, cfg: QuantConfig) -> dict:
    """runs.jsonl (every finished run of the grid), summary.json and summary.md (atomic)."""
    study_dir = Path(study_dir)
    records = collect(study_dir, cfg)
    p = cfg.params
    summary = files.jsonable({
        "format": FORMAT, "dataset": str(cfg.dataset), "seeds": [int(s) for s in cfg.seeds],
        "fractions": [float(f) for f in cfg.fractions], "axes": cfg.axes(),
        "setup": {"epochs": cfg.epochs, "backend": cfg.backend, "n_train": cfg.n_train, "n_test": cfg.n_test,
                  "subset": cfg.subset, "image_size": p.input.image_size, "n_exc": p.network.n_exc,
                  "n_inh": p.network.n_inh, "base_fixed": dataclasses.asdict(p.fixed),
                  "base_trace_bits": p.stdp.trace_bits, "base_trace_impulse": p.stdp.trace_impulse,
                  "plastic": [pw.name for pw in p.network.pathways if pw.plastic],
                  "sleep_period": p.sleep.period, "sleep_target": p.sleep.target, "sleep_form": p.sleep.form},
        **combine(records, cfg)})
    text = "".join(_json_line(r) for r in records)
    atomic_write_text(study_dir / RUNS, text)
    atomic_write_json(study_dir / SUMMARY_JSON, summary)
    atomic_write_text(study_dir / SUMMARY_MD, summary_markdown(summary))
    return summary


def _json_line(record: dict) -> str:
    import json

    return json.dumps(files.jsonable(record), sort_keys=True) + "\n"


# -- markdown ----------------------------------------------------------------------------------------
def _ci(st) -> str:
    if not st or st.get("mean") is None:
        return "-"
    out = f"{100 * st['mean']:.1f}"
    if st.get("ci95") is not None:
        out += f" ± {100 * st['ci95']:.1f}"
    return out


def _d(c) -> str:
    if not c or c.get("diff_pp") is None:
        return "-"
    out = f"{c['diff_pp']:+.1f}"
    if c.get("ci95_pp") is not None:
        out += f" ± {c['ci95_pp']:.1f}"
    if c.get("p_holm") is not None:
        out += f" (p {c['p_holm']:.2g})"
    return out


def _rate(st) -> str:
    return "-" if not st or st.get("mean") is None else f"{st['mean']:.1f}"


def _loihi(row) -> str:
    if row["loihi2"] is None:
        return "-"
    return "yes" if row["loihi2"]["as_is"] else "no: " + "; ".join(row["loihi2"]["mismatches"])


def summary_markdown(s: dict) -> str:
    st = s["setup"]
    plastic = st["plastic"]
    out = ["# Fixed-point quantization study", "",
           f"Dataset {s['dataset']} ({st['n_train']} training / {st['n_test']} held-out images per seed, "
           f"{st['image_size']}x{st['image_size']} inputs, {st['n_exc']} E, {st['n_inh']} I, {st['epochs']} "
           f"epoch(s), backend {st['backend']}); seeds {', '.join(str(x) for x in s['seeds'])}; "
           "sleep fractions "
           f"{', '.join(f'{100 * f:g} %' for f in s['fractions'])}. Cells: the float64 reference and every "
           "combination of " + ", ".join(f"{k} {v}" for k, v in s["axes"].items()) + " (rounding of both the "
           "trace decay and the weight updates).", ""]
    for f in s["fractions"]:
        out += [f"## Sleep {100 * f:g} %", "",
                "| cell | n | linear % | Δ vs float pp | assignment % | Δ vs float pp | untrained linear % | "
                "E rate Hz | " + " | ".join(f"{pw} at bounds %" for pw in plastic) + " | Loihi 2 as is |",
                "|---|---|---|---|---|---|---|---|" + "---|" * len(plastic) + "---|"]
        for r in (r for r in s["rows"] if r["fraction"] == f):
            bounds = []
            for pw in plastic:
                h = r["health"].get(pw) or {}
                lo, hi = (h.get("at_min") or {}).get("mean"), (h.get("at_max") or {}).get("mean")
                bounds.append("-" if lo is None else f"{100 * lo:.0f} / {100 * hi:.0f}")
            out.append(f"| {r['label']} | {r['n']} | {_ci(r['linear_accuracy'])} "
                       f"| {_d(r['vs_float_linear_accuracy'])} "
                       f"| {_ci(r['assignment_accuracy'])} | {_d(r['vs_float_assignment_accuracy'])} "
                       f"| {_ci(r['untrained_linear_accuracy'])} | {_rate(r.get('test_rate_hz'))} | "
                       + " | ".join(bounds)
                       + f" | {_loihi(r)} |")
        out.append("")
    if any(f > 0 for f in s["fractions"]) and 0.0 in s["fractions"]:
        out += ["## Sleep benefit (sleep minus no sleep, same cell and seed)", "",
                "| cell | sleep % | Δ linear pp | Δ assignment pp |", "|---|---|---|---|"]
        for r in s["rows"]:
            if r["fraction"] > 0:
                out.append(f"| {r['label']} | {100 * r['fraction']:g} "
                           f"| {_d(r['sleep_benefit_linear_accuracy'])} "
                           f"| {_d(r['sleep_benefit_assignment_accuracy'])} |")
        out.append("")
    if s["smallest"]:
        out += [f"## Smallest widths within {TOLERANCE_PP:g} pp of float", "",
                "| width | other axes | sleep % | metric | smallest |", "|---|---|---|---|---|"]
        for x in s["smallest"]:
            other = ", ".join(f"{k} {x[k]}" for k in ("w_scale", "w_bits", "trace_bits", "dw_frac_bits",
                                                       "decay_frac_bits", "rounding")
                              if k in x and k != x["axis"])
            out.append(f"| {x['axis']} | {other} | {100 * x['fraction']:g} | {METRICS[x['metric']]} "
                       f"| {x['smallest'] if x['smallest'] is not None else 'none'} |")
        out.append("")
    if s.get("activity"):
        out += ["## Accuracy and network gain", "",
                "Spearman's rank correlation over every run (all cells and seeds) of the accuracy with the "
                "mean E rate on the held-out images and with the final weight total of each plastic "
                "pathway:", "",
                "| sleep % | metric | runs | rate | " + " | ".join(f"{pw} total" for pw in plastic) + " |",
                "|---|---|---|---|" + "---|" * len(plastic)]
        for x in s["activity"]:
            vals = [x.get("test_rate_hz")] + [x.get(f"{pw}_total") for pw in plastic]
            out.append(f"| {100 * x['fraction']:g} | {METRICS[x['metric']]} | {x['n']} | "
                       + " | ".join("-" if v is None else f"{v:+.2f}" for v in vals) + " |")
        out.append("")
    if s["baselines"]:
        out += ["Baselines (same splits and readouts): " + "; ".join(
            f"{b['label']}: linear {_ci(b.get('linear_accuracy'))} %" for b in s["baselines"]) + ".", ""]
    out += ["Accuracies: held-out, mean ± 95 % CI half-width (t distribution over seeds). Δ vs float: mean "
            "paired difference to the float64 cell at the same sleep fraction and seed, ± its 95 % CI, p = "
            "two-sided paired t-test, Holm-corrected over the cells of one metric and sleep fraction. At "
            "bounds: share of the pathway's synapses at the lower / upper weight bound at the end. Loihi 2 "
            "as is: 8-bit weights as mantissa and exponent, at most 7-bit traces, a 16-bit update "
            "accumulator (1 + w_bits + dw_frac_bits), stochastic rounding "
            "(lava_sleep.fixed.loihi2_mismatches). "
            f"Smallest: the narrowest width whose difference to float, and every wider one's, is at least "
            f"-{TOLERANCE_PP:g} pp (mean over seeds).", ""]
    return "\n".join(out)


# -- plots --------------------------------------------------------------------------------------------
def _x_axis(s: dict) -> str:
    for a in ("w_bits", "trace_bits", "dw_frac_bits", "decay_frac_bits"):
        if len(s["axes"].get(a, ())) > 1:
            return a
    return "w_bits"


def plot_quant(study_dir, summary: dict | None = None) -> list[Path]:
    """plots/accuracy_vs_bits.png, plots/sleep_benefit_vs_bits.png (when there is a sleep
    fraction > 0 and 0), plots/accuracy_vs_rate.png (every run's accuracy vs its E rate) and
    plots/weight_histograms.png (first seed, no sleep)."""
    from lava_sleep import plots as P

    study_dir = Path(study_dir)
    s = summary if summary is not None else files.read_json(study_dir / SUMMARY_JSON, SUMMARY_JSON)
    out = study_dir / "plots"
    x = _x_axis(s)
    lines = [a for a in s["axes"] if a != x and len(s["axes"][a]) > 1] or ["rounding"]
    written = [P.plot_quant_accuracy(s["rows"], x, lines, s["fractions"], out / "accuracy_vs_bits.png",
                                     metrics=tuple(METRICS.items()), baselines=s["baselines"])]
    if 0.0 in s["fractions"] and any(f > 0 for f in s["fractions"]):
        written.append(P.plot_quant_sleep_benefit(s["rows"], x, lines, out / "sleep_benefit_vs_bits.png",
                                                  metrics=tuple(METRICS.items())))
    records = read_jsonl(study_dir / RUNS)
    if any(r.get("test_rate_hz") is not None for r in records):
        written.append(P.plot_quant_gain(records, out / "accuracy_vs_rate.png",
                                         metrics=tuple(METRICS.items())))
    hists = _histogram_panels(study_dir, s)
    if hists:
        written.append(P.plot_weight_code_histograms(hists, out / "weight_histograms.png",
                                                     title=f"{s['dataset']}, seed {s['seeds'][0]}, no sleep: "
                                                           "final weights"))
    return written


def _histogram_panels(study_dir: Path, s: dict) -> list[dict]:
    """Final |w| / w_max of the plastic pathways for the float cell and the cells at
    HIST_BITS weight bits (first seed, lowest sleep fraction; other axes at their first value)."""
    first, f0 = s["seeds"][0], min(s["fractions"])
    ax = s["axes"]
    fixed_at = {a: ax[a][0] for a in ("w_scale", "trace_bits", "dw_frac_bits", "decay_frac_bits") if a in ax}
    pick = [r for r in s["rows"] if r["fraction"] == f0 and (
        r["cell"] == FLOAT or (r["w_bits"] in HIST_BITS and all(r[a] == v for a, v in fixed_at.items())))]
    runs = {}
    for line in read_jsonl(study_dir / RUNS):
        if line["seed"] == first and line["fraction"] == f0:
            runs[line["cell"]] = line["run_dir"]
    panels = []
    order = {m: i for i, m in enumerate(ax["rounding"])}
    for r in sorted(pick, key=lambda r: (r["cell"] != FLOAT, -(r["w_bits"] or 0),
                                         order.get(r["rounding"], -1))):
        if r["cell"] not in runs:
            continue
        try:
            arrays, config = files.read_model(study_dir / runs[r["cell"]])
        except RunError:
            continue
        params = ModelParams.from_dict(config["params"]) if "params" in config else None
        for pw in s["setup"]["plastic"]:
            key = f"w_{pw}"
            if key not in arrays:
                continue
            w = np.abs(np.asarray(arrays[key], dtype=np.float64))
            mask = np.asarray(arrays.get(f"mask_{pw}", np.ones_like(w)), dtype=bool)
            w_max = params.network.pathway(pw).w_max if params is not None else float(w.max() or 1.0)
            panels.append({"pathway": pw, "row": "float64" if r["cell"] == FLOAT else f"{r['w_bits']}-bit",
                           "column": r["rounding"] or "float64", "values": w[mask] / w_max,
                           "codes": None if r["cell"] == FLOAT else 2 ** r["w_bits"] - 1})
    return panels
