"""Shared by the timed study benchmarks (quant_grid.py, continual_mnist.py): run a ``lava-sleep``
study command in this process into a fresh folder, timed, and read back its summary.json."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from lava_sleep import cli
from lava_sleep.commands.bench import machine_info


def run_timed(tool: str, argv_cli: list[str], out: Path) -> tuple[dict, float, dict] | int:
    """(summary.json, wall seconds, machine) of ``lava-sleep ARGV_CLI`` writing into ``out``, or the
    exit status (2 when ``out`` exists: the timing must cover every run)."""
    if out.exists():
        sys.stderr.write(f"{tool}: {out} exists; give a new folder (the timing must cover every run)\n")
        return 2
    machine = machine_info()
    t0 = time.perf_counter()
    rc = cli.main(argv_cli)
    wall = time.perf_counter() - t0
    if rc != 0:
        sys.stderr.write(f"{tool}: lava-sleep {argv_cli[0]} exited with {rc}\n")
        return rc
    return json.loads((out / "summary.json").read_text()), wall, machine
