"""Sweeps: sleep fractions x seeds x datasets (x models), resumable, with summary statistics.

Folder layout (``SWEEP_DIR``)::

    sweep.json          the sweep's base configuration (everything but fraction, seed, dataset)
    runs.jsonl          one JSON line per finished run (appended whole, fsynced)
    failed.jsonl        one JSON line per run whose task failed for good (error; retried on resume)
    runs/<dataset>/<model>/f<fraction>_s<seed>/   result.json, model.npz (raster.npz)
    checkpoints/        checkpoints of unfinished batches
    summary.json, summary.md   mean, sd and 95 % CI (t distribution) per (model, dataset, fraction)
    plots/              accuracy vs sleep fraction

STDP runs of one dataset are trained in batches of ``batch`` members (several
(fraction, seed) pairs in one simulator batch, the torch engine's fast path). A run
whose line is in runs.jsonl is skipped on restart; a run whose result.json is complete
but whose line is missing (interrupted between the two writes) is recorded without
re-running; an unfinished batch resumes from its checkpoint.

Tasks and executors: the runs to do become tasks (:class:`SweepTask`: one batch of STDP
members, as many as ``batch``, or one SG run), run by an executor
(:mod:`lava_sleep.executors`: in this process, or on Ray) through :func:`run_task`. A
task writes nothing of the sweep folder but its batch checkpoint: it returns its results
and the files of its run folders, and the driver (:func:`run_sweep`) alone writes the run
folders, runs.jsonl and failed.jsonl, so a run is recorded exactly once whatever the
executor, and a task whose worker died and was run again cannot record twice.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lava_sleep.executors import LocalExecutor
from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError, config_hash
from lava_sleep.experiment.data import DataCache
from lava_sleep.experiment.stdp import Member, TrainOptions, member_key, run_members
from lava_sleep.io import append_jsonl, atomic_write_bytes, atomic_write_json, read_jsonl
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
FAILED = "failed.jsonl"
#: The paper's STDP sweep (docs/distributed.md): 4 datasets x 11 sleep fractions (0 to 0.5 by
#: 0.05) x 5 seeds = 220 runs of the paper preset, 8,000 training and 2,000 held-out images,
#: 1 epoch; ``batch``: one seed's 11 fractions per task.
PAPER_FRACTIONS = [round(0.05 * i, 2) for i in range(11)]
PAPER_SWEEP = {"datasets": 4, "fractions": len(PAPER_FRACTIONS), "seeds": 5, "n_train": 8000, "n_test": 2000,
               "epochs": 1, "batch": len(PAPER_FRACTIONS)}
#: Test-only fault injection into tasks (tests/integration/test_executors.py): ``exit-once:PATH``
#: ends the worker process (``os._exit(1)``) in the first task that finds no file at PATH (it
#: creates the file first, so the retry runs normally); ``raise:RUN_DIR`` makes the task holding
#: that run (folder relative to the sweep folder) raise.
FAULT_ENV = "LAVA_SLEEP_TEST_FAULT"


@dataclass
class SweepConfig:
    """Everything that defines a sweep.

    datasets, fractions, seeds, models: the grid. params: base STDP parameters (their
    sleep fraction is replaced per run). sg_params: SG parameters (None when no SG runs).
    n_train, n_test, data_dir, subset: data of every run (split per seed).
    backend, mode, dtype, device, epochs, readout_images: as for ``train``.
    batch: STDP members per simulator batch.
    baselines: also score raw pixels and the untrained network in every STDP run (False: no
    baselines, e.g. for the fixed-point cells of a quantization study, which compare with the
    float cell instead).
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
    baselines: bool = True

    def base(self) -> dict:
        """The part that must not change when a sweep is resumed or extended."""
        p = self.params.with_sleep_fraction(0.0)
        return {**({} if self.baselines else {"baselines": False}),"params": p.to_dict(),
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


def check_sweep_dir(sweep_dir, cfg: SweepConfig) -> str:
    """The hash of ``cfg``'s base configuration; RunError (one line) when ``sweep_dir`` exists and
    is not a folder or holds a sweep of another configuration. Writes nothing."""
    sweep_dir = Path(sweep_dir)
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise RunError(f"--out {sweep_dir} exists and is not a folder")
    h = config_hash(cfg.base())
    path = sweep_dir / SWEEP
    if path.exists():
        old = files.read_json(path, "sweep.json")
        if not isinstance(old, dict) or old.get("hash") != h:
            raise RunError(f"{sweep_dir} holds a sweep of another configuration (preset, config, sizes or "
                           "backend differ); use another --out")
    return h


def _check_sweep_file(sweep_dir: Path, cfg: SweepConfig) -> str:
    h = check_sweep_dir(sweep_dir, cfg)
    base = cfg.base()
    path = sweep_dir / SWEEP
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


@dataclass
class SweepTask:
    """One unit of work for an executor: a batch of STDP members or one SG run.

    runs: ``(dataset, model, fraction, seed, run folder relative to the sweep folder)`` per run,
    in the order of the task's results. members, opts: the STDP batch (the members' out_dir is
    set where the task runs; opts without checkpoint and baseline cache, set there too).
    sg: keyword arguments of :func:`lava_sleep.experiment.sgrun.run_sg` but out_dir.
    checkpoint: file name of the batch's checkpoint. sweep_dir, sweep_hash: the sweep folder
    as the driver sees it and its configuration hash. cache_id: scope of the untrained-network
    baseline cache (one sweep call).
    """

    kind: str
    runs: list
    sweep_dir: str
    sweep_hash: str
    cache_id: str
    members: list | None = None
    opts: TrainOptions | None = None
    checkpoint: str | None = None
    sg: dict | None = None


#: Untrained-network baselines of the sweep whose tasks this process runs (cache_id -> cache):
#: shared by every task of one sweep call that runs in the same process (all of them with the
#: local executor; those that one Ray worker process runs, with Ray).
_BASELINE_CACHES: dict[str, dict] = {}


def run_task(task: SweepTask) -> dict:
    """Run one task wherever the executor put it.

    The runs are written into a temporary folder of the process running the task and
    returned: ``{"results": [result dict per run], "files": [{file name: bytes} per run]}``
    (result.json, model.npz, raster.npz); the driver writes them into the sweep folder.
    Checkpoints go to the sweep folder when this process sees it (same machine or a shared
    filesystem: its sweep.json has the task's hash), else to a folder of this machine's temp
    directory, where a retried task on the same machine finds them.
    """
    _test_fault(task)
    tmp = Path(tempfile.mkdtemp(prefix="lava_sleep-task-"))
    try:
        dirs = [tmp / rel for *_, rel in task.runs]
        if task.kind == "stdp":
            if task.cache_id not in _BASELINE_CACHES:
                _BASELINE_CACHES.clear()  # another sweep's baselines: not needed any more
            cache = _BASELINE_CACHES.setdefault(task.cache_id, {})
            members = [dataclasses.replace(m, out_dir=d) for m, d in zip(task.members, dirs, strict=True)]
            opts = dataclasses.replace(task.opts, baseline_cache=cache, checkpoint=_task_checkpoint(task))
            results = run_members(members, opts)
        elif task.kind == "sg":
            from lava_sleep.experiment.sgrun import run_sg

            results = [run_sg(**task.sg, out_dir=dirs[0])]
        else:
            raise ValueError(f"unknown task kind {task.kind!r}")
        return {"results": results, "files": [_folder_bytes(d) for d in dirs]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _folder_bytes(folder: Path) -> dict:
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _task_checkpoint(task: SweepTask) -> Path | None:
    if task.checkpoint is None:
        return None
    sweep_dir = Path(task.sweep_dir)
    try:
        shared = files.read_json(sweep_dir / SWEEP, "sweep.json").get("hash") == task.sweep_hash
    except (RunError, OSError, AttributeError):
        shared = False
    if not shared:
        sweep_dir = Path(tempfile.gettempdir()) / f"lava_sleep-{os.getuid()}" / "sweeps" / task.sweep_hash
    return sweep_dir / "checkpoints" / task.checkpoint


def _test_fault(task: SweepTask) -> None:
    kind, _, arg = os.environ.get(FAULT_ENV, "").partition(":")
    if kind == "exit-once" and arg:
        try:
            fd = os.open(arg, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(1)
    if kind == "raise" and any(rel == arg for *_, rel in task.runs):
        raise RuntimeError(f"test fault: the task of {arg} fails")


def _write_run(rdir: Path, run_files: dict) -> None:
    """A task's run folder on the driver: result.json last (a complete result.json with its
    model.npz marks a finished run, :func:`_recorded`)."""
    for name, data in run_files.items():
        if name != files.RESULT:
            atomic_write_bytes(rdir / name, data)
    if files.RESULT in run_files:
        atomic_write_bytes(rdir / files.RESULT, run_files[files.RESULT])


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="sweep", unit="run", file=sys.stderr, dynamic_ncols=True)


def run_sweep(sweep_dir, cfg: SweepConfig, plots: bool = True, log=print, executor=None) -> dict:
    """Run every unfinished run of the grid, then write the summary (and plots).

    executor: where the tasks run (:mod:`lava_sleep.executors`; default: this process, in
    order); the caller starts and closes it. Runs whose task failed for good are appended to
    failed.jsonl and listed in the returned dict's ``failed_runs``; the others complete.
    """
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
    executor = executor if executor is not None else LocalExecutor()
    where = "" if isinstance(executor, LocalExecutor) else f" on {executor.describe()}"
    log(f"sweep {sweep_dir}: {len(done)} runs recorded, {len(todo)} to run{where}")
    cache_id = f"{base_hash}-{uuid.uuid4().hex[:12]}"
    # the tasks' own progress bars (images of a batch) only where they run in this process
    task_progress = cfg.progress and executor.in_process
    opts = TrainOptions(backend=cfg.backend, mode=cfg.mode, dtype=cfg.dtype, device=cfg.device,
                        epochs=cfg.epochs, readout_images=cfg.readout_images, progress=task_progress,
                        checkpoint_every=120.0, baselines=cfg.baselines)
    image_size = cfg.params.input.image_size
    task_base = {"sweep_dir": str(sweep_dir), "sweep_hash": base_hash, "cache_id": cache_id}

    def data_for(ds, seed):
        return cache.run_data(ds, image_size, seed, cfg.n_train, cfg.n_test, cfg.data_dir, cfg.subset)

    def rel(path):
        return str(Path(path).relative_to(sweep_dir))

    tasks, recorded = [], 0
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
                recorded += 1
                continue
            members.append((f, s, m))
        for i in range(0, len(members), cfg.batch):
            chunk = members[i:i + cfg.batch]
            ids = [run_id(ds, "stdp", f, s) for f, s, _ in chunk]
            bopts = dataclasses.replace(
                opts, desc=f"{dataset_slug(ds)} [{', '.join(m.label for _, _, m in chunk)}]"[:60])
            tasks.append(SweepTask(
                "stdp", [(str(ds), "stdp", f, s, rel(m.out_dir)) for f, s, m in chunk], **task_base,
                members=[dataclasses.replace(m, out_dir=None) for _, _, m in chunk], opts=bopts,
                checkpoint=f"batch-{config_hash(ids)}.npz"))
        for _, _, f, s in [t for t in todo if t[0] == str(ds) and t[1] == "sg"]:
            from lava_sleep.experiment.sgrun import sg_key

            rdir = run_dir(sweep_dir, ds, "sg", f, s)
            sleep = cfg.params.with_sleep_fraction(f).sleep
            data = data_for(ds, s)
            rec = _recorded(rdir / files.RESULT, sg_key(cfg.sg_params, sleep, s, data, cfg.device))
            if rec is not None:
                append_jsonl(sweep_dir / RUNS, make_line(rec, ds, f, s, rdir, sweep_dir, base_hash))
                recorded += 1
                continue
            tasks.append(SweepTask(
                "sg", [(str(ds), "sg", f, s, rel(rdir))], **task_base,
                sg={"sg_params": cfg.sg_params, "sleep": sleep, "seed": s, "data": data, "device": cfg.device,
                    "progress": task_progress, "label": f"sg f{fraction_tag(f)} s{s}",
                    "meta": {"sweep": base_hash}}))
    failed = []
    if tasks:
        executor.start()  # (Ray: connect or start a local one) before the progress bar
    bar = _progress(len(todo), recorded, cfg.progress and bool(tasks))
    if bar is not None and log is print:  # lines above the bar, not through it
        def log(msg):
            bar.write(msg, file=sys.stdout)
    try:
        for out in executor.run(run_task, tasks) if tasks else ():
            task = tasks[out.index]
            if out.ok:
                for (ds, model, f, s, rdir), r, run_files in zip(task.runs, out.value["results"],
                                                               out.value["files"], strict=True):
                    _write_run(sweep_dir / rdir, run_files)
                    append_jsonl(sweep_dir / RUNS, make_line(r, ds, f, s, sweep_dir / rdir, sweep_dir,
                                                             base_hash))
                    what = (f"linear {r['linear_accuracy']:.3f}, assignment {r['assignment_accuracy']:.3f}"
                            if model == "stdp" else f"accuracy {r['accuracy']:.3f}")
                    log(f"  {dataset_slug(ds)} {model} f={f:g} seed={s}: {what}")
            else:
                for ds, model, f, s, rdir in task.runs:
                    line = {"dataset": str(ds), "model": model, "fraction": float(f), "seed": int(s),
                            "run_dir": rdir, "error": out.error, "details": (out.details or "")[-4000:],
                            "executor": executor.name, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            "sweep": base_hash}
                    append_jsonl(sweep_dir / FAILED, line)
                    failed.append(line)
                    log(f"  {dataset_slug(ds)} {model} f={f:g} seed={s}: FAILED ({out.error})")
            if bar is not None:
                bar.update(len(task.runs))
                if failed:
                    bar.set_postfix_str(f"{len(failed)} failed")
    finally:
        if bar is not None:
            bar.close()
        _BASELINE_CACHES.pop(cache_id, None)
    if failed:
        log(f"sweep {sweep_dir}: {len(failed)} of {len(todo)} runs failed (errors in {FAILED}); "
            "the same command runs them again")
    ckdir = sweep_dir / "checkpoints"
    if ckdir.is_dir() and not any(ckdir.iterdir()):
        ckdir.rmdir()
    summary = write_summary(sweep_dir)
    if plots:
        from lava_sleep import plots as plotmod

        plotmod.plot_sweep(sweep_dir)
    summary["failed_runs"] = failed
    return summary


def log_stderr(msg: str) -> None:
    sys.stderr.write(msg + "\n")
