"""``lava-sleep quant``: how few fixed-point bits does sleep-regularized STDP need?

A grid of precision cells (weight scale x weight bits x trace bits x update fraction bits x
sleep-decay fraction bits x rounding mode) plus the float64 reference, each at every sleep
fraction and seed; one resumable sweep per cell, combined into STUDY_DIR/summary.json,
summary.md, runs.jsonl and plots (lava_sleep.quant_study; docs/quantization.md).
"""

from __future__ import annotations

HELP = ("fixed-point quantization study: weight/trace bits x rounding x sleep x seeds against float64; "
        "resumable; paired statistics, Loihi 2 column and plots")


def add_arguments(p):
    from lava_sleep.experiment import options
    from lava_sleep.params import PRESETS, ROUNDING_MODES, W_SCALES

    options.add_study_arguments(p)
    p.add_argument("--preset", default="quick", metavar="NAME",
                   help=f"parameter preset: {' | '.join(PRESETS)} (default quick)")
    p.add_argument("--config", default=None, metavar="FILE.toml",
                   help="TOML parameters on top of the preset (the grid sets the fixed-point widths)")
    p.add_argument("--w-bits", default="2,3,4,5,6,7,8", metavar="B,...",
                   help="weight magnitude bits, each in [2, 8] (default 2,3,4,5,6,7,8)")
    p.add_argument("--rounding", default=",".join(ROUNDING_MODES), metavar="MODE,...",
                   help=f"rounding of trace decay and weight updates: {', '.join(ROUNDING_MODES)} "
                        "(default all three)")
    p.add_argument("--w-scale", default="full", metavar="S,...",
                   help=f"weight LSB choice: {', '.join(W_SCALES)} (default full: every code used)")
    p.add_argument("--trace-bits", default=None, metavar="B,...",
                   help="trace bits, each in [3, 16] (default the preset's, 7); the trace impulse scales "
                        "with the trace range")
    p.add_argument("--dw-frac-bits", default=None, metavar="B,...",
                   help="fraction bits of the weight-update accumulator, each in [4, 24] (default the "
                        "preset's, 16)")
    p.add_argument("--decay-frac-bits", default=None, metavar="B,...",
                   help="fraction bits of the sleep decay factor, each in [16, 30] (default the preset's, "
                        "24)")
    p.add_argument("--fractions", default="0,0.1", metavar="F,...",
                   help="sleep fractions of every cell (default 0,0.1)")
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the training images (default: the preset's)")
    p.add_argument("--readout-images", type=int, default=None, metavar="N",
                   help="training images used to fit the readouts (default all)")
    p.add_argument("--backend", default="auto",
                   help="numpy | torch (default: torch if available, else numpy)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (torch; default cpu)")
    p.add_argument("--batch", type=int, default=None, metavar="B",
                   help="runs per simulator batch (default 16 on torch, 1 otherwise)")
    p.add_argument("--cell-baselines", action="store_true",
                   help="also score the untrained network in every fixed-point cell (default: in the float "
                        "cell only; costs one run per cell and seed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")


def run(args) -> int:
    from pathlib import Path

    from lava_sleep.experiment import options
    from lava_sleep.experiment.config import build_params, parse_list
    from lava_sleep.quant_study import SUMMARY_MD, QuantConfig, run_quant

    out = options.check_out_dir(Path(args.out))
    seeds = options.seeds_from_args(args.seeds)
    options.check_positive("--readout-images", args.readout_images)
    options.check_positive("--batch", args.batch)
    options.check_engine_backend(args.backend)
    args.mode, args.dtype = "fixed", "float64"
    backend = options.backend_from_args(args)
    # the fixed model's form for every cell, float64 included (summary.json setup.sleep_form)
    params = options.params_for_mode(build_params(args.preset, args.config), "fixed", log=lambda msg: None)
    ints = {}
    for name in ("w_bits", "trace_bits", "dw_frac_bits", "decay_frac_bits"):
        raw = getattr(args, name)
        ints[name] = None if raw is None else parse_list(raw, int, "--" + name.replace("_", "-"))
    cfg = QuantConfig(
        dataset=args.dataset, seeds=seeds, params=params,
        fractions=list(dict.fromkeys(parse_list(args.fractions, float, "fraction"))),
        w_bits=ints["w_bits"], roundings=parse_list(args.rounding, str, "rounding"),
        w_scales=parse_list(args.w_scale, str, "w-scale"), trace_bits=ints["trace_bits"],
        dw_frac_bits=ints["dw_frac_bits"], decay_frac_bits=ints["decay_frac_bits"], n_train=args.n_train,
        n_test=args.n_test, data_dir=args.data_dir,
        subset=args.subset, backend=backend, device=args.device, epochs=options.epochs_from_args(args),
        readout_images=args.readout_images,
        batch=args.batch if args.batch is not None else (16 if backend == "torch" else 1),
        progress=not args.no_progress, cell_baselines=args.cell_baselines)
    summary = run_quant(out, cfg, plots=not args.no_plots)
    print((out / SUMMARY_MD).read_text())
    return options.report_failed("quant", summary.get("failed_runs") or [], f"{out}/cells/*/failed.jsonl")
