"""Pick the array namespace (numpy or torch) of an argument without importing torch."""

from __future__ import annotations

import sys

import numpy as np


def xp_of(x):
    """``torch`` for torch tensors, ``numpy`` otherwise."""
    if type(x).__module__.startswith("torch"):
        return sys.modules["torch"]
    return np


def decay12(x, keep: int):
    """Loihi 12-bit decay: ``sign(x*keep) * (|x*keep| >> 12)`` (round toward zero).

    ``x`` is an int64 array/tensor; ``keep`` = 4096 - effective decay constant.
    """
    xp = xp_of(x)
    p = x * keep
    return xp.sign(p) * (xp.abs(p) >> 12)
