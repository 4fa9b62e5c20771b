"""Counter-based random streams, bit-identical in NumPy and torch.

Every random number in lava-sleep is a pure function of
``(seed, stream, counter, draw, index)``:

* ``seed``    - the run's seed (0 <= seed < 2**32),
* ``stream``  - what the number is for (a :class:`Stream` member),
* ``counter`` - usually the simulation step (or sleep block, or learning epoch),
* ``draw``    - a small sub-counter when one (step, index) needs several numbers,
* ``index``   - the element (pixel, neuron, synapse) the number belongs to.

The scalar part (seed, stream, counter, draw) is hashed into a 32-bit key (plain
Python integers, or element-wise on arrays and tensors: :func:`key_array`, and
:func:`key_prefix` / :func:`key_from_prefix` for batched backends that derive their
keys on the device from step counters); the per-element part is two rounds of a
32-bit integer mixer applied to ``index ^ key``. The mixer is written only with
``^ >> & * +`` on int64 values below 2**32 (a product of two such values wraps
modulo 2**64 in int64 arithmetic, and its low 32 bits, all that is kept, are exact),
so the *same code* runs on NumPy int64 arrays and torch int64 tensors (CPU or CUDA,
eager or compiled) and gives the same bits. torch lacks most
uint64 operations and float transcendental functions may differ in the last bit
between libraries, hence this integer-only design (MODEL.md section 6).

Derived draws, all integer-exact:

* :func:`uniform_u32`  - raw 32-bit integers in [0, 2**32).
* :func:`uniform`      - floats in [0, 1): ``h / 2**32`` (exact in float64).
* :func:`bernoulli`    - ``h < threshold`` with an integer threshold
  (:func:`prob_to_threshold`), so no float compare is involved.
* :func:`normal_int`   - approximately Gaussian integers: the centred sum of four
  16-bit uniforms (Irwin-Hall, n=4), mean 0, standard deviation
  :data:`NORMAL_INT_SD` (about 37837.2), support +-131070.
* :func:`normal`       - ``normal_int / NORMAL_INT_SD`` in float: unit variance,
  identical bits in NumPy and torch because it is one exact integer-to-float
  conversion and one correctly rounded division.
"""

from __future__ import annotations

import enum
import math

MASK32 = 0xFFFFFFFF

# Irwin-Hall with four 16-bit uniforms: variance 4 * (65536**2 - 1) / 12.
NORMAL_INT_SD = math.sqrt(4.0 * (65536.0**2 - 1.0) / 12.0)
NORMAL_INT_CENTER = 2 * 65535  # 4 * 65535 / 2


class Stream(enum.IntEnum):
    """Stream identifiers: one per purpose of randomness."""

    CONNECT = 1  # structural masks
    INIT = 2  # initial weight jitter
    INPUT = 3  # Bernoulli input spikes
    NOISE = 4  # membrane noise
    STDP_ROUND = 5  # stochastic rounding of STDP updates (fixed point); + pathway id
    TRACE_ROUND = 12  # stochastic rounding of the trace decay (fixed point); draw 0 pre, 1 post
    DECAY = 16  # sleep decay noise / stochastic rounding; + pathway id
    SPLIT = 32  # data splits and shuffles
    SG = 40  # surrogate-gradient baseline (init, sleep noise)
    EXT_NOISE = 48  # NoiseSource (sleep noise for any Lava network); draw 0/1 normal, 2 spikes


def _mul32(x, c: int):
    """``(x * c) mod 2**32`` for 0 <= x, c < 2**32.

    Python ints are exact; int64 arrays and tensors wrap modulo 2**64 (two's complement),
    which leaves the low 32 bits exact (tested against Python integers and NumPy uint32).
    A NumPy scalar is turned into a Python int first (its overflow would warn).
    """
    if type(x).__module__ == "numpy" and getattr(x, "ndim", 1) == 0:
        x = int(x)
    return (x * c) & MASK32


def _mix(x):
    """A 32-bit avalanche mixer (xorshift-multiply, 'lowbias32' constants).

    The argument is never modified: the first step makes a new array/tensor, and the rest works
    in place on it (large arrays: fewer allocations).
    """
    if type(x).__module__ == "numpy" and getattr(x, "ndim", 1) == 0:
        x = int(x)  # a NumPy scalar's overflow would warn
    x = x ^ (x >> 16)
    x *= 0x7FEB352D  # int64 arrays/tensors wrap modulo 2**64: the low 32 bits are exact
    x &= MASK32
    x ^= x >> 15
    x *= 0x846CA68B
    x &= MASK32
    x ^= x >> 16
    return x


def _mix_int(x: int) -> int:
    return int(_mix(x & MASK32))


def key(seed: int, stream: int, counter: int, draw: int = 0) -> int:
    """Scalar 32-bit key for (seed, stream, counter, draw); pure Python."""
    if not 0 <= seed <= MASK32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    k = _mix_int(seed ^ 0x9E3779B9)
    k = _mix_int(k ^ (int(stream) * 0x85EBCA6B & MASK32))
    k = _mix_int(k ^ (counter & MASK32))
    k = _mix_int(k ^ ((counter >> 32) & MASK32) ^ (draw * 0xC2B2AE35 & MASK32))
    return k


