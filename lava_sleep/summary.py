"""Statistics of a sweep's runs.jsonl: per-cell mean, sd and 95 % CI, paired tests against
no sleep, and the summary files (summary.json, summary.md).

Below both :mod:`lava_sleep.sweep` (which writes runs.jsonl) and :mod:`lava_sleep.plots`
(which reads the summary), so that neither imports the other.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lava_sleep.experiment import files
from lava_sleep.io import atomic_write_json, atomic_write_text, read_jsonl

RUNS = "runs.jsonl"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
#: Metrics summarised per cell (missing ones are skipped, e.g. phi for SG runs).
SUMMARY_METRICS = ("accuracy", "linear_accuracy", "assignment_accuracy", "phi", "sleep_share_used",
                   "train_linear_accuracy", "train_assignment_accuracy", "linear_gap", "assignment_gap",
                   "energy_wake_uj_per_image", "energy_sleep_uj_per_image", "energy_uj_per_image",
                   "synaptic_events_per_image", "sleep_synaptic_events_per_image")
#: Baselines (the same for every sleep fraction of a seed): run-line key -> (row, metric).
BASELINE_KEYS = {"pixels_linear_accuracy": ("pixels", "linear_accuracy"),
                 "pixels_train_linear_accuracy": ("pixels", "train_linear_accuracy"),
                 "untrained_linear_accuracy": ("untrained", "linear_accuracy"),
                 "untrained_assignment_accuracy": ("untrained", "assignment_accuracy"),
                 "untrained_train_linear_accuracy": ("untrained", "train_linear_accuracy"),
                 "untrained_train_assignment_accuracy": ("untrained", "train_assignment_accuracy")}
BASELINE_LABELS = {"pixels": "raw pixels (logistic regression)",
                   "untrained": "untrained network (plasticity off)"}


def result_metrics(result: dict) -> dict:
    """The numbers of one result.json that sweeps record per run (runs.jsonl) and summarise:
    accuracies, training accuracies and gaps, baselines, and the energy estimate."""
    m = result.get("metrics", {})
    s = result.get("sleep", {})
    out = {"accuracy": result.get("accuracy"), "linear_accuracy": result.get("linear_accuracy"),
           "assignment_accuracy": result.get("assignment_accuracy"), "phi": result.get("phi"),
           "sleep_share_used": s.get("share_used"), "sleep_steps_used": s.get("steps_used"),
           "sleep_steps_planned": s.get("steps_planned"),
           "train_linear_accuracy": m.get("train_linear_accuracy"),
           "train_assignment_accuracy": m.get("train_assignment_accuracy"),
           "linear_gap": m.get("generalization", {}).get("linear_gap"),
           "assignment_gap": m.get("generalization", {}).get("assignment_gap")}
    base = m.get("baselines") or {}
    out.update({k: base.get(k) for k in BASELINE_KEYS})
    cost = result.get("cost") or {}
    e = (cost.get("energy") or {}).get("per_training_image_uj")
    if e:
        out.update({"energy_wake_uj_per_image": e["wake"], "energy_sleep_uj_per_image": e["sleep"],
                    "energy_uj_per_image": e["total"]})
        counts = cost["counts"]
        n = max(1, cost.get("training_images", 1))
        out["synaptic_events_per_image"] = counts["wake"]["synaptic_events"] / n
        out["sleep_synaptic_events_per_image"] = counts["sleep"]["synaptic_events"] / n
    return out


def run_id(dataset: str, model: str, fraction: float, seed: int) -> tuple:
    return (str(dataset), model, round(float(fraction), 6), int(seed))


def line_id(line: dict) -> tuple:
    return run_id(line["dataset"], line["model"], line["fraction"], line["seed"])


def seed_stats(values: list[float]) -> dict:
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
                row[k] = seed_stats(vals)
        rows.append(row)
    return rows


def baseline_rows(lines: list[dict]) -> list[dict]:
    """Baseline rows per (model, dataset): raw pixels and the untrained network, with
    statistics over seeds. Baselines do not depend on the sleep fraction, so each seed counts
    once (its value at the lowest fraction recorded)."""
    last = {line_id(x): x for x in lines}
    per_seed: dict[tuple, dict] = {}
    for (ds, model, _f, seed), x in sorted(last.items(), key=lambda kv: (kv[0][:2], -kv[0][2])):
        if any(x.get(k) is not None for k in BASELINE_KEYS):
            per_seed.setdefault((model, ds), {})[seed] = x  # lowest fraction wins (sorted last)
    rows = []
    for (model, ds), seeds in sorted(per_seed.items()):
        for kind in ("pixels", "untrained"):
            row = {"model": model, "dataset": ds, "baseline": kind, "label": BASELINE_LABELS[kind],
                   "n": len(seeds), "seeds": sorted(seeds)}
            for key, (k, metric) in BASELINE_KEYS.items():
                if k == kind:
                    vals = [x.get(key) for x in seeds.values()]
                    if any(v is not None for v in vals):
                        row[metric] = seed_stats(vals)
            rows.append(row)
    return rows


def paired_difference(cur: dict, base: dict) -> dict:
    """Paired comparison of per-seed values ``cur`` and ``base`` ({seed: value}).

    The seeds present in both form the pairs; ``cur - base`` is tested with a two-sided
    paired t-test (scipy.stats.ttest_rel). Returns n (pairs), seeds, diff_mean, diff_sd
    (ddof 1), t and p (None with fewer than two pairs or when every difference is the same, to
    rounding).
    """
    from scipy import stats

    seeds = sorted(set(cur) & set(base))
    diff = np.array([cur[s_] - base[s_] for s_ in seeds])
    row = {"n": len(seeds), "seeds": seeds,
           "diff_mean": float(diff.mean()) if diff.size else None,
           "diff_sd": float(diff.std(ddof=1)) if diff.size > 1 else None,
           "t": None, "p": None}
    # constant differences (to rounding: 0.175 - 0.125 != 0.15 - 0.1 in floats) have no test
    if diff.size > 1 and np.ptp(diff) > 1e-12 * max(1.0, float(np.abs(diff).max())):
        res = stats.ttest_rel([cur[s_] for s_ in seeds], [base[s_] for s_ in seeds])
        row["t"], row["p"] = float(res.statistic), float(res.pvalue)
    return row


def holm_correct(rows: list[dict], alpha: float = 0.05) -> list[dict]:
    """Holm step-down correction over the rows that have a p-value (one family), in place.

    Sets ``p_holm`` (None where ``p`` is None) and ``verdict``: "benefit" / "harm" when the
    corrected p < alpha and the mean difference is positive / negative, else "no difference".
    Returns ``rows``.
    """
    tested = sorted((r for r in rows if r.get("p") is not None), key=lambda r: r["p"])
    running = 0.0
    for i, r in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - i) * r["p"]))
        r["p_holm"] = running
    for r in rows:
        r.setdefault("p_holm", None)
        sig = r["p_holm"] is not None and r["p_holm"] < alpha
        r["verdict"] = ("benefit" if sig and r["diff_mean"] > 0 else
                        "harm" if sig and r["diff_mean"] < 0 else "no difference")
    return rows


def compare_to_no_sleep(lines: list[dict], metric: str = "accuracy") -> list[dict]:
    """Paired comparison of every sleep fraction with fraction 0, per (model, dataset).

    For each fraction f > 0, the seeds run at both f and 0 form pairs; the difference
    ``metric(f) - metric(0)`` is tested with a two-sided paired t-test (:func:`paired_difference`).
    p-values are Holm-corrected over the fractions of one (model, dataset) (:func:`holm_correct`),
    so "benefit" means: mean difference > 0 and corrected p < 0.05. Rows have model, dataset,
    fraction, n (pairs), diff_mean, diff_sd, t, p, p_holm and verdict ("benefit", "harm" or
    "no difference").
    """
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
            pd = paired_difference(by_cell[(model, ds, f)], base)
            pd.pop("seeds")
            group.append({"model": model, "dataset": ds, "fraction": f, "metric": metric, **pd})
        out.extend(holm_correct(group))
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


def summary_markdown(rows: list[dict], baselines: list[dict] | None = None) -> str:
    out = ["| model | dataset | sleep % | n | accuracy % (mean ± sd) | 95 % CI | linear % | assignment % "
           "| phi | sleep share used % |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for b in baselines or []:
        lin = b.get("linear_accuracy")
        out.append(f"| baseline | {b['dataset']} | {b['label']} | {b['n']} | {_fmt(lin)} | {_fmt_ci(lin)} "
                   f"| {_fmt(lin)} | {_fmt(b.get('assignment_accuracy'))} | - | - |")
    for r in rows:
        out.append(
            f"| {r['model']} | {r['dataset']} | {100 * r['fraction']:g} | {r['n']} "
            f"| {_fmt(r.get('accuracy'))} "
            f"| {_fmt_ci(r.get('accuracy'))} | {_fmt(r.get('linear_accuracy'))} "
            f"| {_fmt(r.get('assignment_accuracy'))} | {_fmt(r.get('phi'), pct=False)} "
            f"| {_fmt(r.get('sleep_share_used'))} |")
    note = ("\naccuracy = held-out accuracy of the linear (logistic) readout for STDP runs and of the "
            "network itself for SG runs; 95 % CI = mean ± t(0.975, n-1) sd / sqrt(n). Baselines use the "
            "same splits, resized images and readouts: logistic regression on the pixels, and the same "
            "network and seed with plasticity off (no STDP, no sleep).\n")
    return "\n".join(out) + "\n" + note + _generalization_markdown(rows, baselines) + _cost_markdown(rows)


def _fmt_gap(st: dict | None, ci: bool = False) -> str:
    """A gap in percentage points with sign (and its 95 % CI)."""
    if not st or st.get("mean") is None:
        return "-"
    out = f"{100 * st['mean']:+.1f}"
    if ci and st.get("ci95") is not None:
        out += f" [{100 * st['lo']:+.1f}, {100 * st['hi']:+.1f}]"
    return out


def _generalization_markdown(rows: list[dict], baselines: list[dict] | None) -> str:
    sel = [r for r in rows if r.get("train_linear_accuracy")]
    if not sel:
        return ""
    out = ["\n### Generalization (training-image vs held-out accuracy)\n",
           "| model | dataset | sleep % | linear: train % | linear: held-out % | linear gap (pp, 95 % CI) "
           "| assignment: train % | assignment: held-out % | assignment gap (pp) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for b in baselines or []:
        tr, te = b.get("train_linear_accuracy"), b.get("linear_accuracy")
        gap = "-"
        if tr and te and tr.get("mean") is not None and te.get("mean") is not None:
            gap = f"{100 * (tr['mean'] - te['mean']):+.1f}"
        out.append(f"| baseline | {b['dataset']} | {b['label']} | {_fmt(tr)} | {_fmt(te)} | {gap} "
                   f"| - | {_fmt(b.get('assignment_accuracy'))} | - |")
    for r in sel:
        out.append(f"| {r['model']} | {r['dataset']} | {100 * r['fraction']:g} "
                   f"| {_fmt(r.get('train_linear_accuracy'))} | {_fmt(r.get('linear_accuracy'))} "
                   f"| {_fmt_gap(r.get('linear_gap'), ci=True)} "
                   f"| {_fmt(r.get('train_assignment_accuracy'))} | {_fmt(r.get('assignment_accuracy'))} "
                   f"| {_fmt_gap(r.get('assignment_gap'))} |")
    return "\n".join(out) + "\n"


def _cost_markdown(rows: list[dict]) -> str:
    sel = [r for r in rows if r.get("energy_uj_per_image")]
    if not sel:
        return ""
    out = ["\n### Cost per training image (Loihi 1 energy estimate, Davies et al. 2018)\n",
           "| model | dataset | sleep % | energy wake µJ | energy sleep µJ | energy total µJ "
           "| synaptic events awake | synaptic events asleep |",
           "|---|---|---|---|---|---|---|---|"]
    for r in sel:
        out.append(f"| {r['model']} | {r['dataset']} | {100 * r['fraction']:g} "
                   f"| {_fmt(r.get('energy_wake_uj_per_image'), pct=False)} "
                   f"| {_fmt(r.get('energy_sleep_uj_per_image'), pct=False)} "
                   f"| {_fmt(r.get('energy_uj_per_image'), pct=False)} "
                   f"| {_fmt(r.get('synaptic_events_per_image'), pct=False)} "
                   f"| {_fmt(r.get('sleep_synaptic_events_per_image'), pct=False)} |")
    note = ("\nAn estimate for Loihi 1 silicon from per-operation energies (23.6 pJ per synaptic event, "
            "120 pJ per synaptic update (STDP and sleep decay), 52 / 81 pJ per inactive / active neuron "
            "update), not a measurement; counts in docs/pipeline.md.\n")
    return "\n".join(out) + "\n" + note


def write_summary(sweep_dir) -> dict:
    """Write summary.json and summary.md from runs.jsonl; returns the summary dict."""
    sweep_dir = Path(sweep_dir)
    lines = read_jsonl(sweep_dir / RUNS)
    rows = summarize(lines)
    base = baseline_rows(lines)
    comparison = compare_to_no_sleep(lines)
    summary = {"runs": len({line_id(x) for x in lines}), "cells": rows, "baselines": base,
               "vs_no_sleep": comparison}
    atomic_write_json(sweep_dir / SUMMARY_JSON, files.jsonable(summary))
    md = summary_markdown(rows, base)
    if comparison:
        md += "\n" + comparison_markdown(comparison)
    atomic_write_text(sweep_dir / SUMMARY_MD, md)
    return summary
