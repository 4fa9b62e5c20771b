"""``lava-sleep plot DIR``: PNG plots of a run, a folder of runs (demo), a sweep or a study."""

from __future__ import annotations

HELP = ("plot a run folder, a folder of runs, a sweep folder or a study folder (normalization-study, "
        "onchip-study, quant, continual; PNG files under DIR/plots)")


def add_arguments(p):
    p.add_argument("path", metavar="RUN_OR_SWEEP_DIR", help="run, demo, sweep or study folder")


def run(args) -> int:
    from lava_sleep.plots import plot_path

    for f in plot_path(args.path):
        print(f)
    return 0
