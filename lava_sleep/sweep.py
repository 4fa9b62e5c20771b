"""Sweeps: sleep fractions x seeds x datasets (x models), resumable, with summary statistics.

Folder layout (``SWEEP_DIR``)::

    sweep.json          the sweep's base configuration (everything but fraction, seed, dataset)
    runs.jsonl          one JSON line per finished run (appended whole, fsynced)
    runs/<dataset>/<model>/f<fraction>_s<seed>/   result.json, model.npz (raster.npz)
    checkpoints/        checkpoints of unfinished batches
    summary.json, summary.md   mean, sd and 95 % CI (t distribution) per (model, dataset, fraction)
    plots/              accuracy vs sleep fraction

STDP runs of one dataset are trained in batches of ``batch`` members (several
(fraction, seed) pairs in one simulator batch, the torch engine's fast path). A run
whose line is in runs.jsonl is skipped on restart; a run whose result.json is complete
but whose line is missing (interrupted between the two writes) is recorded without
re-running; an unfinished batch resumes from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError, config_hash
from lava_sleep.experiment.data import DataCache
from lava_sleep.experiment.stdp import Member, TrainOptions, member_key, run_members
from lava_sleep.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from lava_sleep.params import ModelParams

RUNS = "runs.jsonl"
SWEEP = "sweep.json"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
#: Metrics summarised per cell (missing ones are skipped, e.g. phi for SG runs).
SUMMARY_METRICS = ("accuracy", "linear_accuracy", "assignment_accuracy", "phi", "sleep_share_used")


@dataclass
class SweepConfig:
    """Everything that defines a sweep.

    datasets, fractions, seeds, models: the grid. params: base STDP parameters (their
    sleep fraction is replaced per run). sg_params: SG parameters (None when no SG runs).
    n_train, n_test, data_dir, subset: data of every run (split per seed).
    backend, mode, dtype, device, epochs, readout_images: as for ``train``.
    batch: STDP members per simulator batch.
    """

    datasets: list
    fractions: list
    seeds: list
    models: list
    params: ModelParams
    sg_params: object = None
    n_train: int | None = None
    n_test: int | None = None
    data_dir: str | None = None
    subset: str = "all"
    backend: str = "numpy"
    mode: str = "float"
    dtype: str = "float64"
    device: str = "cpu"
    epochs: int = 1
    readout_images: int | None = None
    batch: int = 1
    progress: bool = True

    def base(self) -> dict:
        """The part that must not change when a sweep is resumed or extended."""
        p = self.params.with_sleep_fraction(0.0)
        return {"params": p.to_dict(),
                "sg_params": None if self.sg_params is None else self.sg_params.to_dict(),
                "n_train": self.n_train, "n_test": self.n_test, "subset": self.subset,
                "backend": self.backend, "mode": self.mode, "dtype": self.dtype, "epochs": self.epochs,
                "readout_images": self.readout_images}


def fraction_tag(f: float) -> str:
    return f"{float(f):.4f}".rstrip("0").rstrip(".") if f else "0"


def dataset_slug(name: str) -> str:
    stem = Path(str(name)).name
    stem = re.sub(r"\.npz$", "", stem)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "data"


def run_id(dataset: str, model: str, fraction: float, seed: int) -> tuple:
    return (str(dataset), model, round(float(fraction), 6), int(seed))


def line_id(line: dict) -> tuple:
    return run_id(line["dataset"], line["model"], line["fraction"], line["seed"])


def run_dir(sweep_dir: Path, dataset: str, model: str, fraction: float, seed: int) -> Path:
    return Path(sweep_dir) / "runs" / dataset_slug(dataset) / model / f"f{fraction_tag(fraction)}_s{seed}"


def make_line(result: dict, dataset: str, fraction: float, seed: int, rdir: Path, sweep_dir: Path,
              base_hash: str) -> dict:
    """The runs.jsonl record of one finished run."""
    s = result.get("sleep", {})
    return files.jsonable({
        "dataset": str(dataset), "model": result["model"], "fraction": float(fraction), "seed": int(seed),
        "accuracy": result.get("accuracy"),
        "linear_accuracy": result.get("linear_accuracy"),
        "assignment_accuracy": result.get("assignment_accuracy"),
        "phi": result.get("phi"),
        "sleep_share_used": s.get("share_used"), "sleep_steps_used": s.get("steps_used"),
        "sleep_steps_planned": s.get("steps_planned"),
        "train_s": result.get("timings", {}).get("train_s"),
        "backend": result.get("backend"), "run_key": result.get("run_key"),
        "run_dir": str(Path(rdir).relative_to(sweep_dir)), "sweep": base_hash,
    })


def _check_sweep_file(sweep_dir: Path, cfg: SweepConfig) -> str:
    base = cfg.base()
    h = config_hash(base)
    path = sweep_dir / SWEEP
    if path.exists():
        old = files.read_json(path, "sweep.json")
        if old.get("hash") != h:
            raise RunError(f"{sweep_dir} holds a sweep of another configuration (preset, config, sizes or "
                           "backend differ); use another --out")
    grid = {"datasets": [str(d) for d in cfg.datasets], "fractions": cfg.fractions, "seeds": cfg.seeds,
            "models": cfg.models}
    atomic_write_json(path, files.jsonable({"hash": h, "base": base, "last_grid": grid}))
    return h


def _recorded(result_path: Path, key: str) -> dict | None:
    """A complete result.json of this run key (finished, line not yet appended), else None."""
    if not result_path.exists():
        return None
    try:
        r = files.read_result(result_path.parent)
    except RunError:
        return None
    return r if r.get("run_key") == key and (result_path.parent / files.MODEL).exists() else None


def run_sweep(sweep_dir, cfg: SweepConfig, plots: bool = True, log=print) -> dict:
    """Run every unfinished run of the grid, then write the summary (and plots)."""
    sweep_dir = Path(sweep_dir)
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise RunError(f"--out {sweep_dir} exists and is not a folder")
    if cfg.batch < 1:
        raise RunError(f"--batch must be >= 1, got {cfg.batch}")
    for f in cfg.fractions:  # validate every fraction before anything runs
        cfg.params.with_sleep_fraction(f)
    cache = DataCache()
    # Load every dataset once up front: a bad name or path fails before anything is written.
    for ds in cfg.datasets:
        cache.dataset(ds, cfg.data_dir, cfg.subset)
    if "sg" in cfg.models:
        from lava_sleep.experiment.config import import_sg

        import_sg()
    base_hash = _check_sweep_file(sweep_dir, cfg)
    done = {line_id(x) for x in read_jsonl(sweep_dir / RUNS)}
    todo = [run_id(d, m, f, s) for d in cfg.datasets for m in cfg.models for s in cfg.seeds
            for f in cfg.fractions]
    todo = [t for t in dict.fromkeys(todo) if t not in done]
    log(f"sweep {sweep_dir}: {len(done)} runs recorded, {len(todo)} to run")
    opts = TrainOptions(backend=cfg.backend, mode=cfg.mode, dtype=cfg.dtype, device=cfg.device,
                        epochs=cfg.epochs, readout_images=cfg.readout_images, progress=cfg.progress,
                        checkpoint_every=120.0)
    image_size = cfg.params.input.image_size

    def data_for(ds, seed):
        return cache.run_data(ds, image_size, seed, cfg.n_train, cfg.n_test, cfg.data_dir, cfg.subset)

    for ds in cfg.datasets:
        pending = [t for t in todo if t[0] == str(ds) and t[1] == "stdp"]
        members = []
        for _, _, f, s in pending:
            m = Member(cfg.params.with_sleep_fraction(f), s, data_for(ds, s),
                       run_dir(sweep_dir, ds, "stdp", f, s), label=f"f{fraction_tag(f)} s{s}",
                       meta={"sweep": base_hash})
            rec = _recorded(m.out_dir / files.RESULT, member_key(m, opts))
            if rec is not None:
                append_jsonl(sweep_dir / RUNS, make_line(rec, ds, f, s, m.out_dir, sweep_dir, base_hash))
                continue
            members.append((f, s, m))
        for i in range(0, len(members), cfg.batch):
            chunk = members[i:i + cfg.batch]
            ids = [run_id(ds, "stdp", f, s) for f, s, _ in chunk]
            bopts = dataclasses.replace(
                opts, checkpoint=sweep_dir / "checkpoints" / f"batch-{config_hash(ids)}.npz",
                desc=f"{dataset_slug(ds)} [{', '.join(m.label for _, _, m in chunk)}]"[:60])
            results = run_members([m for _, _, m in chunk], bopts)
            for (f, s, m), r in zip(chunk, results, strict=True):
                append_jsonl(sweep_dir / RUNS, make_line(r, ds, f, s, m.out_dir, sweep_dir, base_hash))
                log(f"  {dataset_slug(ds)} stdp f={f:g} seed={s}: linear {r['linear_accuracy']:.3f}, "
                    f"assignment {r['assignment_accuracy']:.3f}")
        for _, _, f, s in [t for t in todo if t[0] == str(ds) and t[1] == "sg"]:
            from lava_sleep.experiment.sgrun import run_sg, sg_key

            rdir = run_dir(sweep_dir, ds, "sg", f, s)
            sleep = cfg.params.with_sleep_fraction(f).sleep
            data = data_for(ds, s)
            r = _recorded(rdir / files.RESULT, sg_key(cfg.sg_params, sleep, s, data, cfg.device))
            if r is None:
                r = run_sg(cfg.sg_params, sleep, s, data, rdir, device=cfg.device, progress=cfg.progress,
                           label=f"sg f{fraction_tag(f)} s{s}", meta={"sweep": base_hash})
                log(f"  {dataset_slug(ds)} sg f={f:g} seed={s}: accuracy {r['accuracy']:.3f}")
            append_jsonl(sweep_dir / RUNS, make_line(r, ds, f, s, rdir, sweep_dir, base_hash))
    ckdir = sweep_dir / "checkpoints"
    if ckdir.is_dir() and not any(ckdir.iterdir()):
        ckdir.rmdir()
    summary = write_summary(sweep_dir)
    if plots:
        from lava_sleep import plots as plotmod

        plotmod.plot_sweep(sweep_dir)
    return summary


def _stats(values: list[float]) -> dict:
    """n, mean, sd (ddof 1), 95 % CI half-width (t distribution) and bounds."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    n = int(v.size)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci95": None, "lo": None, "hi": None}
    mean = float(v.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "sd": None, "ci95": None, "lo": None, "hi": None}
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))
    return {"n": n, "mean": mean, "sd": sd, "ci95": half, "lo": mean - half, "hi": mean + half}


