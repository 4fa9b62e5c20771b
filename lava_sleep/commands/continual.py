"""``lava-sleep continual``: does sleep protect what was learned before?

Class-incremental split learning (default: 5 tasks of 2 classes) for the STDP network and the
SG network under five conditions (no sleep, sleep within tasks, a sleep episode after each
task, both, joint training), every seed, resumable; writes the accuracy matrices, ACC, BWT and
forgetting with 95 % CIs and Holm-corrected paired tests against no sleep into
STUDY_DIR/summary.json and summary.md, plus plots (lava_sleep.continual; docs/continual.md).
"""

from __future__ import annotations

HELP = ("continual learning: class-incremental split tasks x sleep conditions x seeds for the STDP and SG "
        "networks; accuracy matrix, ACC, BWT, forgetting, paired tests and plots; resumable")


def add_arguments(p):
    from lava_sleep.continual import CONDITIONS, MODELS
    from lava_sleep.experiment import options
    from lava_sleep.params import PRESETS

    options.add_study_arguments(p)
    p.add_argument("--tasks", default=None, metavar="A,B/C,D/...",
                   help="classes of each task, tasks separated by '/' (default consecutive pairs: "
                        "0,1/2,3/...)")
    p.add_argument("--models", default=",".join(MODELS), metavar="M,...",
                   help=f"models: {', '.join(MODELS)} (default both)")
    p.add_argument("--conditions", default=",".join(CONDITIONS), metavar="C,...",
                   help=f"conditions: {', '.join(CONDITIONS)} (default all; none is always run)")
    p.add_argument("--preset", default="competitive", metavar="NAME",
                   help=f"STDP parameter preset: {' | '.join(PRESETS)} (default competitive)")
    p.add_argument("--config", default=None, metavar="FILE.toml",
                   help="TOML parameters on top of the presets ([sg] table for the SG network)")
    p.add_argument("--fraction", type=float, default=0.1, metavar="F",
                   help="sleep share of the 'within' and 'both' conditions, in (0, 0.95] (default 0.1)")
    p.add_argument("--after-steps", type=int, default=None, metavar="N",
                   help="STDP steps of the sleep episode after each task (default: as long as 'within' "
                        "sleeps in an average task)")
    p.add_argument("--epochs", type=int, default=1, metavar="E",
                   help="STDP passes over each task (default 1)")
    p.add_argument("--n-label", type=int, default=300, metavar="N",
                   help="labelled training images per task that assign the STDP neurons' labels "
                        "(default 300)")
    p.add_argument("--sg-preset", default="paper", metavar="NAME",
                   help="SG preset: paper | quick (default paper)")
    p.add_argument("--sg-epochs", type=int, default=5, metavar="E",
                   help="SG passes over each task (default 5)")
    p.add_argument("--sg-after", type=int, default=None, metavar="N",
                   help="SG sleep iterations after each task (default: as many as 'within' sleeps per "
                        "task)")
    p.add_argument("--backend", default="auto",
                   help="numpy | torch (default: torch if available, else numpy)")
    p.add_argument("--mode", default=None, help="float | fixed (STDP number format; default float)")
    p.add_argument("--dtype", default="float64", help="float64 | float32 (float mode; default float64)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (torch; default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")


def run(args) -> int:
    from pathlib import Path

    from lava_sleep.continual import SUMMARY_MD, ContinualConfig, parse_tasks, run_continual
    from lava_sleep.experiment import options
    from lava_sleep.experiment.config import build_params, build_sg_params, parse_list

    out = options.check_out_dir(Path(args.out))
    seeds = options.seeds_from_args(args.seeds)
    options.check_engine_backend(args.backend)
    for name in ("n_train", "n_test"):
        options.check_positive("--" + name.replace("_", "-"), getattr(args, name))
    backend = options.backend_from_args(args)
    params = options.params_for_mode(build_params(args.preset, args.config), args.mode)
    models = parse_list(args.models, str, "model")
    sg_params = build_sg_params(args.sg_preset, args.config) if "sg" in models else None
    cfg = ContinualConfig(
        dataset=args.dataset, seeds=seeds, params=params, sg_params=sg_params, models=tuple(models),
        conditions=tuple(parse_list(args.conditions, str, "condition")), fraction=args.fraction,
        after_steps=args.after_steps, epochs=args.epochs, n_label=args.n_label, sg_epochs=args.sg_epochs,
        sg_after=args.sg_after, n_train=args.n_train, n_test=args.n_test, data_dir=args.data_dir,
        subset=args.subset, backend=backend, mode=args.mode, dtype=args.dtype, device=args.device,
        progress=not args.no_progress)
    if args.tasks is not None:
        cfg.tasks = parse_tasks(args.tasks, len(cfg.dataset_obj().classes))
    run_continual(out, cfg, plots=not args.no_plots)
    print((out / SUMMARY_MD).read_text())
    return 0
