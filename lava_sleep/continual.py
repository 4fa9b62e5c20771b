"""Continual learning: does sleep protect what was learned before? (docs/continual.md)

Class-incremental split learning: the classes are cut into tasks (default: consecutive
pairs, 5 tasks of 2 digits for MNIST) that arrive one after another; no image of an earlier
task is seen again. Both models of the project learn the same sequence under five
**conditions**:

* ``none``: no sleep;
* ``within``: sleep within every task at the usual fraction (the periodic schedule);
* ``after``: one sleep episode after every task (an on-demand episode,
  docs/model.md "On-demand sleep episodes"), by default as long as the ``within`` condition
  sleeps per task, so both sleep equally long;
* ``both``: ``within`` and ``after`` together;
* ``joint``: no sleep, every class from the start (the images of all tasks mixed), the upper
  bound.

After every task i the network is evaluated (learning and sleep off, from a saved state that
is restored afterwards) on the held-out images of every task seen so far: ``R[i][j]`` is the
accuracy on task j's held-out images after learning task i (j <= i), predicting among the
classes seen so far. From R (T tasks): ``acc`` = mean_j R[T-1][j];
``bwt`` = mean_{j<T-1} (R[T-1][j] - R[j][j]) (backward transfer, 0 = nothing forgotten);
``forgetting`` = mean_{j<T-1} (max_{j<=i<T-1} R[i][j] - R[T-1][j]). Joint training has one
evaluation, after all images, and only ``acc``.

**STDP network** (label assignment, the network's own classifier): after task i, the labelled
images of task i (``n_label`` of its training images) are presented and every neuron's mean
count per class of task i is stored; a neuron's label is its class of highest stored rate
among the classes seen so far, each class's rates measured right after its own task and kept
afterwards (a neuron is re-assigned when it answers a newer class more strongly than the one
it was assigned). ``acc_relabel`` re-assigns every neuron at the end from the labelled images
of all tasks (a probe of what the features still hold; not available to a learner without
old labels). All conditions of a seed run in one simulator batch.

**SG network** (docs/sg.md): a shared output layer of one neuron per class, trained with
cross-entropy on the current task's images only (as in Tadros et al. 2022); prediction is the
argmax over the seen classes. Its sleep is the method's homeostatic decay (no plasticity).

Folder layout (``STUDY_DIR``)::

    continual.json            the study's configuration (what a resumed study must match)
    stdp/seed-<s>/result.json every STDP condition of seed s (checkpoint.npz while running)
    stdp/seed-<s>/fields.npz  X->E weights after every task (first seed only)
    sg/seed-<s>/<condition>.json
    runs.jsonl                one line per (model, condition, seed), rewritten whole
    summary.json, summary.md  per model and condition: acc, bwt, forgetting (mean, 95 % CI),
                              mean R, paired tests against no sleep (Holm)
    plots/                    accuracy_matrices.png, task_accuracy.png, fields.png
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lava_sleep import __version__, rng
from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError, config_hash
from lava_sleep.experiment.data import DataCache, RunData
from lava_sleep.io import atomic_savez, atomic_write_json, atomic_write_text
from lava_sleep.params import ModelParams
from lava_sleep.readout import UNASSIGNED, accuracy, class_rates, predict_assignment
from lava_sleep.summary import holm_correct, paired_difference, seed_stats

FORMAT = "lava-sleep-continual/1"
CONFIG_JSON = "continual.json"
RUNS = "runs.jsonl"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
CONDITIONS = ("none", "within", "after", "both", "joint")
MODELS = ("stdp", "sg")
#: Conditions whose periodic schedule sleeps (fraction > 0) / that sleep after every task.
SLEEP_WITHIN = ("within", "both")
SLEEP_AFTER = ("after", "both")
#: Metrics tested against no sleep (one Holm family per model and metric).
METRICS = ("acc", "bwt", "forgetting")
#: Counter of stream SPLIT for the continual study's image orders (far from the epoch
#: counters of training, lava_sleep.experiment.stdp._epoch_order).
ORDER_COUNTER = 1 << 20
CONDITION_LABELS = {"none": "no sleep", "within": "sleep within tasks", "after": "sleep after each task",
                    "both": "within + after", "joint": "joint training (upper bound)"}


def parse_tasks(text: str, n_classes: int) -> list[tuple[int, ...]]:
    """Tasks from ``"0,1/2,3/4,5"`` (classes of a task separated by commas, tasks by slashes).

    Every class index must lie in [0, n_classes) and belong to at most one task; at least two
    tasks. RunError (one line) otherwise.
    """
    tasks = []
    for part in str(text).split("/"):
        try:
            t = tuple(int(x) for x in part.split(",") if x.strip())
        except ValueError:
            raise RunError(f"--tasks {text!r}: {part!r} is not a comma-separated list of class "
                           "indices") from None
        if not t:
            raise RunError(f"--tasks {text!r}: empty task")
        tasks.append(t)
    return check_tasks(tasks, n_classes)


def check_tasks(tasks, n_classes: int) -> list[tuple[int, ...]]:
    tasks = [tuple(int(c) for c in t) for t in tasks]
    flat = [c for t in tasks for c in t]
    if len(tasks) < 2:
        raise RunError(f"continual learning needs at least 2 tasks, got {len(tasks)}")
    bad = [c for c in flat if not 0 <= c < n_classes]
    if bad:
        raise RunError(f"task class {bad[0]} is not in [0, {n_classes}) (the dataset has {n_classes} "
                       "classes)")
    if len(set(flat)) != len(flat):
        raise RunError("a class belongs to more than one task")
    if any(not t for t in tasks):
        raise RunError("every task needs at least one class")
    return tasks


def default_tasks(n_classes: int, per_task: int = 2) -> list[tuple[int, ...]]:
    """Consecutive groups of ``per_task`` classes (5 tasks of 2 for 10 classes)."""
    return [tuple(range(i, min(i + per_task, n_classes))) for i in range(0, n_classes, per_task)]


@dataclass
class ContinualConfig:
    """Everything that defines a continual-learning study.

    dataset, data_dir, subset, n_train, n_test: the data (lava_sleep.experiment.data; the split
    of each seed is cut into tasks). seeds: one network, split and image order per seed.
    tasks: classes of each task (None: consecutive pairs). models: subset of MODELS.
    conditions: subset of CONDITIONS ("none" is always run: it is the reference).
    params: the STDP network's parameters (the sleep fraction is set per condition).
    fraction: sleep share of the ``within`` and ``both`` conditions (0 < f <= 0.95).
    after_steps: STDP steps of the after-task episode (None: as many as ``within`` sleeps in
    an average task, f/(1-f) x its wake steps). epochs: passes over each task's images (STDP).
    n_label: labelled training images per task that assign the STDP neurons' labels.
    sg_params: SG parameters (its ``epochs`` is replaced by ``sg_epochs`` passes per task);
    sg_after: SG sleep iterations after each task (None: as for after_steps).
    backend, mode, dtype, device: STDP simulator (numpy or torch); device also for the SG.
    """

    dataset: str
    seeds: list
    params: ModelParams
    sg_params: object = None
    tasks: list | None = None
    models: tuple = MODELS
    conditions: tuple = CONDITIONS
    fraction: float = 0.1
    after_steps: int | None = None
    epochs: int = 1
    n_label: int = 300
    sg_epochs: int = 5
    sg_after: int | None = None
    n_train: int | None = None
    n_test: int | None = None
    data_dir: str | None = None
    subset: str = "all"
    backend: str = "torch"
    mode: str = "float"
    dtype: str = "float64"
    device: str = "cpu"
    progress: bool = True
    cache: DataCache = field(default_factory=DataCache, repr=False, compare=False)

    def __post_init__(self):
        self.seeds = list(dict.fromkeys(int(s) for s in self.seeds))
        if not self.seeds:
            raise RunError("--seeds: empty list")
        self.models = tuple(dict.fromkeys(self.models))
        for m in self.models:
            if m not in MODELS:
                raise RunError(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
        if not self.models:
            raise RunError("--models: empty list")
        conds = list(dict.fromkeys(self.conditions))
        for c in conds:
            if c not in CONDITIONS:
                raise RunError(f"unknown condition {c!r}; choose from {', '.join(CONDITIONS)}")
        self.conditions = tuple(c for c in CONDITIONS if c in conds or c == "none")
        if not 0 < self.fraction <= 0.95:
            raise RunError(f"--fraction must be in (0, 0.95], got {self.fraction}")
        self.params.with_sleep_fraction(self.fraction)  # ParamError early
        for name in ("epochs", "n_label", "sg_epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise RunError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
        for name in ("after_steps", "sg_after"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise RunError(f"--{name.replace('_', '-')} must be an integer >= 0, got {v!r}")
        if self.backend not in ("numpy", "torch"):
            raise RunError(f"the continual study runs on the numpy or torch engine, not {self.backend!r}")
        if "sg" in self.models and self.sg_params is None:
            raise RunError("the SG model needs sg_params")

    # -- data ----------------------------------------------------------------------------
    def dataset_obj(self):
        return self.cache.dataset(self.dataset, self.data_dir, self.subset)

    def run_data(self, seed: int) -> RunData:
        return self.cache.run_data(self.dataset, self.params.input.image_size, seed, self.n_train,
                                   self.n_test, self.data_dir, self.subset)

    def task_list(self) -> list[tuple[int, ...]]:
        n = len(self.dataset_obj().classes)
        return check_tasks(self.tasks, n) if self.tasks is not None else default_tasks(n)

    def to_dict(self) -> dict:
        """What a resumed study must match (also stored in continual.json)."""
        return {"format": FORMAT, "dataset": str(self.dataset), "data_dir": self.data_dir,
                "subset": self.subset, "n_train": self.n_train, "n_test": self.n_test,
                "tasks": [list(t) for t in self.task_list()], "fraction": self.fraction,
                "after_steps": self.after_steps, "epochs": self.epochs, "n_label": self.n_label,
                "params": self.params.to_dict(), "backend": self.backend, "mode": self.mode,
                "dtype": self.dtype,
                "sg_params": None if self.sg_params is None else self.sg_params.to_dict(),
                "sg_epochs": self.sg_epochs, "sg_after": self.sg_after}


@dataclass
class Tasks:
    """The tasks of one seed's split: indices into RunData.train_x / test_x per task."""

    classes: list
    train: list
    test: list
    label: list

    @classmethod
    def of(cls, data: RunData, tasks, n_label: int) -> Tasks:
        train, test, label = [], [], []
        for i, t in enumerate(tasks):
            tr = np.flatnonzero(np.isin(data.train_y, t))
            te = np.flatnonzero(np.isin(data.test_y, t))
            if len(tr) == 0 or len(te) == 0:
                raise RunError(f"task {i} (classes {list(t)}) has no training or no held-out images in "
                               f"the split ({len(tr)} / {len(te)}); use more images or other tasks")
            train.append(tr)
            test.append(te)
            label.append(tr[:n_label])  # the split is already shuffled (stratified, seeded)
        return cls([tuple(t) for t in tasks], train, test, label)

    @property
    def n(self) -> int:
        return len(self.classes)


