"""Choose the input rate (InputParams.max_rate_hz) on development data disjoint from every MNIST evaluation.

Every MNIST evaluation of the project draws its 8,000 training / 2,000 held-out images per seed
from all 10,000 images of ``shared/data/mnist``, so no MNIST block is free for a choice. The
development data are therefore the embedded scikit-learn digits (1,797 8x8 images, resized to
15x15; no files needed). The choice is disjoint from every MNIST evaluation, not from the demo
(``make demo`` also runs on the digits).

For every rate of ``--rates`` the paper preset (``lava_sleep.params.paper()`` with only
``input.max_rate_hz`` replaced) is trained on the torch engine with the project's own machinery
(``lava_sleep.experiment.stdp.run_members``), one batch per rate holding, for each development
seed, a network without sleep and one with ``--sleep-fraction`` sleep (members differ only in
sleep settings and seed). Each seed draws its own stratified split of ``--n-train`` training and
``--n-test`` held-out digits. The label assignment and the linear (logistic) readout are fitted on
the training images' spike counts and scored on the held-out digits. The default grid spans the
allowed range (0, 1000] Hz (1000 Hz: a white pixel spikes every step).

Size: 800 training / 500 held-out digits per seed. With 1,200 training digits one rate (6
networks) took about 230 s on the 2 shared cores, too slow for the grid in about 15 minutes;
training dominates the time, so only the training set was reduced. Expect about 2 minutes per
rate on 2 busy cores.

Criterion: the chosen rate is the one with the highest mean held-out linear-readout accuracy of
the NO-SLEEP network over the seeds (ties: the lower rate), so that the choice does not favour
sleep. The sleep network is reported per rate as well.

Usage::

    .venv/bin/python benchmarks/choose_input_rate.py [--rates 50 100 200 300 400 600 800 1000]
        [--seeds 100 101 102] [--n-train 800] [--n-test 500] [--sleep-fraction 0.2]
        [--json benchmarks/results/input_rate_choice.json]

Writes (atomically, after every rate, with ``complete`` false until the last) a JSON object
``{criterion, chosen_rate_hz, rows, means, config, machine, date, ...}`` and prints a table of
mean ± sd accuracy per rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
import time

import numpy as np

from lava_sleep import params as P
from lava_sleep.commands.bench import machine_info
from lava_sleep.data import DataError
from lava_sleep.experiment.data import DataCache
from lava_sleep.experiment.stdp import Member, TrainOptions, run_members
from lava_sleep.io import atomic_write_json

RATES = (50.0, 100.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1000.0)
SEEDS = (100, 101, 102)
DATASET = "digits"
CRITERION = ("highest mean held-out linear-readout accuracy of the no-sleep network over the "
             "development seeds (ties: the lower rate); the sleep network is reported, not used")


def model(rate: float, sleep_fraction: float) -> P.ModelParams:
    base = P.paper()
    p = dataclasses.replace(base, input=dataclasses.replace(base.input, max_rate_hz=rate))
    return p.with_sleep_fraction(sleep_fraction)


def mean_sd(xs) -> dict:
    a = np.asarray(xs, dtype=np.float64)
    return {"mean": float(a.mean()), "sd": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "n": int(len(a)), "min": float(a.min()), "max": float(a.max())}


def summarize(rows: list[dict], rates: list[float], fractions: tuple[float, float]) -> list[dict]:
    out = []
    for rate in rates:
        entry = {"rate_hz": rate}
        mine = [r for r in rows if r["rate_hz"] == rate]
        if not mine:
            continue
        for f in fractions:
            sel = [r for r in mine if r["sleep_fraction"] == f]
            key = "no_sleep" if f == 0 else "sleep"
            entry[key] = {m: mean_sd([r[m] for r in sel])
                          for m in ("linear_accuracy", "assignment_accuracy", "phi", "test_rate_hz")}
        by_seed = {}
        for r in mine:
            by_seed.setdefault(r["seed"], {})[r["sleep_fraction"]] = r["linear_accuracy"]
        diffs = [d[fractions[1]] - d[fractions[0]] for d in by_seed.values() if len(d) == 2]
        entry["sleep_minus_no_sleep_linear"] = mean_sd(diffs)
        out.append(entry)
    return out


def choose(means: list[dict]) -> float:
    best = max(means, key=lambda e: (e["no_sleep"]["linear_accuracy"]["mean"], -e["rate_hz"]))
    return best["rate_hz"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=list(RATES), help="white-pixel rates in Hz")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="development seeds")
    ap.add_argument("--n-train", type=int, default=800, help="training digits per seed")
    ap.add_argument("--n-test", type=int, default=500, help="held-out digits per seed")
    ap.add_argument("--sleep-fraction", type=float, default=0.2, help="sleep share of the sleep networks")
    ap.add_argument("--device", default="cpu", help="torch device (cpu or cuda)")
    ap.add_argument("--json", default="benchmarks/results/input_rate_choice.json",
                    help="results file ('' writes none)")
    args = ap.parse_args(argv)
    rates = [float(r) for r in args.rates]
    if len(set(rates)) != len(rates):
        ap.error("--rates must not repeat a rate")
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        ap.error("--seeds must be distinct integers >= 0")
    if min(args.n_train, args.n_test) < 1:
        ap.error("--n-train and --n-test must be >= 1")
    if not args.sleep_fraction > 0:
        ap.error(f"--sleep-fraction must be > 0 (no sleep always runs), got {args.sleep_fraction}")
    if args.device not in ("cpu", "cuda"):
        ap.error(f"--device must be cpu or cuda, got {args.device!r}")
    fractions = (0.0, args.sleep_fraction)
    try:
        for rate in rates:
            for f in fractions:
                model(rate, f)
    except P.ParamError as exc:
        ap.error(str(exc).splitlines()[0])
    cache = DataCache()
    image_size = P.paper().input.image_size
    try:
        data = {s: cache.run_data(DATASET, image_size, s, args.n_train, args.n_test) for s in args.seeds}
    except DataError as exc:
        ap.error(str(exc).splitlines()[0])

    first = data[args.seeds[0]]
    config = {"preset": "paper", "engine": "torch", "mode": "float", "dtype": "float64",
              "device": args.device, "dataset": DATASET, "dataset_size": len(cache.dataset(DATASET)),
              "original_size": list(first.original_size), "image_size": image_size,
              "n_train": args.n_train, "n_test": args.n_test, "seeds": list(args.seeds),
              "rates_hz": rates, "sleep_fractions": list(fractions),
              "readout": "logistic readout and label assignment fitted on all training digits, "
                         "scored on the held-out digits",
              "splits": {str(s): data[s].digest() for s in args.seeds}}
    doc = {"criterion": CRITERION, "config": config, "machine": machine_info(args.device),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "complete": False, "rows": [], "means": [], "chosen_rate_hz": None}
    opts = TrainOptions(backend="torch", device=args.device, record_raster=False, progress=False)
    t_all = time.perf_counter()
    for rate in rates:
        members = [Member(model(rate, f), s, data[s], None, f"{rate:g}Hz/s{s}/f{f:g}")
                   for s in args.seeds for f in fractions]
        t0 = time.perf_counter()
        results = run_members(members, opts)
        wall = time.perf_counter() - t0
        for m, r in zip(members, results, strict=True):
            doc["rows"].append({
                "rate_hz": rate, "seed": m.seed, "sleep_fraction": m.params.sleep.fraction,
                "linear_accuracy": r["linear_accuracy"], "assignment_accuracy": r["assignment_accuracy"],
                "phi": r["phi"], "test_rate_hz": r["metrics"]["test_rate_hz"],
                "silent_test_images": r["metrics"]["silent_test_images"],
                "silent_neurons": r["metrics"]["silent_neurons"],
                "train_linear_accuracy": r["metrics"]["train_linear_accuracy"],
                "sleep_share_used": r["sleep"]["share_used"], "batch_wall_s": wall,
                "batch_train_s": r["timings"]["train_s"], "batch_eval_s": r["timings"]["eval_s"]})
        doc["means"] = summarize(doc["rows"], rates, fractions)
        doc["chosen_rate_hz"] = choose(doc["means"])
        doc["wall_s"] = time.perf_counter() - t_all
        ns = next(e for e in doc["means"] if e["rate_hz"] == rate)
        sys.stderr.write(f"{rate:g} Hz: no sleep {100 * ns['no_sleep']['linear_accuracy']['mean']:.1f} %, "
                         f"sleep {100 * ns['sleep']['linear_accuracy']['mean']:.1f} % ({wall:.0f} s)\n")
        if args.json:
            atomic_write_json(args.json, doc)
    doc["complete"] = True
    chosen = doc["chosen_rate_hz"]
    doc["chosen_at_grid_edge"] = chosen in (min(rates), max(rates))
    doc["best_rate_sleep_hz"] = max(doc["means"], key=lambda e: (e["sleep"]["linear_accuracy"]["mean"],
                                                                 -e["rate_hz"]))["rate_hz"]
    ref = P.paper().input.max_rate_hz
    if ref in rates:
        by = {(r["rate_hz"], r["seed"]): r["linear_accuracy"]
              for r in doc["rows"] if r["sleep_fraction"] == 0}
        doc["chosen_minus_default_no_sleep_linear"] = {
            "default_rate_hz": ref, **mean_sd([by[(chosen, s)] - by[(ref, s)] for s in args.seeds])}
    if args.json:
        atomic_write_json(args.json, doc)

    print(f"| input rate | no sleep linear % | {100 * args.sleep_fraction:g} % sleep linear % "
          "| no sleep assignment % | sleep assignment % | sleep - no sleep (pp) |")
    print("|---|---|---|---|---|---|")
    for e in doc["means"]:
        def pc(d):
            return f"{100 * d['mean']:.1f} ± {100 * d['sd']:.1f}"
        mark = " (chosen)" if e["rate_hz"] == chosen else ""
        print(f"| {e['rate_hz']:g} Hz{mark} | {pc(e['no_sleep']['linear_accuracy'])} "
              f"| {pc(e['sleep']['linear_accuracy'])} | {pc(e['no_sleep']['assignment_accuracy'])} "
              f"| {pc(e['sleep']['assignment_accuracy'])} | {pc(e['sleep_minus_no_sleep_linear'])} |")
    print(f"\nmean ± sd over seeds {list(args.seeds)}; chosen rate ({CRITERION}): {chosen:g} Hz")
    if "chosen_minus_default_no_sleep_linear" in doc:
        d = doc["chosen_minus_default_no_sleep_linear"]
        print(f"chosen - {ref:g} Hz (no sleep, linear, paired by seed): "
              f"{100 * d['mean']:+.1f} ± {100 * d['sd']:.1f} pp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
