"""Sleep decay kernel: approach to target, synaptic scaling, fixed-point unbiasedness, floor/prune."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lava_sleep import params as P
from lava_sleep import rng
from lava_sleep.fixed import to_fixed
from lava_sleep.kernels import sleep

N_POST, N_PRE = 12, 30


def _dc(form="log", target="neuron", lam=0.99, noise=0.0, static=0.3, m_min=0.0, m_max=1.0,
        floor=0.0, prune=False, fixed=False, frac=24):
    if fixed:  # integer bounds, as decay_consts() gives them (a float bound would promote to float)
        m_min, m_max, floor = int(m_min), int(m_max), int(floor)
    return sleep.DecayConsts(form, target, lam, noise, static, m_min, m_max, floor, prune, fixed, frac)


def _weights(seed=0, fixed=False):
    """A masked (post, pre) matrix, its 'initial' version and a perturbed current version."""
    gen = np.random.default_rng(seed)  # test data only
    mask = gen.random((N_POST, N_PRE)) < 0.5
    mask[:, 0] = True  # every post neuron has input
    m0 = np.where(mask, gen.uniform(0.1, 0.5, mask.shape), 0.0)
    m = np.where(mask, np.clip(m0 * gen.uniform(0.3, 2.5, mask.shape), 0, 1), 0.0)
    if fixed:
        return mask, np.rint(m0 * 100).astype(np.int64), np.rint(m * 100).astype(np.int64)
    return mask, m0, m


def _distance(target, m, m0, mask):
    if target == "static":
        t = m0.sum() / mask.sum()
        return np.abs(m - t)[mask]
    if target == "group":
        return np.array([abs(m.sum() - m0.sum())])
    return np.abs(m.sum(-1) - m0.sum(-1))


@pytest.mark.parametrize("form", ["log", "linear"])
@pytest.mark.parametrize("target", ["static", "group", "neuron"])
def test_distance_to_target_shrinks_every_block(form, target):
    mask, m0, m = _weights()
    dc = _dc(form, target, lam=0.99, static=m0.sum() / mask.sum())
    d_prev = _distance(target, m, m0, mask)
    assert d_prev.max() > 0.05
    for _ in range(30):
        m = sleep.decay_block(dc, m, mask, m0.sum(), m0.sum(-1), 10)
        d = _distance(target, m, m0, mask)
        moving = d_prev > 1e-12
        assert np.all(d[moving] < d_prev[moving])
        assert np.all(d <= d_prev + 1e-15)
        assert np.all(m[~mask] == 0.0)
        d_prev = d


@pytest.mark.parametrize("form", ["log", "linear"])
def test_one_block_by_hand(form):
    """Single synapses, K = 10, lam = 0.99: c = 1 - 0.99**10 = 0.0956179."""
    c = 1 - 0.99**10
    mask = np.array([[True, True, False]])
    m = np.array([[0.2, 0.6, 0.0]])
    # static target t = 0.3
    got = sleep.decay_block(_dc(form, "static", static=0.3), m, mask, None, None, 10)
    if form == "log":
        expect = [0.3 * (0.2 / 0.3) ** (1 - c), 0.3 * (0.6 / 0.3) ** (1 - c), 0.0]
    else:
        expect = [0.3 + (0.2 - 0.3) * (1 - c), 0.3 + (0.6 - 0.3) * (1 - c), 0.0]
    np.testing.assert_allclose(got[0], expect, rtol=1e-14)
    # neuron target: row total 0.8 -> T0 = 1.0, ratio 1.25
    got = sleep.decay_block(_dc(form, "neuron"), m, mask, 1.0, np.array([1.0]), 10)
    g = 1.25**c if form == "log" else 1 + c * 0.25
    np.testing.assert_allclose(got[0], [0.2 * g, 0.6 * g, 0.0], rtol=1e-14)


@pytest.mark.parametrize("form", ["log", "linear"])
@pytest.mark.parametrize("target", ["group", "neuron"])
def test_scaling_keeps_relative_weights(form, target):
    mask, m0, m = _weights(seed=1)
    m = np.minimum(m, 0.5)  # stay away from the clip bounds
    out = sleep.decay_block(_dc(form, target), m, mask, m0.sum(), m0.sum(-1), 10)
    if target == "group":
        ratio = out[mask] / m[mask]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    else:
        for i in range(N_POST):
            r = out[i][mask[i]] / m[i][mask[i]]
            np.testing.assert_allclose(r, r[0], rtol=1e-12)


@pytest.mark.parametrize("form", ["log", "linear"])
def test_neuron_mode_restores_every_row(form):
    mask, m0, m = _weights(seed=2)
    dc = _dc(form, "neuron", lam=0.99)
    for _ in range(150):  # (0.99**10)**150 ~ 3e-7 of the initial distance
        m = sleep.decay_block(dc, m, mask, m0.sum(), m0.sum(-1), 10)
    np.testing.assert_allclose(m.sum(-1), m0.sum(-1), rtol=1e-4)


@pytest.mark.parametrize("form", ["log", "linear"])
def test_group_mode_total_converges(form):
    mask, m0, m = _weights(seed=3)
    dc = _dc(form, "group", lam=0.99)
    for _ in range(150):
        m = sleep.decay_block(dc, m, mask, m0.sum(), m0.sum(-1), 10)
    assert m.sum() == pytest.approx(m0.sum(), rel=1e-4)


@pytest.mark.parametrize("form", ["log", "linear"])
@pytest.mark.parametrize("target", ["static", "group", "neuron"])
def test_float32_stays_float32(form, target):
    """float32 magnitudes and float32 totals (NumPy scalars for the group total) stay float32."""
    mask, m0, m = _weights(seed=8)
    m, m0 = m.astype(np.float32), m0.astype(np.float32)
    xi = np.linspace(-2, 2, m.size, dtype=np.float32).reshape(m.shape)
    dc = _dc(form, target, noise=0.1, static=float(m0.sum() / mask.sum()))
    out = sleep.decay_block(dc, m, mask, m0.sum(), m0.sum(-1), 10, xi=xi)
    assert out.dtype == np.float32
    ref = sleep.decay_block(dc, m.astype(np.float64), mask, np.float64(m0.sum()),
                            m0.sum(-1).astype(np.float64), 10, xi=xi.astype(np.float64))
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=1e-7)


def test_lam_one_is_identity_and_clip_applies():
    mask, m0, m = _weights(seed=4)
    out = sleep.decay_block(_dc("log", "neuron", lam=1.0), m, mask, m0.sum(), m0.sum(-1), 10)
    np.testing.assert_allclose(out, m, rtol=1e-15)
    # a target far above w_max: results are clipped to m_max
    out = sleep.decay_block(_dc("linear", "static", lam=0.5, static=5.0, m_max=1.0), m, mask,
                            None, None, 10)
    assert out[mask].max() == 1.0 and np.all(out[~mask] == 0)


def test_empty_rows_and_zero_totals_stay_finite():
    mask = np.zeros((3, 4), bool)
    mask[0, :2] = True
    m = np.zeros((3, 4))
    m[0, :2] = [0.0, 0.0]  # a row with synapses but zero total
    for form in ("log", "linear"):
        for target in ("static", "group", "neuron"):
            with np.errstate(all="ignore"):
                out = sleep.decay_block(_dc(form, target, static=0.0), m, mask, 1.0, np.ones(3), 10)
            assert np.all(np.isfinite(out)), (form, target)
            assert np.all(out[~mask] == 0)


def test_decay_noise_seeded():
    mask, m0, m = _weights(seed=5)
    dc = _dc("log", "neuron", noise=0.3)
    flat = np.arange(m.size, dtype=np.int64).reshape(m.shape)

    def xi(t):
        k1, k2 = rng.key(9, rng.Stream.DECAY, t, 0), rng.key(9, rng.Stream.DECAY, t, 1)
        return rng.normal(k1, k2, flat)

    a = sleep.decay_block(dc, m, mask, m0.sum(), m0.sum(-1), 10, xi=xi(100))
    b = sleep.decay_block(dc, m, mask, m0.sum(), m0.sum(-1), 10, xi=xi(100))
    c = sleep.decay_block(dc, m, mask, m0.sum(), m0.sum(-1), 10, xi=xi(101))
    plain = sleep.decay_block(_dc("log", "neuron"), m, mask, m0.sum(), m0.sum(-1), 10)
    np.testing.assert_array_equal(a, b)
    assert (a != c)[mask].any() and (a != plain)[mask].any()
    # noisy strengths are clipped to [0, 1]
    cs = sleep.decay_strength(_dc(noise=1.0, lam=0.5), 1, np.array([-5.0, 0.0, 5.0]))
    np.testing.assert_allclose(cs, [0.0, 0.5, 1.0])
    assert sleep.decay_strength(_dc(lam=0.5), 2) == 0.75


# -- fixed point --------------------------------------------------------------------------------


def _r(seed, t, shape, frac=24):
    idx = np.arange(np.prod(shape), dtype=np.int64).reshape(shape)
    return rng.uniform_u32(rng.key(seed, rng.Stream.DECAY, t), idx) >> (32 - frac)


def test_fixed_static_linear_unbiased():
    """E[(L m + B + r) >> 24] = t + (m - t) lam**K for one block (r uniform per synapse)."""
    shape = (256, 256)
    mask = np.ones(shape, bool)
    m = np.full(shape, 100, dtype=np.int64)
    lam, k, t = 0.999, 7, 50.3
    dc = _dc("linear", "static", lam=lam, static=t, m_max=255, fixed=True)
    out = sleep.decay_block(dc, m, mask, None, None, k, r=_r(1, 0, shape))
    expect = t + (100 - t) * lam**k  # 99.6538
    assert set(np.unique(out)) <= {99, 100}
    frac = expect - 99
    assert abs(out.mean() - expect) < 5 * np.sqrt(frac * (1 - frac) / out.size) + 1e-7


@pytest.mark.parametrize("target", ["group", "neuron"])
def test_fixed_scaling_unbiased(target):
    """E[(A m + r) >> 24] = m (lam**K + (1 - lam**K) T0/T) up to the 2**-24 floor of A."""
    shape = (128, 512)
    mask = np.ones(shape, bool)
    m = np.full(shape, 80, dtype=np.int64)
    tot = m.sum()
    total0 = tot * 11 // 10  # 10 % below target
    row0 = m.sum(-1) * 11 // 10
    lam, k = 0.99, 10
    dc = _dc("linear", target, lam=lam, m_max=255, fixed=True)
    out = sleep.decay_block(dc, m, mask, total0, row0, k, r=_r(2, 0, shape))
    expect = 80 * (lam**k + (1 - lam**k) * 1.1)  # 80.765
    assert abs(out.mean() - expect) < 5 * 0.5 / np.sqrt(out.size) + 1e-5
    assert set(np.unique(out)) <= {80, 81}


def test_fixed_static_converges_and_group_converges():
    shape = (20, 40)
    mask = np.ones(shape, bool)
    m = np.full(shape, 120, dtype=np.int64)
    dc = _dc("linear", "static", lam=0.9, static=40.0, m_max=255, fixed=True)
    for t in range(200):
        m = sleep.decay_block(dc, m, mask, None, None, 1, r=_r(3, t, shape))
    assert abs(m.mean() - 40.0) < 0.5
    mask2, m0, m = _weights(seed=6, fixed=True)
    dcg = _dc("linear", "neuron", lam=0.9, m_max=255, fixed=True)
    for t in range(300):
        m = sleep.decay_block(dcg, m, mask2, m0.sum(), m0.sum(-1), 1, r=_r(4, t, shape=m.shape))
        assert np.all(m[~mask2] == 0) and m.dtype == np.int64
    # every row total within a few LSB of its initial total (stochastic rounding jitters by < 1 LSB
    # per synapse)
    err = np.abs(m.sum(-1) - m0.sum(-1))
    assert np.all(err <= 2 * np.sqrt(mask2.sum(-1)) + 2)


def test_fixed_decay_consts_from_params():
    p = P.paper()
    p = dataclasses.replace(p, sleep=dataclasses.replace(p.sleep, form="linear", w_floor=0.05,
                                                         fraction=0.1))
    fc = to_fixed(p)
    dc = sleep.decay_consts(p, "XE", 20.0, fc)
    assert dc.fixed and dc.form == "linear" and dc.noise == 0.0
    assert (dc.m_min, dc.m_max) == (0, 136)
    assert dc.m_floor == round(0.05 / 0.00732421875) == 7
    assert dc.decay_frac_bits == 24
    dcf = sleep.decay_consts(p, "XE", 0.15)
    assert not dcf.fixed and (dcf.m_max, dcf.m_floor, dcf.noise) == (1.0, 0.05, 0.1)


# -- floor, prune, wake check ---------------------------------------------------------------------


def test_floor_and_prune():
    m = np.array([[0.01, 0.2, 0.0, 0.04]])
    mask = np.array([[True, True, False, True]])
    out, mk = sleep.floor_and_prune(_dc(floor=0.05), m, mask)
    np.testing.assert_array_equal(out, [[0.05, 0.2, 0.0, 0.05]])
    np.testing.assert_array_equal(mk, mask)
    out, mk = sleep.floor_and_prune(_dc(floor=0.05, prune=True), m, mask)
    np.testing.assert_array_equal(out, [[0.0, 0.2, 0.0, 0.0]])
    np.testing.assert_array_equal(mk, [[False, True, False, False]])
    # floor 0: nothing changes
    out, mk = sleep.floor_and_prune(_dc(floor=0.0, prune=True), m, mask)
    np.testing.assert_array_equal(out, m)
    np.testing.assert_array_equal(mk, mask)


def test_wake_check():
    assert sleep.wake_check([100.5, 50.0], [100.0, 50.2], 0.01)
    assert not sleep.wake_check([102.0, 50.0], [100.0, 50.0], 0.01)  # one pathway off
    assert not sleep.wake_check([100.0], [100.0], 0.0)  # tol 0 disables early wake-up
    assert not sleep.wake_check([], [], 0.5)
    assert bool(sleep.wake_check([101.0], [100.0], 0.01))  # the boundary counts as within
    batch = sleep.wake_check([np.array([100.0, 120.0]), np.array([50.0, 50.0])],
                             [np.array([100.0, 100.0]), np.array([50.0, 50.0])], 0.05)
    np.testing.assert_array_equal(batch, [True, False])


# -- torch tensors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["log", "linear"])
@pytest.mark.parametrize("target", ["static", "group", "neuron"])
def test_decay_block_torch_equals_numpy(form, target, torch_single_thread):
    torch = torch_single_thread
    mask, m0, m = _weights(seed=7)
    dc = _dc(form, target, noise=0.2, static=0.3)
    flat = np.arange(m.size, dtype=np.int64).reshape(m.shape)
    xi = rng.normal(rng.key(1, rng.Stream.DECAY, 0, 0), rng.key(1, rng.Stream.DECAY, 0, 1), flat)
    ref = sleep.decay_block(dc, m, mask, m0.sum(), m0.sum(-1), 10, xi=xi)
    got = sleep.decay_block(dc, torch.from_numpy(m), torch.from_numpy(mask),
                            torch.tensor(m0.sum()), torch.from_numpy(m0.sum(-1)), 10,
                            xi=torch.from_numpy(xi))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-14, atol=0)
    if form == "linear" and target == "static":  # no sums, no transcendentals: identical bits
        np.testing.assert_array_equal(got.numpy(), ref)
    # fixed (linear only): exact integers
    fmask, f0, fm = _weights(seed=7, fixed=True)
    fdc = _dc("linear", target, lam=0.99, static=30.0, m_max=255, fixed=True)
    r = _r(5, 0, fm.shape)
    ref = sleep.decay_block(fdc, fm, fmask, f0.sum(), f0.sum(-1), 10, r=r)
    got = sleep.decay_block(fdc, torch.from_numpy(fm), torch.from_numpy(fmask), torch.tensor(f0.sum()),
                            torch.from_numpy(f0.sum(-1)), 10, r=torch.from_numpy(r))
    np.testing.assert_array_equal(got.numpy(), ref)
    fl, mk = sleep.floor_and_prune(_dc(floor=0.3, prune=True), torch.from_numpy(m), torch.from_numpy(mask))
    fl_ref, mk_ref = sleep.floor_and_prune(_dc(floor=0.3, prune=True), m, mask)
    np.testing.assert_array_equal(fl.numpy(), fl_ref)
    np.testing.assert_array_equal(mk.numpy(), mk_ref)