def task_order(seed: int, counter: int, n: int) -> np.ndarray:
    """A seeded permutation of range(n) (stream SPLIT, counter ORDER_COUNTER + counter)."""
    key = rng.key(seed, rng.Stream.SPLIT, ORDER_COUNTER + counter)
    h = rng.uniform_u32(key, np.arange(n, dtype=np.int64))
    return np.argsort(h, kind="stable")


def joint_chunks(tk: Tasks, seed: int) -> list[np.ndarray]:
    """The joint condition's image stream: every task's training images mixed in a seeded order,
    cut into chunks as long as the tasks (so every condition sees as many images per phase)."""
    union = np.concatenate(tk.train)
    stream = union[task_order(seed, 0, len(union))]
    cuts = np.cumsum([len(t) for t in tk.train])[:-1]
    return np.split(stream, cuts)


def epoch_indices(indices: np.ndarray, seed: int, task: int, epoch: int) -> np.ndarray:
    """Images of one pass over a task: as split for epoch 0, else a seeded reordering."""
    if epoch == 0:
        return indices
    return indices[task_order(seed, 1 + 1000 * task + epoch, len(indices))]


def as_matrix(R) -> np.ndarray:
    """A stored accuracy matrix (lists with None above the diagonal) as floats with NaN."""
    return np.array([[np.nan if v is None else v for v in row] for row in R], dtype=np.float64)


