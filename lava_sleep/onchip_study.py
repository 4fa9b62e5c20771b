"""What does the on-chip sleep form cost the science? No sleep vs host sleep vs on-chip sleep.

Three arms per dataset and seed, all on the same network and data split:

* ``none``: no sleep (fraction 0);
* ``host``: the preset's sleep (the host controller's decay: docs/model.md "Sleep") at ``fraction``;
* ``onchip``: the same fraction, period and lambda as the on-chip form (``SleepParams.onchip``:
  linear decay toward the static target every ``block`` global steps while asleep, a Loihi
  literal as the rate, no decay noise, no early wake-up; docs/model.md "On-chip sleep").

Folder layout (``STUDY_DIR``)::

    host/      a sweep (lava_sleep.sweep) of fractions 0 and ``fraction`` with the host sleep
    onchip/    a sweep of ``fraction`` with the on-chip sleep
    study.json, study.md   per dataset: baselines, every arm (mean, sd over seeds), paired
                           differences (host - none, onchip - none, onchip - host; paired t-test,
                           Holm-corrected per dataset and metric) and the share of the host form's
                           benefit the on-chip form keeps
    plots/onchip_study.png

Each sweep resumes run by run (:func:`lava_sleep.sweep.run_sweep`); the statistics reuse
:mod:`lava_sleep.summary`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError
from lava_sleep.experiment.data import DataCache
from lava_sleep.io import atomic_write_json, atomic_write_text, read_jsonl
from lava_sleep.params import ONCHIP_BLOCK, ModelParams, loihi_literal, onchip_rate
from lava_sleep.summary import (
    RUNS,
    baseline_rows,
    holm_correct,
    line_id,
    paired_difference,
    run_id,
    seed_stats,
)
from lava_sleep.sweep import SweepConfig, check_sweep_dir, run_sweep

STUDY_JSON = "study.json"
STUDY_MD = "study.md"
STUDY_FORMAT = "lava-sleep-onchip-study/1"
#: arm -> (label, sweep folder, sleeps)
ARMS = {
    "none": ("no sleep", "host", False),
    "host": ("host sleep", "host", True),
    "onchip": ("on-chip sleep", "onchip", True),
}
#: Accuracies compared: run-line key -> name.
METRICS = {"linear_accuracy": "linear readout", "assignment_accuracy": "label assignment"}
#: Paired comparisons (arm, versus).
COMPARISONS = (("host", "none"), ("onchip", "none"), ("onchip", "host"))


@dataclass
class StudyConfig:
    """Everything that defines a study: datasets, seeds, params (the host sleep settings), the
    sleep ``fraction`` of both sleeping arms (0 < f <= 0.95), the on-chip ``block`` (a power of
    two <= 512), and the fields of :class:`lava_sleep.sweep.SweepConfig`."""

    datasets: list
    seeds: list
    params: ModelParams
    fraction: float = 0.2
    block: int = ONCHIP_BLOCK
    n_train: int | None = None
    n_test: int | None = None
    data_dir: str | None = None
    subset: str = "all"
    backend: str = "torch"
    mode: str = "float"
    dtype: str = "float64"
    device: str = "cpu"
    epochs: int = 1
    readout_images: int | None = None
    batch: int = 16
    progress: bool = True

    def onchip_params(self) -> ModelParams:
        """The params of the on-chip arm (ParamError when lambda has no on-chip form)."""
        return dataclasses.replace(self.params, sleep=self.params.sleep.onchip(self.block))

    def sweep_config(self, sub: str) -> SweepConfig:
        host = sub == "host"
        return SweepConfig(
            datasets=list(self.datasets),
            fractions=[0.0, self.fraction] if host else [self.fraction],
            seeds=list(self.seeds),
            models=["stdp"],
            params=self.params if host else self.onchip_params(),
            n_train=self.n_train,
            n_test=self.n_test,
            data_dir=self.data_dir,
            subset=self.subset,
            backend=self.backend,
            mode=self.mode,
            dtype=self.dtype,
            device=self.device,
            epochs=self.epochs,
            readout_images=self.readout_images,
            batch=self.batch,
            progress=self.progress,
            baselines=host,
        )


def check_study(study_dir, cfg: StudyConfig) -> None:
    """Every check that can fail, before anything runs or is written (one-line RunError,
    ParamError or DataError): folders, fraction, the on-chip conversion, datasets and sizes."""
    study_dir = files.check_out_dir(Path(study_dir))
    if not cfg.datasets or not cfg.seeds:
        raise RunError("a study needs at least one dataset and one seed")
    f = cfg.fraction
    if not isinstance(f, (int, float)) or not math.isfinite(f) or not 0 < f <= 0.95:
        raise RunError(f"--fraction must be in (0, 0.95], got {f!r}")
    if cfg.params.sleep.site != "host":
        raise RunError("the study's params must hold the host sleep (the on-chip arm is derived from it)")
    if cfg.batch < 1 or cfg.epochs < 1:
        raise RunError("--batch and --epochs must be >= 1")
    for sub in ("host", "onchip"):
        sc = cfg.sweep_config(sub)  # ParamError when lambda or block has no on-chip form
        files.check_out_dir(study_dir / sub, f"--out {study_dir}: sub-folder")
        check_sweep_dir(study_dir / sub, sc)
    cache = DataCache()
    for ds in cfg.datasets:
        cache.run_data(
            ds, cfg.params.input.image_size, cfg.seeds[0], cfg.n_train, cfg.n_test, cfg.data_dir, cfg.subset
        )


def run_study(study_dir, cfg: StudyConfig, plots: bool = True, log=print, executor=None) -> dict:
    """Run every unfinished run of both sweeps, then write study.json, study.md (and the plot).
    Returns the study dict with ``failed_runs``."""
    study_dir = Path(study_dir)
    check_study(study_dir, cfg)
    failed = []
    for sub in ("host", "onchip"):
        log(f"study {study_dir}: {sub} sleep")
        summary = run_sweep(study_dir / sub, cfg.sweep_config(sub), plots=False, log=log, executor=executor)
        failed += [{**x, "run_dir": f"{sub}/{x['run_dir']}"} for x in summary.get("failed_runs") or []]
    study = write_study(study_dir, cfg)
    if plots:
        plot_study(study_dir, study)
    study["failed_runs"] = failed
    return study


def collect(study_dir, cfg: StudyConfig) -> list[dict]:
    """One record per finished run of the grid: dataset, arm, seed and its runs.jsonl line."""
    study_dir, out = Path(study_dir), []
    lines = {sub: {line_id(x): x for x in read_jsonl(study_dir / sub / RUNS)} for sub in ("host", "onchip")}
    for arm, (_label, sub, sleeps) in ARMS.items():
        for ds in cfg.datasets:
            for seed in cfg.seeds:
                x = lines[sub].get(run_id(ds, "stdp", cfg.fraction if sleeps else 0.0, seed))
                if x is not None:
                    out.append(
                        {
                            **x,
                            "dataset": str(ds),
                            "arm": arm,
                            "seed": int(seed),
                            "run_dir": str(Path(sub) / x["run_dir"]),
                        }
                    )
    return out


def _per_seed(recs, arm, metric) -> dict:
    return {
        r["seed"]: float(r[metric])
        for r in recs
        if r["arm"] == arm and r.get(metric) is not None and math.isfinite(r[metric])
    }


def retained(recs, metric) -> dict:
    """Share of the host form's benefit over no sleep that the on-chip form keeps:
    ``mean(onchip - none) / mean(host - none)`` over the seeds that have all three arms
    (None when the host form has no benefit, mean difference <= 0)."""
    none, host, onchip = (_per_seed(recs, a, metric) for a in ("none", "host", "onchip"))
    seeds = sorted(set(none) & set(host) & set(onchip))
    if not seeds:
        return {"n": 0, "share": None, "host_benefit": None, "onchip_benefit": None}
    hb = sum(host[s] - none[s] for s in seeds) / len(seeds)
    ob = sum(onchip[s] - none[s] for s in seeds) / len(seeds)
    return {"n": len(seeds), "host_benefit": hb, "onchip_benefit": ob, "share": ob / hb if hb > 0 else None}


def combine(records: list[dict], cfg: StudyConfig) -> dict:
    per_dataset = {}
    for ds in (str(d) for d in cfg.datasets):
        recs = [r for r in records if r["dataset"] == ds]
        base = [b for b in baseline_rows([r for r in recs if r["arm"] != "onchip"]) if b["dataset"] == ds]
        rows = []
        for arm, (label, _sub, _s) in ARMS.items():
            sel = [r for r in recs if r["arm"] == arm]
            rows.append(
                {
                    "arm": arm,
                    "label": label,
                    "n": len(sel),
                    "seeds": sorted(r["seed"] for r in sel),
                    **{m: seed_stats([r.get(m) for r in sel]) for m in METRICS},
                    "sleep_share_used": seed_stats([r.get("sleep_share_used") for r in sel]),
                }
            )
        comparisons = []
        for m in METRICS:
            family = []
            for arm, versus in COMPARISONS:
                pd = paired_difference(_per_seed(recs, arm, m), _per_seed(recs, versus, m))
                family.append({"metric": m, "arm": arm, "versus": versus, **pd})
            comparisons += holm_correct(family)
        per_dataset[ds] = {
            "baselines": base,
            "rows": rows,
            "comparisons": comparisons,
            "retained": {m: retained(recs, m) for m in METRICS},
            "runs": [{k: r.get(k) for k in ("arm", "seed", *METRICS, "run_dir")} for r in recs],
        }
    return per_dataset


def write_study(study_dir, cfg: StudyConfig) -> dict:
    """Combine both sweeps into study.json and study.md (atomic); returns the dict."""
    study_dir = Path(study_dir)
    p, on = cfg.params, cfg.onchip_params().sleep
    m, e = loihi_literal(onchip_rate(on))
    study = files.jsonable(
        {
            "format": STUDY_FORMAT,
            "datasets": [str(d) for d in cfg.datasets],
            "seeds": [int(s) for s in cfg.seeds],
            "fraction": float(cfg.fraction),
            "setup": {
                "epochs": cfg.epochs,
                "backend": cfg.backend,
                "mode": cfg.mode,
                "dtype": cfg.dtype,
                "n_train": cfg.n_train,
                "n_test": cfg.n_test,
                "subset": cfg.subset,
                "image_size": p.input.image_size,
                "n_exc": p.network.n_exc,
                "steps_per_image": p.input.steps_per_image,
                "rest_steps": p.input.rest_steps,
                "host_sleep": dataclasses.asdict(p.sleep),
                "onchip_sleep": dataclasses.asdict(on),
                "onchip_rate": {
                    "mantissa": m,
                    "exponent": e,
                    "value": m * 2.0**e,
                    "host_block_equivalent": 1 - p.sleep.lam**on.block,
                },
            },
            "results": combine(collect(study_dir, cfg), cfg),
        }
    )
    atomic_write_json(study_dir / STUDY_JSON, study)
    atomic_write_text(study_dir / STUDY_MD, study_markdown(study))
    return study


def _ms(st) -> str:
    if not st or st.get("mean") is None:
        return "-"
    return f"{100 * st['mean']:.1f}" + ("" if st.get("sd") is None else f" ± {100 * st['sd']:.1f}")


def study_markdown(study: dict) -> str:
    s, r = study["setup"], study["setup"]["onchip_rate"]
    out = [
        "# Sleep on the neuromorphic target: what the on-chip form costs",
        "",
        f"Three arms per seed ({', '.join(map(str, study['seeds']))}), sleep fraction "
        f"{study['fraction']:g}: no sleep; the host sleep ({s['host_sleep']['form']} decay toward the "
        f"{s['host_sleep']['target']} target every {s['host_sleep']['block']} sleep steps, lambda "
        f"{s['host_sleep']['lam']}, tol {s['host_sleep']['tol']}); the on-chip sleep (linear decay "
        f"toward the static target every {s['onchip_sleep']['block']} global steps asleep, "
        f"c = {r['mantissa']} * "
        f"2**{r['exponent']} = {r['value']:.6g} vs 1 - lambda**block = {r['host_block_equivalent']:.6g}). "
        f"Backend {s['backend']} ({s['mode']}), {s['n_train']} / {s['n_test']} images "
        f"(None: all of the split), {s['epochs']} epoch(s).",
        "",
    ]
    for ds, res in study["results"].items():
        out += [
            f"## {ds}",
            "",
            "| | linear readout % | label assignment % | sleep share used |",
            "|---|---|---|---|",
        ]
        for b in res["baselines"]:
            out.append(
                f"| {b['label']} | {_ms(b.get('linear_accuracy'))} | "
                f"{_ms(b.get('assignment_accuracy'))} | - |"
            )
        for row in res["rows"]:
            sh = row["sleep_share_used"].get("mean")
            sh = "-" if sh is None else f"{sh:.3f}"
            out.append(
                f"| {row['label']} (n = {row['n']}) | {_ms(row['linear_accuracy'])} | "
                f"{_ms(row['assignment_accuracy'])} | {sh} |"
            )
        out += [
            "",
            "| comparison | metric | mean difference (pp) | p (Holm) | verdict |",
            "|---|---|---|---|---|",
        ]
        for c in res["comparisons"]:
            d = "-" if c.get("diff_mean") is None else f"{100 * c['diff_mean']:+.1f}"
            p = "-" if c.get("p") is None else f"{c['p']:.3g} ({c['p_holm']:.3g})"
            out.append(
                f"| {c['arm']} - {c['versus']} | {METRICS[c['metric']]} | {d} | {p} | "
                f"{c.get('verdict', '-')} |"
            )
        out.append("")
        for m, ret in res["retained"].items():
            if ret["share"] is None:
                hb = "-" if ret["host_benefit"] is None else f"{100 * ret['host_benefit']:+.1f} pp"
                out.append(f"- {METRICS[m]}: share of the host benefit kept undefined (host benefit {hb})")
            else:
                out.append(
                    f"- {METRICS[m]}: the on-chip form keeps {100 * ret['share']:.0f} % of the host "
                    f"form's benefit ({100 * ret['onchip_benefit']:+.1f} vs "
                    f"{100 * ret['host_benefit']:+.1f} pp, {ret['n']} seeds)"
                )
        out.append("")
    return "\n".join(out)


def plot_study(study_dir, study: dict | None = None) -> list[Path]:
    """plots/onchip_study.png: per dataset, linear-readout accuracy of the arms (mean and per-seed
    points) beside the raw-pixel and untrained-network baselines."""
    from lava_sleep.plots import _figure, _save

    study_dir = Path(study_dir)
    study = study or files.read_json(study_dir / STUDY_JSON)
    res = study["results"]
    fig = _figure(4.5 * len(res), 3.6)
    axes = [fig.add_subplot(1, len(res), i + 1) for i in range(len(res))]
    for ax, (ds, r) in zip(axes, res.items(), strict=True):
        for i, row in enumerate(r["rows"]):
            st = row["linear_accuracy"]
            if st.get("mean") is None:
                continue
            ax.bar(
                i, 100 * st["mean"], yerr=100 * (st.get("sd") or 0), color=("0.6", "C0", "C2")[i], alpha=0.8
            )
            pts = [
                100 * x["linear_accuracy"]
                for x in r["runs"]
                if x["arm"] == row["arm"] and x.get("linear_accuracy") is not None
            ]
            ax.plot([i] * len(pts), pts, "k.", ms=4)
        for b, ls in zip(r["baselines"], ("--", ":"), strict=False):
            st = b.get("linear_accuracy") or {}
            if st.get("mean") is not None:
                ax.axhline(100 * st["mean"], color="k", ls=ls, lw=1, label=b["label"])
        ax.set_xticks(range(len(r["rows"])), [row["label"] for row in r["rows"]])
        ax.set_ylabel("linear readout accuracy (%)")
        ax.set_title(f"{ds}: sleep fraction {study['fraction']:g}")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return [_save(fig, study_dir / "plots" / "onchip_study.png")]
