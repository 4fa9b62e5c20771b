"""Can sleep replace per-image weight normalization? Four arms per dataset and seed, resumable.

The arms differ only in X->E ``normalize`` (Diehl & Cook's per-image normalization,
docs/model.md "Per-image normalization") and the sleep fraction (docs/model.md "Sleep"):

* (a) neither: normalize off, no sleep;
* (b) per-image normalization only: normalize on, no sleep;
* (c) sleep only: normalize off, sleep at each of ``fractions``;
* (d) both: normalize on, sleep at each of ``both_fractions``.

Folder layout (``STUDY_DIR``)::

    normalize_off/   a sweep (lava_sleep.sweep) of arms (a) and (c): fractions 0 and ``fractions``
    normalize_on/    a sweep of arms (b) and (d): fractions 0 and ``both_fractions``
    study.json, study.md   per dataset: baselines, every arm (mean, sd over seeds), paired
                           differences vs (a) and vs (b) (paired t-test, Holm-corrected per
                           dataset and metric), X->E weight health
    plots/           accuracy_vs_sleep.png, receptive_fields_<dataset>.png, weight_health.png

Each normalize setting is one sweep, so its sleep fractions and seeds share simulator batches
(members of a batch may differ only in SleepParams and seed), and an interrupted study resumes
run by run (:func:`lava_sleep.sweep.run_sweep`). The statistics reuse :mod:`lava_sleep.summary`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError
from lava_sleep.experiment.data import DataCache
from lava_sleep.io import atomic_write_json, atomic_write_text, read_jsonl
from lava_sleep.params import ModelParams
from lava_sleep.summary import (
    RUNS,
    baseline_rows,
    holm_correct,
    line_id,
    paired_difference,
    run_id,
    seed_stats,
)
from lava_sleep.sweep import SweepConfig, check_sweep_dir, dataset_slug, run_sweep

STUDY_JSON = "study.json"
STUDY_MD = "study.md"
STUDY_FORMAT = "lava-sleep-normalization-study/1"
#: Sub-folders (sweeps) per normalize setting.
SWEEP_DIRS = {False: "normalize_off", True: "normalize_on"}
#: The study's pathway (the one Diehl & Cook normalize).
PATHWAY = "XE"
#: Accuracies compared: run-line key -> name.
METRICS = {"linear_accuracy": "linear readout", "assignment_accuracy": "label assignment"}
#: Final X->E weight-health numbers of result.json (metrics.weights.XE) summarised per arm.
HEALTH_KEYS = {"mean": "mean |w|", "std": "sd |w|", "in_cv": "CV of incoming totals",
               "saturation": "at clip bounds %", "entropy_norm": "entropy (norm.)"}


@dataclass(frozen=True)
class Arm:
    """One arm: key (e.g. "sleep_0.1"), group ("a", "b", "c" or "d"), label, normalize, fraction."""

    key: str
    group: str
    label: str
    normalize: bool
    fraction: float


def with_normalize(params: ModelParams, on: bool) -> ModelParams:
    """``params`` with X->E per-image normalization on or off (ParamError when X->E is not plastic)."""
    return dataclasses.replace(params, network=params.network.with_pathway(PATHWAY, normalize=bool(on)))


def _pct(f: float) -> str:
    return f"{100 * f:g} %"


@dataclass
class StudyConfig:
    """Everything that defines a study.

    datasets, seeds: the grid; fractions: sleep fractions of arm (c) (each > 0);
    both_fractions: sleep fractions of arm (d). params: base STDP parameters (X->E normalize
    and the sleep fraction are set per arm). The other fields are those of
    :class:`lava_sleep.sweep.SweepConfig`.
    """

    datasets: list
    seeds: list
    params: ModelParams
    fractions: list = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.3])
    both_fractions: list = field(default_factory=lambda: [0.1])
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

    def arms(self) -> list[Arm]:
        out = [Arm("neither", "a", "(a) neither", False, 0.0),
               Arm("normalize", "b", "(b) per-image normalization", True, 0.0)]
        out += [Arm(f"sleep_{f:g}", "c", f"(c) sleep {_pct(f)}", False, float(f)) for f in self.fractions]
        out += [Arm(f"both_{f:g}", "d", f"(d) normalization + sleep {_pct(f)}", True, float(f))
                for f in self.both_fractions]
        return out

    def sweep_config(self, normalize: bool) -> SweepConfig:
        """The sweep of one normalize setting: fraction 0 plus the sleep fractions of its arms."""
        fractions = [0.0] + [float(f) for f in (self.both_fractions if normalize else self.fractions)]
        return SweepConfig(
            datasets=list(self.datasets), fractions=list(dict.fromkeys(fractions)), seeds=list(self.seeds),
            models=["stdp"], params=with_normalize(self.params, normalize), n_train=self.n_train,
            n_test=self.n_test, data_dir=self.data_dir, subset=self.subset, backend=self.backend,
            mode=self.mode, dtype=self.dtype, device=self.device, epochs=self.epochs,
            readout_images=self.readout_images, batch=self.batch, progress=self.progress)

    def grid(self) -> dict:
        return {"datasets": [str(d) for d in self.datasets], "seeds": [int(s) for s in self.seeds],
                "fractions": [float(f) for f in self.fractions],
                "both_fractions": [float(f) for f in self.both_fractions]}


def check_study(study_dir, cfg: StudyConfig) -> None:
    """Every check that can fail, before anything runs or is written (one-line RunError,
    ParamError or DataError): the folders, the fractions, X->E normalize, the datasets and
    the split sizes."""
    study_dir = files.check_out_dir(Path(study_dir))
    if not cfg.datasets or not cfg.seeds:
        raise RunError("a study needs at least one dataset and one seed")
    for what, fracs in (("--fractions", cfg.fractions), ("--both-fractions", cfg.both_fractions)):
        if not fracs:
            raise RunError(f"{what}: empty list")
        for f in fracs:
            if not isinstance(f, (int, float)) or not math.isfinite(f) or f <= 0:
                raise RunError(f"{what}: sleep fractions must be > 0 (the arms without sleep are always "
                               f"run), got {f!r}")
            cfg.params.with_sleep_fraction(f)  # ParamError above 0.95
    if cfg.batch < 1:
        raise RunError(f"--batch must be >= 1, got {cfg.batch}")
    if cfg.epochs < 1:
        raise RunError(f"--epochs must be >= 1, got {cfg.epochs}")
    for normalize, sub in SWEEP_DIRS.items():
        sc = cfg.sweep_config(normalize)  # ParamError when X->E cannot normalize
        files.check_out_dir(study_dir / sub, f"--out {study_dir}: sub-folder")
        check_sweep_dir(study_dir / sub, sc)
    cache = DataCache()
    for ds in cfg.datasets:  # unknown names, missing files, too many images: fail here
        cache.run_data(ds, cfg.params.input.image_size, cfg.seeds[0], cfg.n_train, cfg.n_test,
                       cfg.data_dir, cfg.subset)


def run_study(study_dir, cfg: StudyConfig, plots: bool = True, log=print, executor=None) -> dict:
    """Run every unfinished run of both sweeps, then write study.json, study.md (and plots).

    Returns the study dict, with ``failed_runs`` (runs whose task failed for good; the others
    complete and the study is written from what finished)."""
    study_dir = Path(study_dir)
    check_study(study_dir, cfg)
    failed = []
    for normalize, sub in SWEEP_DIRS.items():
        log(f"study {study_dir}: per-image normalization {'on' if normalize else 'off'}")
        summary = run_sweep(study_dir / sub, cfg.sweep_config(normalize), plots=False, log=log,
                            executor=executor)
        failed += [{**x, "run_dir": f"{sub}/{x['run_dir']}"} for x in summary.get("failed_runs") or []]
    study = write_study(study_dir, cfg)
    if plots:
        plot_study(study_dir, study)
    study["failed_runs"] = failed
    return study


# -- combining the two sweeps ------------------------------------------------------------------------
def collect(study_dir, cfg: StudyConfig) -> list[dict]:
    """One record per finished run of the study's grid: dataset, arm, seed, the accuracies and
    baselines of its runs.jsonl line, its final X->E weight health and its run folder
    (relative to the study folder). Runs of the sweeps outside this grid are left out."""
    study_dir = Path(study_dir)
    out = []
    for normalize, sub in SWEEP_DIRS.items():
        lines = {line_id(x): x for x in read_jsonl(study_dir / sub / RUNS)}
        for arm in (a for a in cfg.arms() if a.normalize == normalize):
            for ds in cfg.datasets:
                for seed in cfg.seeds:
                    x = lines.get(run_id(ds, "stdp", arm.fraction, seed))
                    if x is None:
                        continue
                    rdir = study_dir / sub / x["run_dir"]
                    weights, sizes = None, {}
                    try:
                        r = files.read_result(rdir)
                        weights = ((r.get("metrics") or {}).get("weights") or {}).get(PATHWAY)
                        sizes = {k: r.get("dataset", {}).get(k) for k in ("n_train", "n_test", "image_size")}
                    except RunError:
                        pass
                    out.append({**x, "dataset": str(ds), "arm": arm.key, "seed": int(seed),
                                "run_dir": str(Path(sub) / x["run_dir"]),
                                "weights": {k: (weights or {}).get(k) for k in HEALTH_KEYS},
                                **{k: v for k, v in sizes.items() if v is not None}})
    return out


def _per_seed(records, ds, arm, metric) -> dict:
    return {r["seed"]: float(r[metric]) for r in records if r["dataset"] == ds and r["arm"] == arm
            and r.get(metric) is not None and math.isfinite(r[metric])}


def combine(records: list[dict], cfg: StudyConfig) -> dict:
    """Per dataset: baselines, one row per arm and the paired comparisons (see write_study)."""
    arms = cfg.arms()
    per_dataset = {}
    for ds in (str(d) for d in cfg.datasets):
        recs = [r for r in records if r["dataset"] == ds]
        base = [b for b in baseline_rows([r for r in recs if not r["arm"].startswith(("normalize", "both"))])
                if b["dataset"] == ds]
        rows = []
        for arm in arms:
            sel = [r for r in recs if r["arm"] == arm.key]
            row = {**dataclasses.asdict(arm), "n": len(sel), "seeds": sorted(r["seed"] for r in sel)}
            for m in METRICS:
                row[m] = seed_stats([r.get(m) for r in sel])
            row["weights"] = {k: seed_stats([r["weights"].get(k) for r in sel]) for k in HEALTH_KEYS
                              if any(r["weights"].get(k) is not None for r in sel)}
            rows.append(row)
        comparisons = []
        for m in METRICS:
            family = []
            for ref in ("neither", "normalize"):
                for arm in arms:
                    if arm.key in ("neither", ref) or (ref == "normalize" and arm.group not in ("c", "d")):
                        continue
                    pd = paired_difference(_per_seed(recs, ds, arm.key, m), _per_seed(recs, ds, ref, m))
                    pp = None if pd["diff_mean"] is None else 100 * pd["diff_mean"]
                    family.append({"dataset": ds, "metric": m, "arm": arm.key, "versus": ref, **pd,
                                   "diff_mean_pp": pp})
            comparisons += holm_correct(family)
        sizes = sorted({(r.get("n_train"), r.get("n_test"), r.get("image_size")) for r in recs},
                       key=str)
        per_dataset[ds] = {
            "sizes": [{"n_train": a, "n_test": b, "image_size": c} for a, b, c in sizes],
            "baselines": base, "rows": rows, "comparisons": comparisons,
            "runs": [{k: r.get(k) for k in ("arm", "seed", *METRICS, "run_dir", "weights")} for r in recs]}
    return per_dataset


def write_study(study_dir, cfg: StudyConfig) -> dict:
    """Combine both sweeps' runs of the grid into study.json and study.md (atomic); returns the dict."""
    study_dir = Path(study_dir)
    records = collect(study_dir, cfg)
    p = cfg.params
    study = {"format": STUDY_FORMAT, **cfg.grid(),
             "arms": [dataclasses.asdict(a) for a in cfg.arms()],
             "setup": {"epochs": cfg.epochs, "backend": cfg.backend, "mode": cfg.mode, "dtype": cfg.dtype,
                       "n_train": cfg.n_train, "n_test": cfg.n_test, "subset": cfg.subset,
                       "image_size": p.input.image_size, "n_exc": p.network.n_exc, "n_inh": p.network.n_inh,
                       "steps_per_image": p.input.steps_per_image, "rest_steps": p.input.rest_steps,
                       "sleep_period": p.sleep.period, "sleep_target": p.sleep.target},
             "sweeps": {("on" if k else "off"): v for k, v in SWEEP_DIRS.items()},
             "results": combine(records, cfg)}
    study = files.jsonable(study)
    atomic_write_json(study_dir / STUDY_JSON, study)
    atomic_write_text(study_dir / STUDY_MD, study_markdown(study))
    return study