def transfer_metrics(R) -> dict:
    """acc, bwt, forgetting of a T x T accuracy matrix (entries j > i ignored); see module doc."""
    R = np.asarray(R, dtype=np.float64)
    T = R.shape[0]
    last = R[T - 1]
    acc = float(np.mean(last[:T]))
    if T < 2:
        return {"acc": acc, "bwt": None, "forgetting": None}
    bwt = float(np.mean([last[j] - R[j, j] for j in range(T - 1)]))
    forg = float(np.mean([max(R[i, j] for i in range(j, T - 1)) - last[j] for j in range(T - 1)]))
    return {"acc": acc, "bwt": bwt, "forgetting": forg}


def after_length(fraction: float, per_task_units: float) -> int:
    """Sleep units after a task that equal what the periodic schedule sleeps within an average
    task: round(f / (1 - f) x wake units per task)."""
    return int(round(fraction / (1.0 - fraction) * per_task_units))


def _per_task_accuracy(pred, labels, test_sets, upto: int) -> list:
    out, k = [], 0
    for j in range(upto + 1):
        n = len(test_sets[j])
        out.append(accuracy(pred[k:k + n], labels[k:k + n]))
        k += n
    return out


def _assign(table: np.ndarray, seen: list) -> np.ndarray:
    """Labels from the stored class rates (n_classes, n_exc) over the seen classes."""
    seen = np.asarray(sorted(seen), dtype=np.int64)
    sub = table[seen]
    out = seen[np.argmax(sub, axis=0)]
    out[sub.max(axis=0) <= 0] = UNASSIGNED
    return out.astype(np.int64)


# ---- STDP: all conditions of one seed in one batch -----------------------------------------
def stdp_after_steps(cfg: ContinualConfig, tk: Tasks) -> int:
    if cfg.after_steps is not None:
        return int(cfg.after_steps)
    slot = cfg.params.input.slot_steps
    return after_length(cfg.fraction, cfg.epochs * float(np.mean([len(t) for t in tk.train])) * slot)


def _stdp_key(cfg: ContinualConfig, seed: int, data: RunData, conds) -> str:
    return config_hash({"format": FORMAT, "model": "stdp", "config": cfg.to_dict(), "seed": seed,
                        "data": data.digest(), "conditions": list(conds)})


