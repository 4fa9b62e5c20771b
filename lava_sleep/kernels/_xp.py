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


def astype_like(x, ref):
    """``x`` converted to the dtype of the array/tensor ``ref``.

    Needed where NumPy scalars appear: a NumPy float32 *scalar* combined with a Python float
    gives float64 (NumPy 1.x), which would otherwise leak into float32 state.
    """
    if type(ref).__module__.startswith("torch"):
        return x.to(ref.dtype)
    return np.asarray(x, dtype=ref.dtype)
