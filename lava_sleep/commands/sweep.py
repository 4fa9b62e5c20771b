"""``lava-sleep sweep``: sleep fractions x seeds x datasets (x models), resumable."""

from __future__ import annotations

HELP = "run sleep fractions x seeds x datasets; resumable; summary table and plots"


def add_arguments(p):
    from lava_sleep.experiment import options

    p.add_argument("--datasets", required=True, metavar="A,B",
                   help="comma-separated dataset names or paths (digits, mnist, ...)")
    p.add_argument("--fractions", default="0,0.1,0.2", metavar="F,...",
                   help="comma-separated sleep fractions (default 0,0.1,0.2)")
    p.add_argument("--seeds", default="0,1,2", metavar="S,...", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--model", default="stdp", metavar="stdp,sg", help="models to run (default stdp)")
    options.add_data_arguments(p)
    options.add_model_arguments(p)
    options.add_backend_arguments(p)
    p.add_argument("--batch", type=int, default=None, metavar="B",
                   help="STDP runs per simulator batch (default 16 on torch, 1 otherwise)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    p.add_argument("--out", required=True, metavar="SWEEP_DIR", help="output folder")


def run(args) -> int:
    from lava_sleep.experiment import options
    from lava_sleep.experiment.config import MODELS, build_params, build_sg_params, check_choice, parse_list
    from lava_sleep.sweep import SUMMARY_MD, SweepConfig, run_sweep

    options.check_out_dir(args.out)
    datasets = list(dict.fromkeys(parse_list(args.datasets, str, "dataset")))
    fractions = list(dict.fromkeys(parse_list(args.fractions, float, "fraction")))
    seeds = list(dict.fromkeys(parse_list(args.seeds, int, "seed")))
    models = list(dict.fromkeys(parse_list(args.model, str, "model")))
    for m in models:
        check_choice("model", m, MODELS)
    for s in seeds:
        options.check_seed(s)
    options.check_positive("--epochs", args.epochs, allow_none=False)
    options.check_positive("--readout-images", args.readout_images)
    options.check_positive("--batch", args.batch)
    backend = options.backend_from_args(args)
    params = options.params_for_mode(build_params(args.preset, args.config), args.mode)
    sgp = build_sg_params(args.preset, args.config) if "sg" in models else None
    batch = args.batch if args.batch is not None else (16 if backend == "torch" else 1)
    cfg = SweepConfig(datasets=datasets, fractions=fractions, seeds=seeds, models=models, params=params,
                      sg_params=sgp, n_train=args.n_train, n_test=args.n_test, data_dir=args.data_dir,
                      subset=args.subset, backend=backend, mode=args.mode, dtype=args.dtype,
                      device=args.device, epochs=args.epochs, readout_images=args.readout_images,
                      batch=batch, progress=not args.no_progress)
    run_sweep(args.out, cfg, plots=not args.no_plots)
    from pathlib import Path

    print((Path(args.out) / SUMMARY_MD).read_text())
    return 0