def run_stdp_seed(cfg: ContinualConfig, seed: int, seed_dir: Path, fields: bool = False) -> dict:
    """Run (or resume, or read back) every STDP condition of one seed; returns result.json's dict."""
    from lava_sleep.backends import make_simulator
    from lava_sleep.experiment.stdp import close_simulator

    data = cfg.run_data(seed)
    tk = Tasks.of(data, cfg.task_list(), cfg.n_label)
    conds = list(cfg.conditions)
    key = _stdp_key(cfg, seed, data, conds)
    res_path = seed_dir / files.RESULT
    if res_path.exists():
        old = files.read_json(res_path, "result")
        if old.get("key") == key:
            return old
    B, T, C = len(conds), tk.n, data.n_classes
    plist = [cfg.params.with_sleep_fraction(cfg.fraction if c in SLEEP_WITHIN else 0.0) for c in conds]
    L = stdp_after_steps(cfg, tk)
    after = [L if c in SLEEP_AFTER else 0 for c in conds]
    sim = make_simulator(cfg.backend, plist, [seed] * B, mode=cfg.mode, dtype=cfg.dtype, device=cfg.device)
    n_e = cfg.params.network.n_exc
    ck_path = seed_dir / "checkpoint.npz"
    ck = files.read_checkpoint(ck_path, key, B) if ck_path.exists() else None
    if ck is not None:
        states, prog = ck
        for b in range(B):
            sim.load_state_dict(b, {k: v for k, v in states[b].items() if not k.startswith("cl_")})
        tables = [np.asarray(states[b]["cl_table"]) for b in range(B)]
        field_list = [list(states[b]["cl_fields"]) if "cl_fields" in states[b] else [] for b in range(B)]
    else:
        prog = {"done": 0, "train_s": 0.0, "steps": [0] * B, "sleep_steps": [0] * B, "wake_steps": [0] * B,
                "spikes": [0] * B, "episodes": [[] for _ in range(B)], "history": [[] for _ in range(B)],
                "R": [[[None] * T for _ in range(T)] for _ in range(B)]}
        tables = [np.zeros((C, n_e)) for _ in range(B)]
        field_list = [[] for _ in range(B)]
    joint = joint_chunks(tk, seed)
    per_member = "joint" in conds and B > 1
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        total = sum(cfg.epochs * len(t) for t in tk.train)
        done_imgs = sum(cfg.epochs * len(t) for t in tk.train[:prog["done"]])
        bar = tqdm(total=total, initial=done_imgs, desc=f"continual stdp seed {seed}", unit="img",
                   file=sys.stderr, dynamic_ncols=True, leave=False)
    t_start = time.perf_counter()
    try:
        for i in range(prog["done"], T):
            t0 = time.perf_counter()
            for e in range(cfg.epochs):
                seq = epoch_indices(tk.train[i], seed, i, e)
                if per_member:
                    jn = epoch_indices(joint[i], seed, T + i, e)
                    imgs = np.stack([data.train_x[jn if c == "joint" else seq] for c in conds])
                else:
                    imgs = data.train_x[seq]
                last, n_seq = [0], len(seq)

                def tick(k, last=last, n=n_seq):  # k: images done, summed over members
                    if bar is not None:
                        done = k // B
                        bar.update(max(0, min(done, n) - last[0]))
                        last[0] = max(last[0], min(done, n))

                out = sim.run(imgs, learn=True, sleep_on=True, progress=tick)
                _add_output(prog, out, B)
            if any(after):
                _add_output(prog, sim.sleep(after, learn=True), B)
            train_s = time.perf_counter() - t0
            # evaluation: labelled images of task i, then held-out images of tasks 0..i
            seen = sorted(c for t in tk.classes[: i + 1] for c in t)
            test_idx = np.concatenate(tk.test[: i + 1])
            n_lab = len(tk.label[i])
            shown = np.concatenate([data.train_x[tk.label[i]], data.test_x[test_idx]])
            counts = _frozen_counts(sim, shown, B)
            lab_y = data.train_y[tk.label[i]]
            for b in range(B):
                rates = class_rates(counts[b, :n_lab], lab_y, C)
                tables[b][list(tk.classes[i])] = rates[list(tk.classes[i])]
                pred = predict_assignment(counts[b, n_lab:], _assign(tables[b], seen), C)
                prog["R"][b][i][: i + 1] = _per_task_accuracy(pred, data.test_y[test_idx], tk.test, i)
                prog["history"][b].append({"task": i, "train_s": train_s})
                if fields:
                    field_list[b].append(sim.weights(b)["XE"].astype(np.float32))
            if i == T - 1:
                final = _final_relabel(sim, data, tk, counts[:, n_lab:], test_idx, B, C)
                prog["R_relabel"] = final
            prog["done"] = i + 1
            prog["train_s"] += time.perf_counter() - t0
            states = []
            for b in range(B):
                st = dict(sim.state_dict(b))
                st["cl_table"] = tables[b]
                if field_list[b]:
                    st["cl_fields"] = np.stack(field_list[b])
                states.append(st)
            files.write_checkpoint(ck_path, key, states, prog)
    finally:
        if bar is not None:
            bar.close()
        close_simulator(sim)
    if fields and field_list[0]:
        atomic_savez(seed_dir / "fields.npz", conditions=np.array(conds),
                     **{c: np.stack(field_list[b]) for b, c in enumerate(conds)})
    result = _stdp_result(cfg, seed, data, tk, conds, prog, key, L, time.perf_counter() - t_start)
    files.write_result(seed_dir, result)
    ck_path.unlink(missing_ok=True)
    return result