def summarize(lines: list[dict]) -> list[dict]:
    """One row per (model, dataset, fraction) with statistics of SUMMARY_METRICS over seeds.

    A run recorded twice (same dataset, model, fraction, seed) counts once (the last line).
    """
    last = {line_id(x): x for x in lines}
    cells: dict[tuple, list[dict]] = {}
    for (ds, model, f, _), x in last.items():
        cells.setdefault((model, ds, f), []).append(x)
    rows = []
    for (model, ds, f), xs in sorted(cells.items()):
        row = {"model": model, "dataset": ds, "fraction": f, "n": len(xs),
               "seeds": sorted(int(x["seed"]) for x in xs)}
        for k in SUMMARY_METRICS:
            vals = [x.get(k) for x in xs]
            if any(v is not None for v in vals):
                row[k] = _stats(vals)
        rows.append(row)
    return rows


def compare_to_no_sleep(lines: list[dict], metric: str = "accuracy") -> list[dict]:
    """Paired comparison of every sleep fraction with fraction 0, per (model, dataset).

    For each fraction f > 0, the seeds run at both f and 0 form pairs; the difference
    ``metric(f) - metric(0)`` is tested with a two-sided paired t-test (scipy.stats.ttest_rel).
    p-values are Holm-corrected over the fractions of one (model, dataset), so "benefit"
    means: mean difference > 0 and corrected p < 0.05. Rows have model, dataset, fraction, n
    (pairs), diff_mean, diff_sd, t, p, p_holm and verdict ("benefit", "harm" or "no difference").
    """
    from scipy import stats

    last = {line_id(x): x for x in lines}
    by_cell: dict[tuple, dict[int, float]] = {}
    for (ds, model, f, seed), x in last.items():
        v = x.get(metric)
        if v is not None and math.isfinite(v):
            by_cell.setdefault((model, ds, f), {})[int(seed)] = float(v)
    out = []
    for (model, ds) in sorted({(m, d) for (m, d, _) in by_cell}):
        base = by_cell.get((model, ds, 0.0), {})
        group = []
        for f in sorted(f for (m, d, f) in by_cell if (m, d) == (model, ds) and f > 0):
            cur = by_cell[(model, ds, f)]
            seeds = sorted(set(cur) & set(base))
            diff = np.array([cur[s_] - base[s_] for s_ in seeds])
            row = {"model": model, "dataset": ds, "fraction": f, "n": len(seeds), "metric": metric,
                   "diff_mean": float(diff.mean()) if diff.size else None,
                   "diff_sd": float(diff.std(ddof=1)) if diff.size > 1 else None,
                   "t": None, "p": None}
            if diff.size > 1 and np.any(diff != diff[0]):
                res = stats.ttest_rel([cur[s_] for s_ in seeds], [base[s_] for s_ in seeds])
                row["t"], row["p"] = float(res.statistic), float(res.pvalue)
            group.append(row)
        # Holm step-down correction over the fractions with a p-value
        tested = sorted((r for r in group if r["p"] is not None), key=lambda r: r["p"])
        running = 0.0
        for i, r in enumerate(tested):
            running = max(running, min(1.0, (len(tested) - i) * r["p"]))
            r["p_holm"] = running
        for r in group:
            r.setdefault("p_holm", None)
            sig = r["p_holm"] is not None and r["p_holm"] < 0.05
            r["verdict"] = ("benefit" if sig and r["diff_mean"] > 0 else
                            "harm" if sig and r["diff_mean"] < 0 else "no difference")
        out.extend(group)
    return out


