"""Counter-based random streams: NumPy/torch bit identity, exact integer arithmetic, statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_sleep import rng

pytestmark = pytest.mark.usefixtures("torch_single_thread")

SEEDS = [0, 1, 123456789, 2**32 - 1]
STREAMS = [rng.Stream.INPUT, rng.Stream.NOISE, rng.Stream.STDP_ROUND + 1, rng.Stream.DECAY + 3]
COUNTERS = [0, 1, 350, 10**6, 2**32 + 7, 2**40 + 5]
N = 1 << 18  # draws per statistical test: 5-sigma bands are ~1 % of the mean or tighter

# Indices: a contiguous block, the top of the 32-bit range and scattered large values.
_gen = np.random.default_rng(20240601)  # test data only (indices), not model randomness
INDEX = np.concatenate([
    np.arange(0, 1 << 16, dtype=np.int64),
    np.arange(2**32 - 4096, 2**32, dtype=np.int64),
    _gen.integers(0, 2**32, size=4096, dtype=np.int64),
])


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.int64))


# -- exact integer arithmetic -----------------------------------------------------------------


@pytest.mark.parametrize("c", [0x7FEB352D, 0x846CA68B, 0x27D4EB2F, 0xFFFFFFFF, 1, 0x10000, 0])
def test_mul32_equals_python_modular_product(c):
    x = np.concatenate([INDEX, np.array([0, 1, 2**31, 2**32 - 1], dtype=np.int64)])
    expect = np.array([(int(v) * c) % 2**32 for v in x], dtype=np.int64)
    got = rng._mul32(x, c)
    np.testing.assert_array_equal(got, expect)
    np.testing.assert_array_equal(rng._mul32(_t(x), c).numpy(), expect)
    # and on Python ints
    assert [rng._mul32(int(v), c) for v in x[:50]] == list(expect[:50])


def test_normal_int_sd_constant():
    # Variance of a uniform integer on [0, 65535] is (65536**2 - 1) / 12; four of them summed.
    var = 4 * (65536**2 - 1) / 12
    assert rng.NORMAL_INT_SD == pytest.approx(var**0.5, rel=1e-15)
    assert rng.NORMAL_INT_SD == pytest.approx(37837.2, abs=0.05)
    assert rng.NORMAL_INT_CENTER == 2 * 65535


# -- key() ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40])
def test_key_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        rng.key(seed, rng.Stream.NOISE, 0)


def test_key_is_deterministic_32bit_and_sensitive_to_every_part():
    base = rng.key(7, rng.Stream.NOISE, 100, 0)
    assert isinstance(base, int) and 0 <= base < 2**32
    assert rng.key(7, rng.Stream.NOISE, 100, 0) == base
    variants = [
        rng.key(8, rng.Stream.NOISE, 100, 0),
        rng.key(7, rng.Stream.INPUT, 100, 0),
        rng.key(7, rng.Stream.NOISE, 101, 0),
        rng.key(7, rng.Stream.NOISE, 100, 1),
        rng.key(7, rng.Stream.NOISE, 100 + 2**32, 0),  # the high word of the counter counts
    ]
    assert len(set(variants + [base])) == len(variants) + 1
    assert rng.keys(7, rng.Stream.NOISE, [100, 101]) == [base, variants[2]]


# -- NumPy vs torch: identical bits --------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("stream", STREAMS)
def test_uniform_u32_numpy_equals_torch(seed, stream):
    for counter in COUNTERS:
        k = rng.key(seed, stream, counter)
        a = rng.uniform_u32(k, INDEX)
        b = rng.uniform_u32(k, _t(INDEX)).numpy()
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.int64 and a.min() >= 0 and a.max() < 2**32


@pytest.mark.parametrize("seed", SEEDS)
def test_bernoulli_and_normal_int_numpy_equals_torch(seed):
    thr = rng.prob_to_threshold(np.linspace(0.0, 1.0, INDEX.size))
    for counter in COUNTERS[:4]:
        k1 = rng.key(seed, rng.Stream.NOISE, counter, 0)
        k2 = rng.key(seed, rng.Stream.NOISE, counter, 1)
        np.testing.assert_array_equal(rng.bernoulli(k1, INDEX, thr),
                                      rng.bernoulli(k1, _t(INDEX), _t(thr)).numpy())
        z = rng.normal_int(k1, k2, INDEX)
        np.testing.assert_array_equal(z, rng.normal_int(k1, k2, _t(INDEX)).numpy())
        # the float conversion is exact and one correctly rounded division in both libraries
        zt = rng.normal_int(k1, k2, _t(INDEX)).to(torch.float64) / rng.NORMAL_INT_SD
        np.testing.assert_array_equal(rng.normal(k1, k2, INDEX), zt.numpy())


def test_broadcast_key_block_equals_per_step_draws():
    """Keys of shape (T, 1) against indices (N,) give the (T, N) block of per-step draws."""
    steps = np.arange(1000, 1040)
    ks = np.array(rng.keys(3, rng.Stream.INPUT, steps), dtype=np.int64)[:, None]
    ks2 = np.array(rng.keys(3, rng.Stream.INPUT, steps, draw=1), dtype=np.int64)[:, None]
    idx = np.arange(777, dtype=np.int64)
    block = rng.uniform_u32(ks, idx)
    assert block.shape == (steps.size, idx.size)
    for row, t in enumerate(steps):
        np.testing.assert_array_equal(block[row], rng.uniform_u32(rng.key(3, rng.Stream.INPUT, int(t)), idx))
    np.testing.assert_array_equal(block, rng.uniform_u32(_t(ks), _t(idx)).numpy())
    zn = rng.normal_int(ks, ks2, idx)
    np.testing.assert_array_equal(zn, rng.normal_int(_t(ks), _t(ks2), _t(idx)).numpy())


# -- statistics ---------------------------------------------------------------------------------


def _u(seed=11, stream=rng.Stream.INPUT, counter=5, draw=0, n=N, offset=0):
    idx = np.arange(offset, offset + n, dtype=np.int64)
    return rng.uniform(rng.key(seed, stream, counter, draw), idx)


def test_uniform_mean_and_variance():
    u = _u()
    assert u.dtype == np.float64 and u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / N)
    # sd of the sample variance of U(0,1): sqrt((1/80 - 1/144) / N)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt((1 / 80 - 1 / 144) / N)
    # all 16 high nibbles equally likely (chi-square, 15 dof; 99.99 % quantile ~ 44)
    hist = np.bincount((u * 16).astype(int), minlength=16)
    chi2 = ((hist - N / 16) ** 2 / (N / 16)).sum()
    assert chi2 < 44


@pytest.mark.parametrize("p", [0.0, 1e-3, 0.06375, 0.5, 0.9, 1.0])
def test_bernoulli_rate(p):
    thr = rng.prob_to_threshold(p)
    s = rng.bernoulli(rng.key(5, rng.Stream.INPUT, 17), np.arange(N, dtype=np.int64), thr)
    assert s.dtype == bool
    if p in (0.0, 1.0):
        assert s.mean() == p
    else:
        assert abs(s.mean() - p) < 5 * np.sqrt(p * (1 - p) / N)


def test_prob_to_threshold():
    np.testing.assert_array_equal(rng.prob_to_threshold([0.0, 0.5, 1.0, 1.5, -0.2, 2**-32]),
                                  [0, 2**31, 2**32, 2**32, 0, 1])


def test_normal_int_moments_and_support():
    k1, k2 = rng.key(9, rng.Stream.NOISE, 3, 0), rng.key(9, rng.Stream.NOISE, 3, 1)
    z = rng.normal_int(k1, k2, np.arange(N, dtype=np.int64))
    assert z.dtype == np.int64
    assert np.abs(z).max() <= 2 * 65535
    x = z / rng.NORMAL_INT_SD
    assert abs(x.mean()) < 5 / np.sqrt(N)
    assert abs(x.std() - 1.0) < 5 / np.sqrt(2 * N)
    # Irwin-Hall(4) excess kurtosis is -6/(5*4) = -0.3 (light tails); a Gaussian would give 0
    kurt = (x**4).mean() / x.var() ** 2 - 3.0
    assert abs(kurt + 0.3) < 0.05
    assert abs(rng.normal(k1, k2, np.arange(N, dtype=np.int64)).std() - 1.0) < 5 / np.sqrt(2 * N)


@pytest.mark.parametrize(
    "other",
    [
        {"seed": 12},
        {"stream": rng.Stream.NOISE},
        {"counter": 6},
        {"draw": 1},
        {"offset": 1},  # neighbouring indices of the same key
    ],
    ids=["seed", "stream", "counter", "draw", "index+1"],
)
def test_streams_decorrelated(other):
    a = _u()
    b = _u(**other)
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r) < 5 / np.sqrt(N)
    assert np.mean(a == b) < 1e-3
    # bitwise: each of the 32 bits of a ^ b is set half of the time
    x = rng.uniform_u32(rng.key(11, rng.Stream.INPUT, 5), np.arange(N, dtype=np.int64))
    y = (b * 2**32).astype(np.int64)
    bits = ((x ^ y)[:, None] >> np.arange(32)) & 1
    assert np.all(np.abs(bits.mean(0) - 0.5) < 5 * 0.5 / np.sqrt(N))


def test_counter_sequence_not_periodic_in_low_bits():
    """Consecutive counters (steps) of one index do not repeat or alternate."""
    ks = np.array(rng.keys(1, rng.Stream.NOISE, range(4096)), dtype=np.int64)[:, None]
    h = rng.uniform_u32(ks, np.arange(4, dtype=np.int64))
    assert len(np.unique(h)) == h.size
    low = h & 1
    assert abs(low.mean() - 0.5) < 5 * 0.5 / np.sqrt(low.size)


def test_numpy_fast_path_equals_reference():
    """uniform_u32_np / normal_int_np (uint32 arithmetic) and key_array with a scalar seed
    give the reference bits (the Lava models draw with them)."""
    gen = np.random.default_rng(7)
    index = gen.integers(0, 2**31, size=5000, dtype=np.int64)
    for seed, stream, counter in [(0, 3, 0), (12345, 5, 987654), (2**32 - 1, 17, 2**40 + 3)]:
        k = rng.key(seed, stream, counter)
        assert np.array_equal(rng.uniform_u32_np(k, index), rng.uniform_u32(k, index))
        counters = np.arange(counter, counter + 70, dtype=np.int64)
        for draw in (0, 1):
            ks = rng.key_array(seed, stream, counters, draw)
            assert ks.tolist() == [rng.key(seed, stream, int(c), draw) for c in counters]
        k1 = rng.key_array(seed, stream, counters, 0)[:, None]
        k2 = rng.key_array(seed, stream, counters, 1)[:, None]
        block = index[None, :300]
        assert np.array_equal(rng.uniform_u32_np(k1, block), rng.uniform_u32(k1, block))
        assert np.array_equal(rng.normal_int_np(k1, k2, index[None, :300]),
                              rng.normal_int(k1, k2, index[None, :300]))
