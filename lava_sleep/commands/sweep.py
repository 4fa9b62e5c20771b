"""``lava-sleep sweep``: sleep fractions x seeds x datasets (x models), resumable."""

from __future__ import annotations

HELP = "run sleep fractions x seeds x datasets; resumable; summary table and plots"


def add_arguments(p):
    from lava_sleep.experiment import options

    p.add_argument("--datasets", required=True, metavar="A,B",
                   help="comma-separated dataset names or paths (digits, mnist, ...)")
    p.add_argument("--fractions", default="0,0.1,0.2", metavar="F,...",
                   help="comma-separated sleep fractions (default 0,0.1,0.2)")
    options.add_seeds_argument(p, "0,1,2")
    p.add_argument("--model", default="stdp", metavar="stdp,sg", help="models to run (default stdp)")
    options.add_data_arguments(p)
    options.add_model_arguments(p)
    options.add_backend_arguments(p)
    p.add_argument("--batch", type=int, default=None, metavar="B",
                   help="STDP runs per simulator batch (default 16 on torch, 1 otherwise)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    p.add_argument("--executor", default="local", metavar="local|ray",
                   help="where the tasks (STDP batches, SG runs) run: local = this process, in order "
                        "(default); ray = a Ray cluster (docs/distributed.md; pip install 'lava-sleep[ray]')")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="ray: the cluster to use (default $RAY_ADDRESS, else a local Ray started and "
                        "stopped by this command)")
    p.add_argument("--cpus-per-task", type=float, default=None, metavar="C",
                   help="ray: CPUs reserved per task (default 1)")
    p.add_argument("--gpus-per-task", type=float, default=None, metavar="G",
                   help="ray: GPUs reserved per task (default 0; needs --device cuda)")
    p.add_argument("--max-retries", type=int, default=None, metavar="N",
                   help="ray: runs of a task again after its worker died (default 3)")
    p.add_argument("--out", required=True, metavar="SWEEP_DIR", help="output folder")


def run(args) -> int:
    from lava_sleep.experiment import options
    from lava_sleep.experiment.config import MODELS, build_params, build_sg_params, check_choice, parse_list
    from lava_sleep.sweep import SUMMARY_MD, SweepConfig, run_sweep

    options.check_out_dir(args.out)
    datasets = list(dict.fromkeys(parse_list(args.datasets, str, "dataset")))
    fractions = list(dict.fromkeys(parse_list(args.fractions, float, "fraction")))
    seeds = options.seeds_from_args(args.seeds)
    models = list(dict.fromkeys(parse_list(args.model, str, "model")))
    for m in models:
        check_choice("model", m, MODELS)
    args.epochs = options.epochs_from_args(args)
    options.check_positive("--readout-images", args.readout_images)
    options.check_positive("--batch", args.batch)
    executor = _executor(args)
    device = args.device
    if args.executor == "ray":  # the device is the workers' (a GPU-less head node is fine)
        args.device = "cpu"
    backend = options.backend_from_args(args)
    args.device = device
    if device != "cpu" and backend != "torch":
        from lava_sleep.simulation import BackendError

        raise BackendError(f"--device {device} needs the torch backend (got {backend})")
    params = options.params_for_mode(build_params(args.preset, args.config), args.mode)
    sgp = build_sg_params(args.preset, args.config) if "sg" in models else None
    batch = args.batch if args.batch is not None else (16 if backend == "torch" else 1)
    cfg = SweepConfig(datasets=datasets, fractions=fractions, seeds=seeds, models=models, params=params,
                      sg_params=sgp, n_train=args.n_train, n_test=args.n_test, data_dir=args.data_dir,
                      subset=args.subset, backend=backend, mode=args.mode, dtype=args.dtype,
                      device=args.device, epochs=args.epochs, readout_images=args.readout_images,
                      batch=batch, progress=not args.no_progress)
    with executor:
        summary = run_sweep(args.out, cfg, plots=not args.no_plots, executor=executor)
    from pathlib import Path

    print((Path(args.out) / SUMMARY_MD).read_text())
    from lava_sleep.sweep import FAILED

    return options.report_failed("sweep", summary.get("failed_runs") or [], str(Path(args.out) / FAILED))


RAY_ONLY = (("--address", "address"), ("--cpus-per-task", "cpus_per_task"),
            ("--gpus-per-task", "gpus_per_task"), ("--max-retries", "max_retries"))


def _executor(args):
    """The executor of --executor and its options (one-line errors; Ray is not started yet)."""
    from lava_sleep.executors import EXECUTORS, ExecutorError, make_executor
    from lava_sleep.experiment.config import check_choice

    check_choice("executor", args.executor, EXECUTORS)
    if args.executor != "ray":
        given = [flag for flag, name in RAY_ONLY if getattr(args, name) is not None]
        if given:
            raise ExecutorError(f"{', '.join(given)} only apply to --executor ray")
        return make_executor("local")
    cpus = 1.0 if args.cpus_per_task is None else args.cpus_per_task
    gpus = 0.0 if args.gpus_per_task is None else args.gpus_per_task
    retries = 3 if args.max_retries is None else args.max_retries
    cuda = args.device != "cpu"
    if cuda and gpus <= 0:
        raise ExecutorError(f"--device {args.device} with --executor ray needs --gpus-per-task > 0 "
                            "(Ray hides the GPUs from tasks that reserve none)")
    if gpus > 0 and not cuda:
        raise ExecutorError("--gpus-per-task needs --device cuda (the tasks would not use the GPUs)")
    if cuda and args.device not in ("cuda", "cuda:0"):
        raise ExecutorError(f"--device {args.device}: with --executor ray use --device cuda (each task "
                            "sees only the GPUs Ray gave it, as cuda:0, ...)")
    return make_executor("ray", address=args.address, cpus_per_task=cpus, gpus_per_task=gpus,
                         max_retries=retries)
