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
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError, config_hash
from lava_sleep.experiment.data import DataCache
from lava_sleep.experiment.stdp import Member, TrainOptions, member_key, run_members
from lava_sleep.io import append_jsonl, atomic_write_json, read_jsonl
from lava_sleep.params import ModelParams
from lava_sleep.summary import (  # noqa: F401 - re-exported: the sweep's file names and statistics
    RUNS,
    SUMMARY_JSON,
    SUMMARY_MD,
    compare_to_no_sleep,
    comparison_markdown,
    line_id,
    result_metrics,
    run_id,
    summarize,
    write_summary,
)

SWEEP = "sweep.json"


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


def run_dir(sweep_dir: Path, dataset: str, model: str, fraction: float, seed: int) -> Path:
    return Path(sweep_dir) / "runs" / dataset_slug(dataset) / model / f"f{fraction_tag(fraction)}_s{seed}"


def make_line(result: dict, dataset: str, fraction: float, seed: int, rdir: Path, sweep_dir: Path,
              base_hash: str) -> dict:
    """The runs.jsonl record of one finished run (numbers: :func:`lava_sleep.summary.result_metrics`)."""
    return files.jsonable({
        "dataset": str(dataset), "model": result["model"], "fraction": float(fraction), "seed": int(seed),
        **result_metrics(result),
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
    # one untrained-network baseline per (seed, dataset), shared by the batches of this process
    opts = TrainOptions(baseline_cache={}, backend=cfg.backend, mode=cfg.mode, dtype=cfg.dtype,
                        device=cfg.device,
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


def log_stderr(msg: str) -> None:
    sys.stderr.write(msg + "\n")
