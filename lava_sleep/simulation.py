"""What every simulation backend shares, below all of them: backend names, the number format
each backend implies, the batch output record and the backend error.

Lives apart from :mod:`lava_sleep.backends` (which imports every backend) so that the
backends themselves (:mod:`lava_sleep.engine`, :mod:`lava_sleep.lava_backend`) import it
without importing their selector: imports point one way only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lava_sleep.errors import UserError

BACKENDS = ("numpy", "torch", "lava-float", "lava-fixed", "lava-float-fused", "lava-fixed-fused",
            "loihi2")
#: Backends whose name fixes the number format ("float" or "fixed"); the others take --mode.
BACKEND_MODES = {"lava-float": "float", "lava-float-fused": "float",
                 "lava-fixed": "fixed", "lava-fixed-fused": "fixed"}
MODES = ("float", "fixed")


class BackendError(UserError, RuntimeError):
    """A backend cannot be used here (missing package, device or unsupported option)."""


def resolve_mode(backend: str, mode: str | None) -> str:
    """The number format a run uses: the one the backend's name fixes (``lava-fixed`` ->
    "fixed"), else ``mode`` (default "float"). A ``mode`` that contradicts the backend's
    name is a one-line :class:`BackendError` (a fixed-point state read as floats would
    silently write wrong weights)."""
    if mode is not None and mode not in MODES:
        raise BackendError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    implied = BACKEND_MODES.get(backend)
    if implied is None:
        return mode or "float"
    if mode is not None and mode != implied:
        raise BackendError(f"backend {backend} runs in {implied} mode; --mode {mode} contradicts it "
                           f"(leave --mode out, or pick the {mode} variant of the backend)")
    return implied


@dataclass
class BatchOutput:
    """Result of one run call for a batch of B members.

    counts: (B, n_images, n_exc) int64 E spikes per image (wake steps only).
    episodes: per member, the list of sleep-episode dicts that ended in the call.
    spikes: per member dict ("X", "E", "I": steps x n bool; "asleep": steps) or None.
    steps, sleep_steps: per member, steps simulated in the call (sleep included) and sleep steps.
    activity: (B, 2, n_x + n_exc + n_inh) int64 spike totals per neuron in the call (X, E, I
        in that order), row 0 over wake steps, row 1 over sleep steps; None when the backend
        does not count them (the Lava backends).
    """

    counts: np.ndarray
    episodes: list = field(default_factory=list)
    spikes: list | None = None
    steps: np.ndarray | None = None
    sleep_steps: np.ndarray | None = None
    activity: np.ndarray | None = None
