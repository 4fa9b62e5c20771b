"""``lava-sleep demo``: the main job on the embedded digits (no download).

Trains the paper's network (15x15 inputs, 200 E, 50 I) twice in one simulator batch
(B = 2): without sleep and with a 15 % sleep share, evaluates both on held-out
digits (label assignment and logistic readout), prints a comparison table and writes
results and plots under ``runs/demo/``.

Parameters: ``lava_sleep.params.paper()`` unchanged, the same model as every other
command (its 400 Hz input rate is explained in docs/model.md "Input rate"). Without
the torch engine's compiled kernel (``--backend auto`` only) a reduced demo runs on the NumPy
oracle (:func:`reduced_params`: the paper preset with 150 instead of 350 steps per image
and a sleep period of 1,500 instead of 3,500 steps, on 200 / 100 images) so that it still
finishes in minutes; every other value stays the paper's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

HELP = "main demo: the same network without and with sleep on the embedded digits (no download)"

DEMO_FRACTION = 0.15
DEMO_N_TRAIN = 1200
DEMO_N_TEST = 500


def reduced_params():
    """The paper preset shortened for slow backends.

    Only the timing changes: 150 steps per image (paper 350) and a sleep episode every
    1,500 wake steps (paper 3,500), i.e. still one episode every 10 images. Network size,
    input rate, noise, STDP and sleep values are the paper's.
    """
    from lava_sleep import params as P

    p = P.paper()
    return dataclasses.replace(p, input=dataclasses.replace(p.input, steps_per_image=150),
                               sleep=dataclasses.replace(p.sleep, period=1500))


def native_engine_available() -> bool:
    """True when the torch engine's compiled CPU kernel (its fast path) can be loaded."""
    try:
        from lava_sleep.kernels import native

        native.load("float64")
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def add_arguments(p):
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--fraction", type=float, default=DEMO_FRACTION,
                   help=f"sleep fraction of the sleeping network (default {DEMO_FRACTION})")
    p.add_argument("--n-train", type=int, default=DEMO_N_TRAIN,
                   help=f"training images (default {DEMO_N_TRAIN})")
    p.add_argument("--n-test", type=int, default=DEMO_N_TEST, help=f"held-out images (default {DEMO_N_TEST})")
    p.add_argument("--backend", default="auto", help="numpy | torch (default torch if available)")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def comparison_rows(results: list[dict]) -> list[dict]:
    """Table rows: the two baselines (raw pixels, untrained network; from the first run, the
    same split and seed for every run), then one row per run."""
    rows = []
    base = results[0]["metrics"].get("baselines") if results else None
    if base:
        rows.append({"run": "baseline: raw pixels (logistic)", "sleep_fraction": None,
                     "assignment_accuracy": None, "linear_accuracy": base["pixels_linear_accuracy"],
                     "train_linear_accuracy": base["pixels_train_linear_accuracy"]})
        rows.append({"run": "baseline: untrained network", "sleep_fraction": None,
                     "assignment_accuracy": base["untrained_assignment_accuracy"],
                     "linear_accuracy": base["untrained_linear_accuracy"],
                     "train_linear_accuracy": base["untrained_train_linear_accuracy"],
                     "phi": base["untrained_phi"], "test_rate_hz": base["untrained_test_rate_hz"]})
    for r in results:
        m = r["metrics"]
        w = m["weights"]
        plastic = [n for n in ("XE", "EE") if n in w]
        e = (r.get("cost") or {}).get("energy", {}).get("per_training_image_uj")
        rows.append({
            "run": r["label"], "sleep_fraction": r["sleep_fraction"],
            "assignment_accuracy": m["assignment_accuracy"], "linear_accuracy": m["linear_accuracy"],
            "train_linear_accuracy": m["train_linear_accuracy"],
            "phi": m["phi"], "classes_represented": m["diversity"]["classes_represented"],
            "saturation": {n: w[n]["saturation"] for n in plastic},
            "entropy_norm": {n: w[n]["entropy_norm"] for n in plastic},
            "test_rate_hz": m["test_rate_hz"],
            "sleep_steps_used": r["sleep"]["steps_used"], "sleep_steps_planned": r["sleep"]["steps_planned"],
            "sleep_share_used": r["sleep"]["share_used"],
            "energy_uj_per_image": e,
        })
    return rows


def _energy(e: dict | None) -> str:
    return "-" if not e else f"{e['wake']:.2f} + {e['sleep']:.2f}"


