"""Command-line options shared by ``train``, ``sweep`` and ``demo`` (argparse helpers)."""

from __future__ import annotations

from lava_sleep.experiment.config import DTYPES, MODES, RunError, check_choice, resolve_backend
from lava_sleep.experiment.files import check_out_dir  # noqa: F401 - commands call options.check_out_dir
from lava_sleep.params import PRESET_EPOCHS, PRESETS, ParamError, loihi_literal
from lava_sleep.simulation import BackendError, resolve_mode


def add_data_arguments(p, dataset_required: bool = True) -> None:
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding the dataset files (default: the cache folder, downloads allowed)")
    p.add_argument("--subset", default="all", choices=("all", "train", "test"),
                   help="part of the dataset to split from (default all; 'test' = the official test files)")
    p.add_argument("--n-train", type=int, default=None, metavar="N",
                   help="training images (default 80%% of the pool, at most 8000)")
    p.add_argument("--n-test", type=int, default=None, metavar="M",
                   help="held-out images (default the rest of 20%%, at most 2000)")


def add_study_arguments(p, seeds: str = "0,1,2,3,4") -> None:
    """``--out`` (a resumable study folder), ``--dataset`` (default digits), the data options and
    ``--seeds``: the arguments the single-dataset studies (``quant``, ``continual``) share."""
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (resumed when it holds the same study)")
    p.add_argument("--dataset", default="digits", metavar="NAME|PATH",
                   help="dataset name or path (digits, mnist, ...; default digits)")
    add_data_arguments(p)
    add_seeds_argument(p, seeds)


def add_seeds_argument(p, default: str = "0,1,2,3,4") -> None:
    p.add_argument("--seeds", default=default, metavar="S,...",
                   help=f"comma-separated seeds (default {default})")


def seeds_from_args(text: str) -> list[int]:
    """``--seeds``: the listed seeds in order, each once, each checked (one-line RunError)."""
    from lava_sleep.experiment.config import parse_list

    seeds = list(dict.fromkeys(parse_list(text, int, "seed")))
    for s in seeds:
        check_seed(s)
    return seeds


def check_engine_backend(backend: str) -> None:
    """Studies that batch members on the engine run on numpy or torch (``auto`` picks one)."""
    if backend not in ("auto", "numpy", "torch"):
        raise RunError(f"--backend {backend!r}: the study runs on the numpy or torch engine")


def add_model_arguments(p) -> None:
    p.add_argument("--preset", default="paper", metavar="NAME",
                   help=f"parameter preset: {' | '.join(PRESETS)} (default paper)")
    p.add_argument("--config", default=None, metavar="FILE.toml",
                   help="TOML parameters on top of the preset ([sg] table for --model sg)")
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the training images (default: the preset's, "
                        + ", ".join(f"{k} {v}" for k, v in PRESET_EPOCHS.items()) + ")")
    p.add_argument("--readout-images", type=int, default=None, metavar="N",
                   help="training images used to fit the readouts (default all)")


def add_backend_arguments(p) -> None:
    p.add_argument("--backend", default="auto",
                   help="numpy | torch | lava-float | lava-fixed | ... (default: torch if available, "
                        "else numpy)")
    p.add_argument("--mode", default=None,
                   help="float | fixed (default: what the backend's name says, lava-fixed* fixed, "
                        "else float)")
    p.add_argument("--dtype", default="float64", help="float64 | float32 (float mode; default float64)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (torch; default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def backend_from_args(args) -> str:
    """Validated backend name, one-line errors otherwise; also settles ``args.mode`` (the
    backend's name decides it where it can, :func:`lava_sleep.simulation.resolve_mode`)
    and checks dtype and device (a CUDA device that does not exist fails here, before any
    data is loaded)."""
    if args.mode is not None:
        check_choice("mode", args.mode, MODES)
    check_choice("dtype", args.dtype, DTYPES)
    backend = resolve_backend(args.backend)
    args.mode = resolve_mode(backend, args.mode)
    if args.device != "cpu" and backend != "torch":
        raise BackendError(f"--device {args.device} needs the torch backend (got {backend})")
    if backend == "torch":
        from lava_sleep.engine.simulator import check_device

        check_device(args.device)
    return backend


def params_for_mode(params, mode: str, log=None):
    """``params`` as the number format can run them: in fixed mode the log sleep-decay form
    becomes the linear one (the only form the fixed model has), with a one-line note on
    stderr; other choices without a fixed form stay one-line errors (ModelParams.check_fixed)."""
    if mode != "fixed":
        return params
    params, notes = params.fixed_form()
    for note in notes:
        (log or _note)(note)
    return params


def add_sleep_site_argument(p):
    """``--sleep-site host|onchip`` (SleepParams.site; default: the config's)."""
    p.add_argument("--sleep-site", default=None, choices=("host", "onchip"),
                   help="host: the sleep controller's decay (default of every preset); onchip: the "
                        "form a Loihi 2 learning engine runs (docs/model.md 'On-chip sleep'); "
                        "backend loihi2 always uses onchip")


def params_for_site(params, site: str | None, backend: str, log=None):
    """``params`` with the sleep site asked for: ``site`` "onchip" converts host settings with
    SleepParams.onchip() (one line on stderr); backend loihi2 runs only the on-chip form, so
    there host settings are converted too, with the same line. ParamError (one line) when the
    conversion is impossible (lam whose block decay is no Loihi literal)."""
    sp = params.sleep
    if site == "host" and sp.site == "onchip":
        raise ParamError("--sleep-site host: the config's sleep is the on-chip form; set its "
                         "[sleep] values for the host instead")
    if sp.site == "onchip" or not (site == "onchip" or (backend == "loihi2" and sp.fraction > 0)):
        return params
    from dataclasses import replace

    from lava_sleep.params import onchip_rate

    on = sp.onchip()
    m, e = loihi_literal(onchip_rate(on))
    why = "backend loihi2 runs only the on-chip sleep" if site != "onchip" else "--sleep-site onchip"
    (log or _note)(f"{why}: linear decay toward the static target every {on.block} steps asleep, "
                   f"c = {m} * 2**{e} (was {sp.form}/{sp.target}, block {sp.block}, tol {sp.tol})")
    return replace(params, sleep=on)


def report_failed(command: str, failed: list, where: str) -> int:
    """Exit status of a sweep-like command: 0, or 1 with one line on stderr naming how many runs
    failed, the first error and where the errors are (``failed``: the ``failed_runs`` list of
    :func:`lava_sleep.sweep.run_sweep` and the studies built on it)."""
    if not failed:
        return 0
    import sys

    sys.stderr.write(f"lava-sleep {command}: {len(failed)} run(s) failed, first: {failed[0]['error']} "
                     f"(errors in {where}); the same command runs them again\n")
    return 1


def _note(msg: str) -> None:
    import sys

    sys.stderr.write(f"lava-sleep: note: {msg}\n")


def epochs_from_args(args) -> int:
    """``--epochs``, or the preset's default number of passes when not given."""
    from lava_sleep.params import preset_epochs

    if args.epochs is None:
        return preset_epochs(args.preset)
    check_positive("--epochs", args.epochs, allow_none=False)
    return int(args.epochs)


def check_positive(name: str, value, allow_none=True) -> None:
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise RunError(f"{name} must be >= 1, got {value}")


def check_seed(seed: int) -> None:
    if not 0 <= seed < 2**32:
        raise RunError(f"--seed must be in [0, 2**32), got {seed}")