def _fmt_num(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def comparison_markdown(rows: list[dict]) -> str:
    if not rows:
        return ""
    out = ["| model | dataset | sleep % | pairs | accuracy difference vs 0 % (pp, mean ± sd) | t | p "
           "| p (Holm) | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        d = "-" if r["diff_mean"] is None else f"{100 * r['diff_mean']:+.1f}"
        if r["diff_sd"] is not None:
            d += f" ± {100 * r['diff_sd']:.1f}"
        out.append(f"| {r['model']} | {r['dataset']} | {100 * r['fraction']:g} | {r['n']} | {d} "
                   f"| {_fmt_num(r['t'], '.2f')} | {_fmt_num(r['p'], '.3g')} "
                   f"| {_fmt_num(r['p_holm'], '.3g')} | {r['verdict']} |")
    note = ("\nPaired by seed against the same model without sleep; two-sided paired t-test, "
            "Holm-corrected over the fractions of each model and dataset; benefit/harm = corrected "
            "p < 0.05.\n")
    return "\n".join(out) + "\n" + note


def _fmt(st: dict | None, pct: bool = True) -> str:
    if not st or st.get("mean") is None:
        return "-"
    k = 100.0 if pct else 1.0
    s = f"{k * st['mean']:.1f}" if pct else f"{st['mean']:.3g}"
    if st.get("sd") is not None:
        s += f" ± {k * st['sd']:.1f}" if pct else f" ± {st['sd']:.2g}"
    return s


def _fmt_ci(st: dict | None) -> str:
    if not st or st.get("ci95") is None:
        return "-"
    return f"[{100 * st['lo']:.1f}, {100 * st['hi']:.1f}]"


def summary_markdown(rows: list[dict]) -> str:
    out = ["| model | dataset | sleep % | n | accuracy % (mean ± sd) | 95 % CI | linear % | assignment % "
           "| phi | sleep share used % |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['model']} | {r['dataset']} | {100 * r['fraction']:g} | {r['n']} "
            f"| {_fmt(r.get('accuracy'))} "
            f"| {_fmt_ci(r.get('accuracy'))} | {_fmt(r.get('linear_accuracy'))} "
            f"| {_fmt(r.get('assignment_accuracy'))} | {_fmt(r.get('phi'), pct=False)} "
            f"| {_fmt(r.get('sleep_share_used'))} |")
    note = ("\naccuracy = held-out accuracy of the linear (logistic) readout for STDP runs and of the "
            "network itself for SG runs; 95 % CI = mean ± t(0.975, n-1) sd / sqrt(n).\n")
    return "\n".join(out) + "\n" + note


def write_summary(sweep_dir) -> dict:
    """Write summary.json and summary.md from runs.jsonl; returns the summary dict."""
    sweep_dir = Path(sweep_dir)
    lines = read_jsonl(sweep_dir / RUNS)
    rows = summarize(lines)
    comparison = compare_to_no_sleep(lines)
    summary = {"runs": len({line_id(x) for x in lines}), "cells": rows, "vs_no_sleep": comparison}
    atomic_write_json(sweep_dir / SUMMARY_JSON, files.jsonable(summary))
    md = summary_markdown(rows)
    if comparison:
        md += "\n" + comparison_markdown(comparison)
    atomic_write_text(sweep_dir / SUMMARY_MD, md)
    return summary


def log_stderr(msg: str) -> None:
    sys.stderr.write(msg + "\n")
