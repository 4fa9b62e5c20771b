"""``lava-sleep normalization-study``: can sleep replace per-image weight normalization?

Four arms per dataset and seed ((a) neither, (b) X->E per-image normalization, (c) sleep at
each of --fractions, (d) both at --both-fractions), run as two resumable sweeps and combined
into STUDY_DIR/study.json and study.md with paired statistics (lava_sleep.normalization_study).
"""

from __future__ import annotations

HELP = ("can sleep replace per-image weight normalization? four arms x seeds x datasets; resumable; "
        "paired statistics and plots")


def preset_epochs(name: str) -> int:
    """Training epochs the preset is meant for (lava_sleep.params.preset_epochs when it exists, else 1)."""
    from lava_sleep import params as P

    fn = getattr(P, "preset_epochs", None)
    return int(fn(name)) if callable(fn) else 1


def add_arguments(p):
    from lava_sleep.experiment import options
    from lava_sleep.params import PRESETS

    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (resumed when it holds the same study)")
    p.add_argument("--datasets", default="mnist,digits", metavar="A,B",
                   help="comma-separated dataset names or paths (default mnist,digits)")
    options.add_data_arguments(p)
    p.add_argument("--fractions", default="0.05,0.1,0.2,0.3", metavar="F,...",
                   help="sleep fractions of the sleep-only arm (c), each > 0 (default 0.05,0.1,0.2,0.3)")
    p.add_argument("--both-fractions", default="0.1", metavar="F,...",
                   help="sleep fractions of the arm with normalization and sleep (d), each > 0 (default 0.1)")
    options.add_seeds_argument(p)
    p.add_argument("--preset", default="competitive", metavar="NAME",
                   help=f"parameter preset: {' | '.join(PRESETS)} (default competitive)")
    p.add_argument("--config", default=None, metavar="FILE.toml",
                   help="TOML parameters on top of the preset (X->E normalize and the sleep fraction are "
                        "set per arm)")
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the training images (default: the preset's)")
    p.add_argument("--readout-images", type=int, default=None, metavar="N",
                   help="training images used to fit the readouts (default all)")
    options.add_backend_arguments(p)
    p.add_argument("--batch", type=int, default=None, metavar="B",
                   help="runs per simulator batch (default 16 on torch, 1 otherwise)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")


def run(args) -> int:
    from pathlib import Path

    from lava_sleep.experiment import options
    from lava_sleep.experiment.config import build_params, parse_list
    from lava_sleep.normalization_study import STUDY_MD, StudyConfig, run_study

    out = options.check_out_dir(Path(args.out))
    datasets = list(dict.fromkeys(parse_list(args.datasets, str, "dataset")))
    fractions = list(dict.fromkeys(parse_list(args.fractions, float, "fraction")))
    both = list(dict.fromkeys(parse_list(args.both_fractions, float, "fraction")))
    seeds = options.seeds_from_args(args.seeds)
    options.check_positive("--epochs", args.epochs)
    options.check_positive("--readout-images", args.readout_images)
    options.check_positive("--batch", args.batch)
    backend = options.backend_from_args(args)
    params = options.params_for_mode(build_params(args.preset, args.config), args.mode)
    epochs = args.epochs if args.epochs is not None else preset_epochs(args.preset)
    batch = args.batch if args.batch is not None else (16 if backend == "torch" else 1)
    cfg = StudyConfig(datasets=datasets, seeds=seeds, params=params, fractions=fractions, both_fractions=both,
                      n_train=args.n_train, n_test=args.n_test, data_dir=args.data_dir, subset=args.subset,
                      backend=backend, mode=args.mode, dtype=args.dtype, device=args.device, epochs=epochs,
                      readout_images=args.readout_images, batch=batch, progress=not args.no_progress)
    study = run_study(out, cfg, plots=not args.no_plots)
    print((out / STUDY_MD).read_text())
    return options.report_failed("normalization-study", study.get("failed_runs") or [],
                                 f"{out}/normalize_*/failed.jsonl")