# -- markdown -------------------------------------------------------------------------------------------
def _ms(st, scale=100.0, spec=".1f") -> str:
    if not st or st.get("mean") is None:
        return "-"
    out = format(scale * st["mean"], spec)
    if st.get("sd") is not None:
        out += " ± " + format(scale * st["sd"], spec)
    return out


def _p(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def _delta(c) -> str:
    if c is None or c.get("diff_mean") is None:
        return "-"
    return f"{100 * c['diff_mean']:+.1f} (p {_p(c['p'])}, Holm {_p(c['p_holm'])})"


def study_markdown(study: dict) -> str:
    s = study["setup"]
    seeds = ", ".join(str(x) for x in study["seeds"])
    out = ["# Can sleep replace per-image normalization?", "",
           f"Per dataset and seed, four arms of the same network ({s['image_size']}x{s['image_size']} "
           f"inputs, {s['n_exc']} E, {s['n_inh']} I, {s['steps_per_image']} + {s['rest_steps']} rest steps "
           "per image, "
           f"{s['epochs']} epoch(s), backend {s['backend']} {s['mode']}): "
           "(a) neither, (b) X->E per-image normalization only, (c) sleep only (target "
           f"'{s['sleep_target']}', an episode every {s['sleep_period']} wake steps) at "
           f"{', '.join(_pct(f) for f in study['fractions'])}, (d) both at "
           f"{', '.join(_pct(f) for f in study['both_fractions'])}.", "",
           f"Seeds {seeds} (n = {len(study['seeds'])} per arm where every run finished); each seed has its "
           "own data split and network, shared by all arms (paired design).", ""]
    for ds, d in study["results"].items():
        sizes = "; ".join(f"{z['n_train']} training / {z['n_test']} held-out images"
                          + (f", resized to {z['image_size']}x{z['image_size']}" if z.get("image_size")
                             else "") for z in d["sizes"]) or "no finished runs"
        out += [f"## {ds}", "", f"Per seed: {sizes}.", ""]
        comp = {(c["metric"], c["arm"], c["versus"]): c for c in d["comparisons"]}
        out += ["| row | n | linear readout % | Δ vs (a) pp | Δ vs (b) pp | label assignment % | Δ vs (a) pp "
                "| Δ vs (b) pp |", "|---|---|---|---|---|---|---|---|"]
        for b in d["baselines"]:
            out.append(f"| baseline: {b['label']} | {b['n']} | {_ms(b.get('linear_accuracy'))} | | "
                       f"| {_ms(b.get('assignment_accuracy'))} | | |")
        for r in d["rows"]:
            cells = []
            for m in METRICS:
                cells += [_ms(r.get(m)), _delta(comp.get((m, r["key"], "neither"))),
                          _delta(comp.get((m, r["key"], "normalize")))]
            out.append(f"| {r['label']} | {r['n']} | " + " | ".join(cells) + " |")
        out.append("")
        if any(r["weights"] for r in d["rows"]):
            out += [f"Final {PATHWAY} weight health (mean ± sd over seeds):", "",
                    "| arm | n | " + " | ".join(v.replace("|", "\\|") for v in HEALTH_KEYS.values()) + " |",
                    "|---|---|" + "---|" * len(HEALTH_KEYS)]
            for r in d["rows"]:
                vals = [_ms(r["weights"].get(k), 100.0 if k == "saturation" else 1.0,
                            ".1f" if k == "saturation" else ".3g") for k in HEALTH_KEYS]
                out.append(f"| {r['label']} | {r['n']} | " + " | ".join(vals) + " |")
            out.append("")
    out += ["Accuracies are held-out accuracies, mean ± sd over seeds. Δ = mean paired difference (arm minus "
            "reference, percentage points) over the seeds both arms finished; p = two-sided paired t-test "
            "(none with fewer than two pairs or constant differences); Holm = Holm-corrected over all "
            "comparisons of one dataset and metric (vs (a) and vs (b) together). Baselines use the same "
            "splits and readouts: logistic regression on the pixels, and the untrained network (plasticity "
            "off; normalization and sleep act only while learning). Weight health: metrics.weight_health of "
            f"the trained {PATHWAY} weights; CV of incoming totals = sd / mean of the per-neuron |w| "
            "sums.", ""]
    return "\n".join(out)


# -- plots -------------------------------------------------------------------------------------------
def _best(rows, group):
    cand = [r for r in rows
            if r["group"] == group and (r.get("linear_accuracy") or {}).get("mean") is not None]
    return max(cand, key=lambda r: r["linear_accuracy"]["mean"]) if cand else None


def plot_study(study_dir, study: dict | None = None) -> list[Path]:
    """plots/accuracy_vs_sleep.png, plots/receptive_fields_<dataset>.png (first seed: (a), (b),
    best (c), best (d) by mean linear readout) and plots/weight_health.png (first seed, every arm)."""
    from lava_sleep import plots as P

    study_dir = Path(study_dir)
    if study is None:
        study = files.read_json(study_dir / STUDY_JSON, "study.json")
    out = study_dir / "plots"
    results = study["results"]
    cells, baselines = [], []
    for ds, d in results.items():
        baselines += d["baselines"]
        for r in d["rows"]:
            cells.append({"dataset": ds, "fraction": r["fraction"], **{m: r.get(m) for m in METRICS},
                          "setting": "per-image normalization " + ("on" if r["normalize"] else "off")})
    written = [P.plot_accuracy_by_setting(cells, out / "accuracy_vs_sleep.png", baselines,
                                          metrics=tuple(METRICS.items()))]
    first = study["seeds"][0]
    health = {}
    for ds, d in results.items():
        runs = {x["arm"]: x for x in d["runs"] if x["seed"] == first}
        panels, size = [], None
        for row in [r for r in d["rows"] if r["group"] in ("a", "b")] + [_best(d["rows"], "c"),
                                                                          _best(d["rows"], "d")]:
            if row is None or row["key"] not in runs:
                continue
            try:
                arrays, config = files.read_model(study_dir / runs[row["key"]]["run_dir"])
            except RunError:
                continue
            size = int(config["image_size"])
            panels.append((row["label"], arrays[f"w_{PATHWAY}"]))
        if panels:
            written.append(P.plot_receptive_field_panels(
                panels, size, out / f"receptive_fields_{dataset_slug(ds)}.png",
                title=f"{ds}, seed {first}: X->E receptive fields (|w| per E neuron)"))
        series = []
        for row in d["rows"]:
            if row["key"] in runs:
                try:
                    series.append((row["label"], files.read_result(study_dir / runs[row["key"]]["run_dir"])
                                   .get("health", [])))
                except RunError:
                    continue
        series = [(lab, h) for lab, h in series if h]
        if series:
            health[f"{ds}, seed {first}"] = series
    if health:
        written.append(P.plot_health_arms(health, out / "weight_health.png", pathway=PATHWAY))
    return written