def keys(seed: int, stream: int, counters, draw: int = 0) -> list[int]:
    """Keys for a sequence of counters (used to draw a block of steps at once)."""
    return [key(seed, stream, int(c), draw) for c in counters]


def key_array(seeds, stream: int, counters, draw: int = 0):
    """:func:`key` for many (seed, counter) pairs at once: int64 arrays or tensors, broadcasting.

    ``seeds`` must lie in [0, 2**32) and ``counters`` be >= 0 (not checked here); the
    result equals ``key(seed, stream, counter, draw)`` element by element (tested). Used by
    batched backends whose members sit at different steps.
    """
    return key_from_prefix(key_prefix(seeds, stream), counters, draw)


def key_prefix(seeds, stream: int):
    """The (seed, stream) part of :func:`key_array`, for int64 arrays/tensors of seeds: a
    batched backend computes it once per member and stream, and per step only
    :func:`key_from_prefix`."""
    k = _mix(seeds ^ 0x9E3779B9)
    return _mix(k ^ (int(stream) * 0x85EBCA6B & MASK32))


def key_from_prefix(prefix, counters, draw=0):
    """The key of (prefix's seed and stream, counter, draw), element-wise and broadcasting:
    ``key_from_prefix(key_prefix(s, stream), c, d) == key(s, stream, c, d)``. ``draw`` may be
    an int or an int64 array/tensor of small draw numbers (< 2**31)."""
    k = _mix(prefix ^ (counters & MASK32))
    return _mix(k ^ ((counters >> 32) & MASK32) ^ (draw * 0xC2B2AE35 & MASK32))


def hash_index(k, index):
    """Per-element 32-bit hash of ``index`` (int64 array/tensor) under key(s) ``k``.

    ``k`` may be a Python int or an int64 array/tensor that broadcasts against
    ``index`` (e.g. shape (T, 1) for a block of T steps).
    """
    return _mix(_mix(index ^ k) ^ _mul32(k, 0x27D4EB2F))


def uniform_u32(k, index):
    """Uniform integers in [0, 2**32) (int64)."""
    return hash_index(k, index)


def prob_to_threshold(p):
    """Integer threshold for Bernoulli(p): ``round(p * 2**32)`` clipped to [0, 2**32].

    Works on floats or NumPy arrays (the conversion happens once, on the host).
    """
    import numpy as np

    t = np.rint(np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0) * 4294967296.0)
    return t.astype(np.int64)


def bernoulli(k, index, threshold):
    """Boolean draws: True with probability ``threshold / 2**32``."""
    return uniform_u32(k, index) < threshold


def uniform(k, index):
    """Floats in [0, 1) with 32 random bits (float64 for NumPy int input)."""
    return uniform_u32(k, index) * (1.0 / 4294967296.0)


def normal_int(k1, k2, index):
    """Approximately Gaussian integers (centred Irwin-Hall of four 16-bit uniforms).

    ``k1`` and ``k2`` are two keys (two draws) for the same counter.
    """
    return normal_from_u32(uniform_u32(k1, index), uniform_u32(k2, index))


def normal_from_u32(a, b):
    """:func:`normal_int` from its two draws ``a = uniform_u32(k1, index)`` and
    ``b = uniform_u32(k2, index)`` (for callers that hash many draws at once)."""
    s = (a & 0xFFFF) + (a >> 16) + (b & 0xFFFF) + (b >> 16)
    return s - NORMAL_INT_CENTER


def normal(k1, k2, index):
    """Approximately standard-normal float64 values (NumPy int64 input).

    torch callers convert ``normal_int`` to their float dtype first and divide by
    ``NORMAL_INT_SD`` in that dtype, which gives the same bits as NumPy does in
    the same dtype.
    """
    return normal_int(k1, k2, index) / NORMAL_INT_SD


# -- NumPy fast path ----------------------------------------------------------
# The reference functions above use int64 operations with explicit masking so that
# torch can run them. NumPy's uint32 arithmetic wraps modulo 2**32 by itself, which
# needs less than half the array operations; the Lava models draw with these (random
# draws are their hot loop). Bit-identical to the reference (tests/unit/test_rng.py).


def _mix_u32(x):
    """In-place uint32 :func:`_mix` (same constants)."""
    import numpy as np

    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def uniform_u32_np(k, index):
    """:func:`uniform_u32` for NumPy arrays in uint32 arithmetic (int64 result).

    ``k`` is a key (int) or an int64 array of keys broadcasting against ``index``.
    """
    import numpy as np

    if isinstance(k, np.ndarray):
        k32 = k.astype(np.uint32)
        c = k32 * np.uint32(0x27D4EB2F)
    else:
        k32 = np.uint32(int(k) & MASK32)
        c = np.uint32(_mul32(int(k) & MASK32, 0x27D4EB2F))
    x = _mix_u32(index.astype(np.uint32) ^ k32)
    x ^= c
    return _mix_u32(x).astype(np.int64)


def normal_int_np(k1, k2, index):
    """:func:`normal_int` on top of :func:`uniform_u32_np` (bit-identical)."""
    return normal_from_u32(uniform_u32_np(k1, index), uniform_u32_np(k2, index))