def _add_output(prog: dict, out, B: int) -> None:
    steps = np.broadcast_to(np.asarray(out.steps), (B,))
    sleep_steps = np.broadcast_to(np.asarray(out.sleep_steps), (B,))
    for b in range(B):
        prog["steps"][b] += int(steps[b])
        prog["sleep_steps"][b] += int(sleep_steps[b])
        prog["wake_steps"][b] += int(steps[b]) - int(sleep_steps[b])
        if out.activity is not None:
            prog["spikes"][b] += int(np.asarray(out.activity[b]).sum())
        prog["episodes"][b] += [{k: e[k] for k in ("episode", "wake_step", "planned", "used")}
                                for e in out.episodes[b]]


def _frozen_counts(sim, images, B: int) -> np.ndarray:
    """E counts (B, n, n_e) of ``images`` with learning and sleep off, every member starting from
    its current state, which is restored afterwards."""
    states = [sim.state_dict(b) for b in range(B)]
    out = sim.run(images, learn=False, sleep_on=False)
    for b in range(B):
        sim.load_state_dict(b, states[b])
    return np.asarray(out.counts)


def _final_relabel(sim, data, tk: Tasks, test_counts, test_idx, B: int, C: int) -> list:
    """Per member, the per-task accuracy after re-assigning every neuron from the labelled images
    of all tasks (final network)."""
    lab = np.concatenate(tk.label)
    counts = _frozen_counts(sim, data.train_x[lab], B)
    seen = sorted(c for t in tk.classes for c in t)
    out = []
    for b in range(B):
        table = class_rates(counts[b], data.train_y[lab], C)
        pred = predict_assignment(test_counts[b], _assign(table, seen), C)
        out.append(_per_task_accuracy(pred, data.test_y[test_idx], tk.test, tk.n - 1))
    return out


def _stdp_result(cfg, seed, data, tk, conds, prog, key, L, seconds) -> dict:
    runs = {}
    for b, c in enumerate(conds):
        R = [[None if v is None else float(v) for v in row] for row in prog["R"][b]]
        relabel = prog["R_relabel"][b]
        m = transfer_metrics(as_matrix(R))
        rec = {"R": R, "R_relabel": relabel, "acc_relabel": float(np.mean(relabel)), **m}
        if c == "joint":  # one evaluation with every class known: labels from all tasks
            rec.update({"R": None, "acc": float(np.mean(relabel)), "bwt": None, "forgetting": None,
                        "acc_final_row": relabel})
        steps, sl = prog["steps"][b], prog["sleep_steps"][b]
        rec.update({"sleep_steps": sl, "wake_steps": prog["wake_steps"][b],
                    "sleep_share": sl / steps if steps else 0.0, "episodes": len(prog["episodes"][b]),
                    "spikes": prog["spikes"][b]})
        runs[c] = rec
    return {"format": FORMAT, "version": __version__, "model": "stdp", "key": key, "seed": seed,
            "dataset": data.info(), "tasks": [list(t) for t in tk.classes],
            "after_steps": L, "fraction": cfg.fraction, "seconds": seconds, "conditions": runs}


# ---- SG: one run per (condition, seed) -------------------------------------------------------
def sg_after_iterations(cfg: ContinualConfig, tk: Tasks) -> int:
    if cfg.sg_after is not None:
        return int(cfg.sg_after)
    bs = cfg.sg_params.batch_size
    per_task = cfg.sg_epochs * float(np.mean([math.ceil(len(t) / bs) for t in tk.train]))
    return after_length(cfg.fraction, per_task)


def run_sg_condition(cfg: ContinualConfig, seed: int, cond: str, path: Path) -> dict:
    """Run (or read back) the SG network under one condition; returns the record written to path."""
    from lava_sleep.experiment.config import import_sg

    sg = import_sg()
    data = cfg.run_data(seed)
    tk = Tasks.of(data, cfg.task_list(), cfg.n_label)
    p = dataclasses.replace(cfg.sg_params, n_classes=max(cfg.sg_params.n_classes, data.n_classes))
    sleep = cfg.params.with_sleep_fraction(cfg.fraction if cond in SLEEP_WITHIN else 0.0).sleep
    key = config_hash({"format": FORMAT, "model": "sg", "config": cfg.to_dict(), "seed": seed,
                       "condition": cond, "data": data.digest(), "device": cfg.device})
    if path.exists():
        old = files.read_json(path, "result")
        if old.get("key") == key:
            return old
    L = sg_after_iterations(cfg, tk) if cond in SLEEP_AFTER else 0
    trainer = sg.SGTrainer(p, sleep, data.train_x.shape[1], seed, cfg.device)
    joint = joint_chunks(tk, seed)
    T = tk.n
    R = [[None] * T for _ in range(T)]
    episodes = 0
    t0 = time.perf_counter()
    for i in range(T):
        idx = joint[i] if cond == "joint" else tk.train[i]
        for e in range(cfg.sg_epochs):
            order = idx[sg.model.shuffle_order(trainer.seed, i * cfg.sg_epochs + e, len(idx))]
            for s in range(0, len(order), p.batch_size):
                b = order[s:s + p.batch_size]
                trainer.wake_iteration(data.train_x[b], data.train_y[b])
                if trainer.sleep_due():
                    trainer.sleep_episode()
                    episodes += 1
        if L:
            trainer.sleep_episode(length=L)
            episodes += 1
        seen = sorted(c for t in tk.classes[: i + 1] for c in t)
        if cond == "joint":
            if i < T - 1:
                continue
            seen = sorted(c for t in tk.classes for c in t)
        test_idx = np.concatenate(tk.test[: i + 1])
        ev = sg.evaluate_sg(trainer.state_dict(), p, data.test_x[test_idx], data.test_y[test_idx],
                            device=cfg.device, classes=seen)
        R[i][: i + 1] = _per_task_accuracy(ev["predictions"], data.test_y[test_idx], tk.test, i)
    if cond == "joint":
        rec = {"R": None, "acc": float(np.mean(R[T - 1])), "bwt": None, "forgetting": None,
               "acc_final_row": R[T - 1]}
    else:
        rec = {"R": R, **transfer_metrics(as_matrix(R))}
    total = trainer.wake_steps + trainer.sleep_steps
    rec.update({"format": FORMAT, "version": __version__, "model": "sg", "key": key, "seed": seed,
                "condition": cond, "after_iterations": L, "wake_steps": trainer.wake_steps,
                "sleep_steps": trainer.sleep_steps,
                "sleep_share": trainer.sleep_steps / total if total else 0.0,
                "episodes": episodes, "seconds": time.perf_counter() - t0})
    atomic_write_json(path, rec)
    return rec


