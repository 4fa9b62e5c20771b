"""Helpers shared by the command-line tests (imported as ``cli_helpers``, like tests/lava's
``lava_helpers``): a tiny configuration and a way to run ``lava-sleep`` in-process."""

from __future__ import annotations

from lava_sleep import cli

#: A tiny network (36 inputs, 12 E, 3 I, 30 steps per image) with 20 % sleep and a small SG net.
TINY_TOML = """
[input]
image_size = 6
steps_per_image = 30
max_rate_hz = 200.0
[network]
n_exc = 12
n_inh = 3
[sleep]
period = 90
fraction = 0.2
[sg]
hidden = 16
steps = 5
epochs = 1
batch_size = 16
sleep_period = 2
"""


def run_main(capsys, argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``lava-sleep ARGV`` run in this process."""
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def holm_reference(ps) -> list[float]:
    """Holm-corrected p-values of ``ps``, written out independently of lava_sleep.summary:
    sorted ascending, the i-th (from 0) times (n - i), running maximum, capped at 1."""
    order = sorted(range(len(ps)), key=lambda k: ps[k])
    out, running = [0.0] * len(ps), 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (len(ps) - i) * ps[k]))
        out[k] = running
    return out
