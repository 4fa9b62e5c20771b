"""``lava-sleep onchip-study``: no sleep vs host sleep vs on-chip sleep (lava_sleep.onchip_study).

Three arms per dataset and seed, run as two resumable sweeps (STUDY_DIR/host, STUDY_DIR/onchip)
and combined into STUDY_DIR/study.json, study.md and plots/onchip_study.png.
"""

from __future__ import annotations

HELP = (
    "what the on-chip sleep form costs: no sleep vs host sleep vs on-chip sleep, seeds x datasets; "
    "resumable; paired statistics and a plot"
)


def add_arguments(p):
    from lava_sleep.experiment import options
    from lava_sleep.params import ONCHIP_BLOCK, PRESETS

    p.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (resumed when it holds the same study)"
    )
    p.add_argument(
        "--datasets",
        default="mnist",
        metavar="A,B",
        help="comma-separated dataset names or paths (default mnist)",
    )
    options.add_data_arguments(p)
    p.add_argument(
        "--fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="sleep fraction of both sleeping arms, 0 < F <= 0.95 (default 0.2)",
    )
    p.add_argument(
        "--block",
        type=int,
        default=ONCHIP_BLOCK,
        metavar="N",
        help=f"on-chip decay period in steps, a power of two <= 512 (default {ONCHIP_BLOCK})",
    )
    options.add_seeds_argument(p)
    p.add_argument(
        "--preset",
        default="paper",
        metavar="NAME",
        help=f"parameter preset: {' | '.join(PRESETS)} (default paper)",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="TOML parameters on top of the preset (its sleep is the host arm's)",
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="passes over the training images (default: the preset's)"
    )
    p.add_argument(
        "--readout-images",
        type=int,
        default=None,
        metavar="N",
        help="training images used to fit the readouts (default all)",
    )
    options.add_backend_arguments(p)
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        metavar="B",
        help="runs per simulator batch (default 16 on torch, 1 otherwise)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the plot")


def run(args) -> int:
    from pathlib import Path

    from lava_sleep.experiment import options
    from lava_sleep.experiment.config import build_params, parse_list
    from lava_sleep.onchip_study import STUDY_MD, StudyConfig, run_study
    from lava_sleep.params import preset_epochs

    out = options.check_out_dir(Path(args.out))
    datasets = list(dict.fromkeys(parse_list(args.datasets, str, "dataset")))
    seeds = options.seeds_from_args(args.seeds)
    for what in ("epochs", "readout_images", "batch"):
        options.check_positive("--" + what.replace("_", "-"), getattr(args, what))
    backend = options.backend_from_args(args)
    params = options.params_for_mode(build_params(args.preset, args.config), args.mode)
    cfg = StudyConfig(
        datasets=datasets,
        seeds=seeds,
        params=params,
        fraction=args.fraction,
        block=args.block,
        n_train=args.n_train,
        n_test=args.n_test,
        data_dir=args.data_dir,
        subset=args.subset,
        backend=backend,
        mode=args.mode,
        dtype=args.dtype,
        device=args.device,
        epochs=args.epochs if args.epochs is not None else preset_epochs(args.preset),
        readout_images=args.readout_images,
        batch=args.batch if args.batch is not None else (16 if backend == "torch" else 1),
        progress=not args.no_progress,
    )
    study = run_study(out, cfg, plots=not args.no_plots)
    print((out / STUDY_MD).read_text())
    return options.report_failed("onchip-study", study.get("failed_runs") or [], f"{out}/*/failed.jsonl")