# ---- the study ---------------------------------------------------------------------------
def check_study_dir(study_dir: Path, cfg: ContinualConfig) -> None:
    """Refuse a folder that holds another study (one line) before anything runs."""
    p = study_dir / CONFIG_JSON
    if study_dir.exists() and not study_dir.is_dir():
        raise RunError(f"--out {study_dir} exists and is not a folder")
    if p.exists():
        old = files.read_json(p, CONFIG_JSON)
        new = files.jsonable(cfg.to_dict())
        if {k: v for k, v in old.items() if k not in ("seeds", "models", "conditions")} != new:
            raise RunError(f"--out {study_dir} holds another continual study (its {CONFIG_JSON} differs); "
                           "use another folder")


def run_continual(study_dir, cfg: ContinualConfig, plots: bool = True, log=print) -> dict:
    """Run every unfinished part of the study, then write runs.jsonl, summary.json/.md and plots."""
    study_dir = Path(study_dir)
    cfg.dataset_obj()  # a bad dataset fails before anything is written
    cfg.task_list()
    for s in cfg.seeds:  # every split must hold every task
        Tasks.of(cfg.run_data(s), cfg.task_list(), cfg.n_label)
    if "sg" in cfg.models:
        from lava_sleep.experiment.config import import_sg

        import_sg()
    check_study_dir(study_dir, cfg)
    study_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(study_dir / CONFIG_JSON, {**files.jsonable(cfg.to_dict()), "seeds": cfg.seeds,
                                                "models": list(cfg.models),
                                                "conditions": list(cfg.conditions)})
    t0 = time.perf_counter()
    records = []
    for k, seed in enumerate(cfg.seeds):
        if "stdp" in cfg.models:
            sd = study_dir / "stdp" / f"seed-{seed}"
            sd.mkdir(parents=True, exist_ok=True)
            res = run_stdp_seed(cfg, seed, sd, fields=k == 0)
            for c, r in res["conditions"].items():
                records.append(_line("stdp", c, seed, r))
        if "sg" in cfg.models:
            sd = study_dir / "sg" / f"seed-{seed}"
            sd.mkdir(parents=True, exist_ok=True)
            for c in cfg.conditions:
                records.append(_line("sg", c, seed, run_sg_condition(cfg, seed, c, sd / f"{c}.json")))
        log(f"continual: seed {seed} done ({time.perf_counter() - t0:.0f} s)")
    atomic_write_text(study_dir / RUNS, "".join(_json_line(r) for r in records))
    summary = combine(records, cfg)
    summary["seconds"] = time.perf_counter() - t0
    write_summary(study_dir, summary)
    if plots:
        plot_continual(study_dir, summary)
    return summary


def _line(model: str, cond: str, seed: int, r: dict) -> dict:
    keep = ("R", "R_relabel", "acc_final_row", "acc", "bwt", "forgetting", "acc_relabel", "sleep_steps",
            "wake_steps", "sleep_share", "episodes")
    return {"model": model, "condition": cond, "seed": int(seed), **{k: r.get(k) for k in keep if k in r}}


def _json_line(r: dict) -> str:
    import json

    return json.dumps(files.jsonable(r), sort_keys=True) + "\n"


def _mean_matrix(mats) -> list | None:
    mats = [as_matrix(m) for m in mats if m is not None]
    if not mats:
        return None
    stack = np.stack(mats)
    have = ~np.isnan(stack)
    mean = np.where(have, stack, 0.0).sum(0) / np.maximum(have.sum(0), 1)
    return [[float(v) if h else None for v, h in zip(row, hrow, strict=True)]
            for row, hrow in zip(mean, have.any(0), strict=True)]