def comparison_table(rows: list[dict]) -> str:
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}"

    def num(x, spec):
        return "-" if x is None else format(x, spec)

    head = ("| run | sleep % | assignment acc % | linear acc % (train %) | phi | XE at bounds % "
            "| EE at bounds % | E rate Hz | sleep steps used / planned | energy per image µJ wake + sleep |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        sat = r.get("saturation", {})
        e = r.get("energy_uj_per_image")
        steps = (f"{r['sleep_steps_used']} / {r['sleep_steps_planned']}" if "sleep_steps_used" in r else "-")
        lines.append(
            f"| {r['run']} | {num(r['sleep_fraction'] and 100 * r['sleep_fraction'], 'g')} "
            f"| {pct(r['assignment_accuracy'])} "
            f"| {pct(r['linear_accuracy'])} ({pct(r.get('train_linear_accuracy'))}) "
            f"| {num(r.get('phi'), '.3f')} | {pct(sat.get('XE'))} | {pct(sat.get('EE'))} "
            f"| {num(r.get('test_rate_hz'), '.1f')} | {steps} "
            f"| {_energy(e)} |")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    import time

    from lava_sleep.experiment import files, options
    from lava_sleep.experiment.config import resolve_backend
    from lava_sleep.experiment.data import DataCache
    from lava_sleep.experiment.stdp import Member, TrainOptions, run_members
    from lava_sleep.io import atomic_write_json, atomic_write_text
    from lava_sleep.params import paper, save_toml

    options.check_seed(args.seed)
    options.check_out_dir(args.out)
    options.check_positive("--n-train", args.n_train, allow_none=False)
    options.check_positive("--n-test", args.n_test, allow_none=False)
    backend = resolve_backend(args.backend)
    params = paper()
    if args.backend == "auto" and not (backend == "torch" and native_engine_available()):
        # Without the compiled kernel the paper-size demo takes a quarter of an hour or more
        # (numpy ~1,200 learning steps/s): run a reduced demo on the NumPy oracle instead
        # (about 70 s on 2 loaded cores).
        backend = "numpy"
        params = reduced_params()
        if args.n_train == DEMO_N_TRAIN and args.n_test == DEMO_N_TEST:
            args.n_train, args.n_test = 200, 100
        print("lava-sleep demo: note: the torch engine's compiled kernel is not available; running a "
              "reduced demo on the numpy backend (paper preset with 150 steps per image and a sleep "
              "period of 1500 steps)")
    sleepy = params.with_sleep_fraction(args.fraction)  # validates the fraction
    if args.fraction <= 0:
        from lava_sleep.experiment.config import RunError

        raise RunError(f"--fraction must be > 0 for the sleeping network, got {args.fraction}")
    out = Path(args.out)
    t_start = time.perf_counter()
    data = DataCache().run_data("digits", params.input.image_size, args.seed, args.n_train, args.n_test)
    tag = f"sleep_{100 * args.fraction:g}".replace(".", "p")
    members = [Member(params.with_sleep_fraction(0.0), args.seed, data, out / "no_sleep", "no_sleep"),
               Member(sleepy, args.seed, data, out / tag, tag)]
    print(f"lava-sleep demo: digits ({args.n_train} training / {args.n_test} held-out images, 8x8 -> "
          f"15x15), paper preset, network {params.n_input}-{params.network.n_exc}E-{params.network.n_inh}I, "
          f"backend {backend}, sleep fractions 0 and {args.fraction:g} in one batch")
    opts = TrainOptions(backend=backend, checkpoint=out / files.CHECKPOINT, checkpoint_every=30.0,
                        progress=not args.no_progress, desc="demo")
    results = run_members(members, opts)
    rows = comparison_rows(results)
    table = comparison_table(rows)
    save_toml(params, out / "demo_config.toml")
    atomic_write_json(out / "comparison.json", files.jsonable(
        {"dataset": data.info(), "seed": args.seed, "backend": backend, "rows": rows,
         "runs": [str(m.out_dir) for m in members],
         "seconds": time.perf_counter() - t_start}))
    atomic_write_text(out / "comparison.md", table)
    written = []
    if not args.no_plots:
        from lava_sleep import plots

        written = plots.plot_comparison([m.out_dir for m in members], out / "plots")
        for m in members:
            written += plots.plot_run(m.out_dir)
    print()
    print(table)
    chance = 1.0 / data.n_classes
    print(f"Baselines use the same split, resized images and readouts (pixels: logistic regression on the "
          f"{params.n_input} pixels; untrained: the same network and seed with plasticity off). Energy: "
          f"an estimate for Loihi 1 silicon (Davies et al. 2018 per-operation figures), not a measurement.")
    print(f"chance level {100 * chance:.0f} %. Results: {out}/comparison.json, runs in {out}/no_sleep and "
          f"{out}/{tag}; {len(written)} plots ({out}/plots and each run's plots/). "
          f"Total {time.perf_counter() - t_start:.0f} s.")
    return 0
