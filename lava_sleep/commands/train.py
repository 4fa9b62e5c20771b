"""``lava-sleep train``: one run (STDP network or SG baseline) into RUN_DIR.

Writes RUN_DIR/result.json and RUN_DIR/model.npz (atomically); checkpoints go to
RUN_DIR/checkpoint.npz while training and are resumed automatically when the
configuration is the same (``--resume`` insists on one, ``--force`` starts over).
"""

from __future__ import annotations

from pathlib import Path

HELP = "train one network (with or without sleep) and evaluate it"


def add_arguments(p):
    from lava_sleep.experiment import options

    p.add_argument("--dataset", required=True, metavar="NAME",
                   help="digits | mnist | fashion-mnist | kmnist | notmnist | path to .npz or IDX folder")
    options.add_data_arguments(p)
    p.add_argument("--sleep-fraction", type=float, default=None, metavar="F",
                   help="share of simulated steps spent asleep, 0 <= F <= 0.95 (default: the config's)")
    options.add_sleep_site_argument(p)
    p.add_argument("--seed", type=int, default=0, help="seed of network, data split and noise (default 0)")
    p.add_argument("--model", default="stdp", help="stdp | sg (surrogate-gradient baseline; default stdp)")
    options.add_model_arguments(p)
    options.add_backend_arguments(p)
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="output folder")
    p.add_argument("--resume", action="store_true", help="require a checkpoint of this config and resume it")
    p.add_argument("--force", action="store_true", help="start over, replacing results of another config")
    p.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SEC",
                   help="seconds between checkpoints (default 60)")


def _check_out(out: Path, key: str, force: bool):
    """True when RUN_DIR already holds the finished run of this key."""
    from lava_sleep.experiment import files
    from lava_sleep.experiment.config import RunError

    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} exists and is not a folder")
    if (out / files.RESULT).exists() and not force:
        r = files.read_result(out)
        if r.get("run_key") == key and (out / files.MODEL).exists():
            return True
        raise RunError(f"{out} holds a finished run of another configuration; use --force or another --out")
    return False


def print_summary(r: dict, out) -> None:
    s = r.get("sleep", {})
    t = r.get("timings", {})
    lines = [f"run {out}: {r['model']} on {r['dataset']['name']} "
             f"({r['dataset']['n_train']} train / {r['dataset']['n_test']} held-out), seed {r['seed']}, "
             f"sleep fraction {r['sleep_fraction']}, backend {r.get('backend')}"]
    if r["dataset"].get("source"):
        lines.append(f"  data from           {', '.join(r['dataset']['source'])}")
    if r["model"] == "stdp":
        m = r["metrics"]
        lines += [f"  assignment accuracy {m['assignment_accuracy']:.3f}",
                  f"  linear accuracy     {m['linear_accuracy']:.3f}",
                  f"  phi                 {m['phi'] if m['phi'] is None else round(m['phi'], 4)}",
                  f"  preferred classes   {m['diversity']['classes_represented']}"]
    else:
        lines += [f"  accuracy            {r['accuracy']:.3f}"]
    lines += [f"  sleep steps used    {s.get('steps_used', 0)} of {s.get('steps_planned', 0)} planned "
              f"(share {s.get('share_used', 0):.3f})",
              f"  time                {t.get('train_s', 0):.1f} s training, "
              f"{t.get('eval_s', 0):.1f} s evaluation"]
    print("\n".join(lines))


def run(args) -> int:
    from lava_sleep.experiment import files, options
    from lava_sleep.experiment.config import MODELS, build_params, build_sg_params, check_choice
    from lava_sleep.experiment.data import DataCache
    from lava_sleep.experiment.stdp import Member, TrainOptions, member_key, run_members

    check_choice("model", args.model, MODELS)
    options.check_seed(args.seed)
    args.epochs = options.epochs_from_args(args)
    options.check_positive("--readout-images", args.readout_images)
    out = options.check_out_dir(Path(args.out))  # exists as a file / not writable: one line, before any data
    params = build_params(args.preset, args.config)
    if args.sleep_fraction is not None:
        params = params.with_sleep_fraction(args.sleep_fraction)
    if args.model == "sg":
        from lava_sleep.experiment.config import import_sg
        from lava_sleep.experiment.sgrun import run_sg, sg_key

        import_sg()
        sgp = build_sg_params(args.preset, args.config)
        data = DataCache().run_data(args.dataset, params.input.image_size, args.seed, args.n_train,
                                    args.n_test, args.data_dir, args.subset)
        if _check_out(out, sg_key(sgp, params.sleep, args.seed, data, args.device), args.force):
            print_summary(files.read_result(out), out)
            return 0
        r = run_sg(sgp, params.sleep, args.seed, data, out, device=args.device,
                   progress=not args.no_progress, label=out.name)
        print_summary(r, out)
        return 0
    backend = options.backend_from_args(args)
    params = options.params_for_site(params, args.sleep_site, backend)
    params = options.params_for_mode(params, args.mode)
    data = DataCache().run_data(args.dataset, params.input.image_size, args.seed, args.n_train,
                                args.n_test, args.data_dir, args.subset)
    opts = TrainOptions(backend=backend, mode=args.mode, dtype=args.dtype, device=args.device,
                        epochs=args.epochs, checkpoint=out / files.CHECKPOINT,
                        checkpoint_every=args.checkpoint_every,
                        resume="require" if args.resume else ("fresh" if args.force else "auto"),
                        readout_images=args.readout_images, progress=not args.no_progress)
    member = Member(params, args.seed, data, out, label=out.name)
    if _check_out(out, member_key(member, opts), args.force):
        print(f"{out} already holds this finished run (use --force to train again)")
        print_summary(files.read_result(out), out)
        return 0
    (r,) = run_members([member], opts)
    print_summary(r, out)
    return 0