def combine(records: list[dict], cfg: ContinualConfig) -> dict:
    """summary.json's content from the runs' records (statistics over seeds, paired tests)."""
    out = {"format": FORMAT, "version": __version__, "dataset": str(cfg.dataset),
           "tasks": [list(t) for t in cfg.task_list()], "seeds": cfg.seeds, "fraction": cfg.fraction,
           "conditions": {}, "tests": []}
    for model in cfg.models:
        rows = [r for r in records if r["model"] == model]
        base = {r["seed"]: r for r in rows if r["condition"] == "none"}
        entries = {}
        for c in cfg.conditions:
            rs = [r for r in rows if r["condition"] == c]
            if not rs:
                continue
            e = {"model": model, "condition": c, "label": CONDITION_LABELS[c], "n": len(rs),
                 "seeds": sorted(r["seed"] for r in rs)}
            for m in (*METRICS, "acc_relabel", "sleep_share"):
                vals = [r.get(m) for r in rs]
                if any(v is not None for v in vals):
                    e[f"{m}_stats"] = seed_stats(vals)
                    e[m] = e[f"{m}_stats"]["mean"]
                else:
                    e[m] = None
            e["R_mean"] = _mean_matrix([r.get("R") for r in rs])
            finals = [r["R"][-1] if r.get("R") else r.get("acc_final_row") for r in rs]
            e["final_row_mean"] = [float(np.mean(col)) for col in zip(*finals, strict=True)]
            entries[c] = e
        out[model] = entries
        for c, e in entries.items():
            out["conditions"][c if model == "stdp" else f"{model}:{c}"] = e
        for m in METRICS:
            fam = []
            for c in cfg.conditions:
                if c in ("none", "joint") or c not in entries:
                    continue
                cur = {r["seed"]: r[m] for r in rows if r["condition"] == c and r.get(m) is not None}
                ref = {s: r[m] for s, r in base.items() if r.get(m) is not None}
                row = {"model": model, "condition": c, "metric": m, "vs": "none",
                       **paired_difference(cur, ref)}
                fam.append(row)
            holm_correct(fam)
            for row in fam:
                keep = ("diff_mean", "diff_sd", "t", "p", "p_holm", "verdict", "n")
                entries[row["condition"]][f"{m}_vs_none"] = {k: row[k] for k in keep}
            out["tests"] += fam
    return out


def write_summary(study_dir: Path, summary: dict) -> None:
    atomic_write_json(study_dir / SUMMARY_JSON, files.jsonable(summary))
    atomic_write_text(study_dir / SUMMARY_MD, summary_markdown(summary))


def _pct(st) -> str:
    if not st or st.get("mean") is None:
        return "-"
    if st.get("ci95") is None:
        return f"{100 * st['mean']:.1f}"
    return f"{100 * st['mean']:.1f} ± {100 * st['ci95']:.1f}"


def _test(e: dict, m: str) -> str:
    t = e.get(f"{m}_vs_none")
    if not t or t.get("diff_mean") is None:
        return ""
    p = t.get("p_holm")
    ps = "n/a" if p is None else ("<0.0001" if p < 1e-4 else f"{p:.2g}")
    return f"{100 * t['diff_mean']:+.1f} ({ps})"


def summary_markdown(s: dict) -> str:
    tasks = " / ".join(",".join(str(c) for c in t) for t in s["tasks"])
    lines = [f"# Continual learning: {s['dataset']}, tasks {tasks}, seeds {', '.join(map(str, s['seeds']))}",
             "",
             "Class-incremental, no replay. ACC: mean accuracy over all tasks after the last one; "
             "BWT: mean change of each earlier task's accuracy from right after it was learned to the "
             "end (0 = nothing forgotten); forgetting: mean drop from each earlier task's best accuracy. "
             "Mean ± 95 % CI over seeds (%); in brackets the paired difference to no sleep in pp and its "
             "Holm-corrected p (one family per model and metric).", ""]
    for model in ("stdp", "sg"):
        entries = s.get(model)
        if not entries:
            continue
        title = {"stdp": "STDP network (label assignment)", "sg": "SG network (shared output layer)"}[model]
        lines += [f"## {title}", ""]
        head = "| condition | ACC % | vs none | BWT pp | vs none | forgetting pp | vs none | sleep share |"
        extra = model == "stdp"
        if extra:
            head += " ACC, labels from all tasks % |"
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        for e in entries.values():
            row = (f"| {e['label']} | {_pct(e.get('acc_stats'))} | {_test(e, 'acc')} | "
                   f"{_pct(e.get('bwt_stats'))} | {_test(e, 'bwt')} | {_pct(e.get('forgetting_stats'))} | "
                   f"{_test(e, 'forgetting')} | {_pct(e.get('sleep_share_stats'))} |")
            if extra:
                row += f" {_pct(e.get('acc_relabel_stats'))} |"
            lines.append(row)
        lines.append("")
        for e in entries.values():
            if e.get("R_mean") is None:
                continue
            lines += [f"Mean R[i][j] (% on task j after task i), {e['label']}:", "",
                      "| after task | " + " | ".join(f"task {j}" for j in range(len(e["R_mean"]))) + " |",
                      "|---|" + "---|" * len(e["R_mean"])]
            for i, row in enumerate(e["R_mean"]):
                cells = ("" if v is None else f"{100 * v:.1f}" for v in row)
                lines.append(f"| {i} | " + " | ".join(cells) + " |")
            lines.append("")
    if s.get("seconds") is not None:
        lines.append(f"Wall time of this invocation: {s['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


# ---- plots ---------------------------------------------------------------------------------
def plot_continual(study_dir, summary: dict | None = None) -> list[Path]:
    """accuracy_matrices.png, task_accuracy.png and (STDP, first seed) fields.png in plots/."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study_dir = Path(study_dir)
    s = summary or files.read_json(study_dir / SUMMARY_JSON, SUMMARY_JSON)
    out_dir = study_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    written = []
    models = [m for m in ("stdp", "sg") if s.get(m)]
    seq = [c for c in CONDITIONS if c != "joint"]
    ncol = max(len([c for c in seq if c in s[m]]) for m in models)

    def panels(axes):
        """(axis, column, model, summary entry, R in % with NaN above the diagonal) per panel: a
        row per model, a column per sequential condition; spare axes are switched off."""
        for r, m in enumerate(models):
            conds = [c for c in seq if c in s[m]]
            for k in range(ncol):
                if k >= len(conds):
                    axes[r][k].axis("off")
                    continue
                e = s[m][conds[k]]
                R = 100 * as_matrix(e["R_mean"])
                yield axes[r][k], k, m, e, R

    fig, axes = plt.subplots(len(models), ncol, figsize=(3.1 * ncol, 3.0 * len(models)), squeeze=False)
    for ax, k, m, e, R in panels(axes):
        im = ax.imshow(R, vmin=0, vmax=100, cmap="viridis")
        for i in range(R.shape[0]):
            for j in range(R.shape[1]):
                if not np.isnan(R[i, j]):
                    ax.text(j, i, f"{R[i, j]:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if R[i, j] < 60 else "black")
        bwt = e.get("bwt")
        ax.set_title(f"{m.upper()}: {e['label']}\nACC {100 * e['acc']:.1f} %, BWT "
                     f"{'-' if bwt is None else f'{100 * bwt:+.1f}'} pp", fontsize=8)
        ax.set_xlabel("evaluated on task j", fontsize=8)
        if k == 0:
            ax.set_ylabel("after task i", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.6, label="accuracy %")
    p = out_dir / "accuracy_matrices.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    written.append(p)

    fig, axes = plt.subplots(len(models), ncol, figsize=(3.1 * ncol, 2.8 * len(models)), squeeze=False,
                             sharey=True)
    for ax, k, m, e, R in panels(axes):
        for j in range(R.shape[1]):
            ax.plot(range(j, R.shape[0]), R[j:, j], marker="o", ms=3, label=f"task {j}")
        if "joint" in s[m]:
            ax.axhline(100 * s[m]["joint"]["acc"], color="gray", ls="--", lw=1, label="joint ACC")
        ax.set_title(f"{m.upper()}: {e['label']}", fontsize=8)
        ax.set_xlabel("after task i", fontsize=8)
        ax.set_ylim(0, 100)
        if k == 0:
            ax.set_ylabel("accuracy on task j %", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    p = out_dir / "task_accuracy.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    written.append(p)

    fpath = study_dir / "stdp" / f"seed-{s['seeds'][0]}" / "fields.npz"
    if fpath.exists():
        d = files.load_npz_dict(fpath, "fields")
        conds = [str(c) for c in np.asarray(d["conditions"])]
        p = out_dir / "fields.png"
        _plot_fields(plt, {c: np.asarray(d[c]) for c in conds}, p)
        written.append(p)
    return written


def _plot_fields(plt, fields: dict, path: Path, n_show: int = 36) -> None:
    """Rows: conditions; columns: tasks; each panel a mosaic of the first n_show neurons' X->E
    weights (shared scale per panel)."""
    conds = list(fields)
    T = fields[conds[0]].shape[0]
    n_x = fields[conds[0]].shape[2]
    side = int(round(math.sqrt(n_x)))
    g = int(math.ceil(math.sqrt(n_show)))
    fig, axes = plt.subplots(len(conds), T, figsize=(1.9 * T, 2.0 * len(conds)), squeeze=False)
    for r, c in enumerate(conds):
        for t in range(T):
            w = np.abs(fields[c][t][:n_show])
            mosaic = np.zeros((g * (side + 1), g * (side + 1)))
            for k in range(len(w)):
                y, x = divmod(k, g)
                mosaic[y * (side + 1):y * (side + 1) + side, x * (side + 1):x * (side + 1) + side] = \
                    w[k].reshape(side, side)
            ax = axes[r][t]
            ax.imshow(mosaic, cmap="hot")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"after task {t}", fontsize=8)
            if t == 0:
                ax.set_ylabel(CONDITION_LABELS[c], fontsize=7)
    fig.suptitle(f"X->E receptive fields (first {n_show} E neurons), first seed", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
