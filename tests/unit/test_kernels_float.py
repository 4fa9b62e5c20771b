"""Float kernels: neuron step, trace STDP and input encoding, by hand-derived values and properties."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lava_sleep import params as P
from lava_sleep import rng
from lava_sleep.kernels import encode, neuron, stdp

# -- neuron --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nc():
    return neuron.neuron_consts_float(P.paper())


def test_float_constants(nc):
    assert nc.k_u == pytest.approx(29 / 30) and nc.k_v == pytest.approx(29 / 30)
    assert nc.k_a == pytest.approx(0.99)
    assert nc.gain == pytest.approx(1 / 30)  # r_m dt^2 / (tau_m tau_syn) = 30 / 900
    assert (nc.v_thresh, nc.v_reset, nc.v_min, nc.v_max) == (15.0, -10.0, -30.0, 110.0)
    assert (nc.a_min, nc.a_max, nc.delta_a, nc.bias) == (-35.0, 55.0, 3.0, 0.0)
    assert nc.noise_wake * rng.NORMAL_INT_SD == pytest.approx(2.0)
    assert nc.noise_sleep * rng.NORMAL_INT_SD == pytest.approx(4.0)


# Each column is one neuron (state relative to rest, mV): u, v, a, drive, noise, and the result
# derived by hand with k = 29/30, gain = 1/30, k_a = 0.99, threshold 15 + a, reset -10, delta_a 3.
CASES = {
    # plain integration: u' = 0.3*29/30 + 6/30 = 0.49; v' = 5*29/30 + 0.49 + 0.5 = 5.823333
    "subthreshold": (0.3, 5.0, 1.0, 6.0, 0.5, 0.49, 5.0 * 29 / 30 + 0.99, 0.99, False),
    # u' = 1.5*29/30 = 1.45; v' = 14.5 + 1.45 = 15.95 > 15 -> spike, reset, a' = 0 + 3
    "spike": (1.5, 15.0, 0.0, 0.0, 0.0, 1.45, -10.0, 3.0, True),
    # same but a = 1: threshold 16 (previous step's a) -> no spike; a' = 0.99
    "adapted": (1.5, 15.0, 1.0, 0.0, 0.0, 1.45, 15.95, 0.99, False),
    # spike with a near the top: 54.9*0.99 + 3 = 57.351 -> clipped to a_max 55; threshold 69.9
    "a_clip_high": (0.0, 80.0, 54.9, 0.0, 0.0, 0.0, -10.0, 55.0, True),
    # v' = 10*29/30 = 9.667 > 15 - 40 -> spike; a' = -39.6 + 3 = -36.6 -> clipped to a_min -35
    "a_clip_low": (0.0, 10.0, -40.0, 0.0, 0.0, 0.0, -10.0, -35.0, True),
    # v clamp at v_max 110 (then above threshold -> spike and reset)
    "v_clamp_high": (0.0, 200.0, 0.0, 0.0, 0.0, 0.0, -10.0, 3.0, True),
    # v clamp at v_min -30: -40*29/30 - 5 = -43.67 -> -30
    "v_clamp_low": (0.0, -40.0, 0.0, 0.0, -5.0, 0.0, -30.0, 0.0, False),
    # inhibitory drive: u' = -6/30 = -0.2, v' = -0.2
    "inhibition": (0.0, 0.0, 0.0, -6.0, 0.0, -0.2, -0.2, 0.0, False),
}


def _columns(dtype=np.float64):
    cols = list(zip(*CASES.values(), strict=True))
    state = [np.array(c, dtype=dtype) for c in cols[:5]]
    expect = [np.array(c, dtype=np.float64) for c in cols[5:8]] + [np.array(cols[8], dtype=bool)]
    return state, expect


def test_neuron_step_hand_values(nc):
    (u, v, a, drive, noise), (eu, ev, ea, es) = _columns()
    u2, v2, a2, s = neuron.neuron_step(u, v, a, drive, noise, nc)
    np.testing.assert_array_equal(s, es)
    np.testing.assert_allclose(u2, eu, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(v2, ev, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(a2, ea, rtol=1e-13, atol=1e-13)
    assert s.dtype == bool


def test_neuron_step_keeps_float32(nc):
    (u, v, a, drive, noise), (eu, ev, ea, es) = _columns(np.float32)
    out = neuron.neuron_step(u, v, a, drive, noise, nc)
    assert [x.dtype for x in out[:3]] == [np.float32] * 3
    np.testing.assert_array_equal(out[3], es)
    np.testing.assert_allclose(out[2], ea, rtol=1e-6, atol=1e-5)


def test_neuron_integrates_to_float_euler_of_model_md(nc):
    """Constant drive: the substituted form equals MODEL.md's Euler form (I, then v from the new I)."""
    n = P.paper().neuron
    big_i = 0.0  # MODEL.md current I
    v_abs = n.v_rest
    u = v = a = np.zeros(1)
    w_sum = 0.5  # summed weight of the spikes arriving each step
    for _ in range(200):
        big_i = big_i + (-big_i + w_sum) * n.dt / n.tau_syn
        v_abs = v_abs + (-(v_abs - n.v_rest) + n.r_m * big_i) * n.dt / n.tau_m
        u, v, a, s = neuron.neuron_step(u, v, a, np.array([w_sum]), np.zeros(1), nc)
        assert not s.any()  # steady state 0.5 * 30 = 15 mV is never crossed from below
        assert v[0] + n.v_rest == pytest.approx(v_abs, abs=1e-10)


def test_noise_from_int(nc):
    z = np.array([0, 37837, -37837, 131070], dtype=np.int64)
    wake = neuron.noise_from_int(z, nc, sleeping=False, dtype=np.float64)
    sleep = neuron.noise_from_int(z, nc, sleeping=True, dtype=np.float32)
    np.testing.assert_allclose(wake, [0.0, 2 * 37837 / 37837.2265, -2 * 37837 / 37837.2265,
                                      2 * 131070 / 37837.2265], rtol=1e-6)
    assert sleep.dtype == np.float32
    np.testing.assert_allclose(sleep, 2 * wake, rtol=1e-6)


# -- trace STDP ---------------------------------------------------------------------------------

K = math.exp(-1 / 20)  # paper tau_plus = tau_minus = 20 ms


def _rule(**changes) -> stdp.StdpRule:
    p = P.paper()
    p = dataclasses.replace(p, network=p.network.with_pathway("EE", **changes))
    return stdp.stdp_rule(p, "EE")


def _run(rule, pre, post, m, mask=None):
    """Drive the kernels like the oracle: decay, delta with decayed traces, add spikes.

    pre (T, n_pre), post (T, n_post) bool. Returns the summed dm (n_post, n_pre).
    """
    pre, post = np.asarray(pre, bool), np.asarray(post, bool)
    mask = np.ones(m.shape, bool) if mask is None else mask
    x = np.zeros(pre.shape[1])
    y = np.zeros(post.shape[1])
    acc = np.zeros_like(m)
    for sp, so in zip(pre, post, strict=True):
        x = stdp.trace_step(x, K)
        y = stdp.trace_step(y, K)
        acc += stdp.stdp_delta(rule, m, mask, sp, so, x, y)
        x = stdp.trace_add(x, sp.astype(float))
        y = stdp.trace_add(y, so.astype(float))
    return acc


def _pair(first: str, d: int):
    """One pre and one post neuron; the `first` one spikes at step 0, the other at step d."""
    t = d + 1
    a = np.zeros((t, 1), bool)
    b = np.zeros((t, 1), bool)
    a[0] = True
    b[d] = True
    return (a, b) if first == "pre" else (b, a)


@pytest.mark.parametrize("d", [1, 2, 5, 20, 60])
def test_pre_before_post_potentiates(d):
    pre, post = _pair("pre", d)
    dm = _run(_rule(), pre, post, np.full((1, 1), 0.4))
    assert dm[0, 0] == pytest.approx(0.01 * K**d, rel=1e-12)
    assert dm[0, 0] > 0


@pytest.mark.parametrize("d", [1, 3, 20])
def test_post_before_pre_depresses(d):
    pre, post = _pair("post", d)
    dm = _run(_rule(), pre, post, np.full((1, 1), 0.4))
    assert dm[0, 0] == pytest.approx(-0.0105 * K**d, rel=1e-12)


def test_coincident_spikes_cancel_and_lone_spikes_do_nothing():
    one = np.ones((1, 1), bool)
    none = np.zeros((1, 1), bool)
    m = np.full((1, 1), 0.4)
    assert _run(_rule(), one, one, m)[0, 0] == 0.0
    assert _run(_rule(), one, none, m)[0, 0] == 0.0
    assert _run(_rule(), none, one, m)[0, 0] == 0.0


@pytest.mark.parametrize("m0", [0.1, 0.4, 0.9])
def test_soft_bounds_mu_one(m0):
    rule = _rule(mu=1.0)
    m = np.full((1, 1), m0)
    pot = _run(rule, *_pair("pre", 3), m)[0, 0]
    dep = _run(rule, *_pair("post", 3), m)[0, 0]
    assert pot == pytest.approx(0.01 * K**3 * (1.0 - m0), rel=1e-12)
    assert dep == pytest.approx(-0.0105 * K**3 * m0, rel=1e-12)


def test_vogels_rule():
    rule = _rule(rule="vogels", eta_plus=0.02, eta_minus=0.03, alpha=0.2)
    m = np.full((1, 1), 0.4)
    # pre at 0 (y = 0: eta- (0 - alpha)), post at 4 (+ eta+ x): 0.02 K**4 - 0.03 * 0.2
    assert _run(rule, *_pair("pre", 4), m)[0, 0] == pytest.approx(0.02 * K**4 - 0.006, rel=1e-12)
    # pre after post: eta- (y - alpha), y = K**2 = 0.905 > alpha: potentiation (symmetric rule)
    assert _run(rule, *_pair("post", 2), m)[0, 0] == pytest.approx(0.03 * (K**2 - 0.2), rel=1e-12)
    # a lone pre spike: eta- (0 - alpha) = -0.006
    pre = np.ones((1, 1), bool)
    assert _run(rule, pre, np.zeros((1, 1), bool), m)[0, 0] == pytest.approx(-0.006)


def test_matrix_orientation_and_mask():
    """dm is (post, pre): pre 1 then post 0 potentiates only synapse (0, 1); masked entries stay 0."""
    pre = np.zeros((3, 3), bool)
    post = np.zeros((3, 2), bool)
    pre[0, 1] = True
    post[2, 0] = True
    m = np.full((2, 3), 0.5)
    dm = _run(_rule(), pre, post, m)
    expect = np.zeros((2, 3))
    expect[0, 1] = 0.01 * K**2
    np.testing.assert_allclose(dm, expect, rtol=1e-12, atol=0)
    mask = np.ones((2, 3), bool)
    mask[0, 1] = False
    assert not _run(_rule(), pre, post, m, mask).any()


def test_apply_epoch_clips_and_masks():
    rule = _rule(w_min=0.05)
    m = np.array([[0.95, 0.07, 0.5, 0.0]])
    acc = np.array([[0.1, -0.05, 0.1, 0.3]])
    mask = np.array([[True, True, True, False]])
    out = stdp.apply_epoch(rule, m, acc, mask)
    np.testing.assert_allclose(out, [[1.0, 0.05, 0.6, 0.0]], rtol=1e-15)


def test_trace_step_and_add():
    x = stdp.trace_step(np.array([1.0, 0.0]), K)
    np.testing.assert_allclose(x, [K, 0.0])
    np.testing.assert_allclose(stdp.trace_add(x, np.array([1.0, 1.0])), [1 + K, 1.0])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_pre=st.integers(1, 6),
    n_post=st.integers(1, 6),
    steps=st.integers(1, 30),
    rule_name=st.sampled_from(["stdp", "vogels"]),
    mu=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    eta=st.floats(0.0, 1.0),
    w_min=st.floats(0.0, 0.3),
    w_span=st.floats(0.05, 2.0),
    t_epoch=st.integers(1, 5),
)
def test_property_stdp_never_violates_invariants(seed, n_pre, n_post, steps, rule_name, mu, eta, w_min,
                                                 w_span, t_epoch):
    """Random spikes/weights: magnitudes stay finite, in [w_min, w_max], masked ones exactly 0."""
    w_max = w_min + w_span
    rule = _rule(rule=rule_name, mu=mu, eta_plus=eta, eta_minus=eta, w_min=w_min, w_max=w_max,
                 w_init=w_min)
    gen = np.random.default_rng(seed)  # test data drawn from the hypothesis-chosen seed
    mask = gen.random((n_post, n_pre)) < 0.7
    m = np.where(mask, gen.uniform(w_min, w_max, (n_post, n_pre)), 0.0)
    x = np.zeros(n_pre)
    y = np.zeros(n_post)
    acc = np.zeros_like(m)
    rate = gen.uniform(0.05, 0.9)
    for t in range(steps):
        sp = gen.random(n_pre) < rate
        so = gen.random(n_post) < rate
        x, y = stdp.trace_step(x, K), stdp.trace_step(y, K)
        acc += stdp.stdp_delta(rule, m, mask, sp, so, x, y)
        x, y = stdp.trace_add(x, sp), stdp.trace_add(y, so)
        if (t + 1) % t_epoch == 0 or t == steps - 1:
            m = stdp.apply_epoch(rule, m, acc, mask)
            acc[...] = 0
            assert np.all(np.isfinite(m))
            assert np.all(m[mask] >= w_min) and np.all(m[mask] <= w_max)
            assert np.all(m[~mask] == 0.0)
            # signed weights: excitatory (+m) never negative, inhibitory (-m) never positive
            assert np.all(+1 * m >= 0) and np.all(-1 * m <= 0)


# -- input encoding -------------------------------------------------------------------------------


def test_input_thresholds():
    img = np.array([[0, 255, 128]], dtype=np.uint8)
    thr = encode.input_thresholds(img, max_rate_hz=63.75, dt=1.0)
    # p = intensity / 255 * 63.75 / 1000: 0, 0.06375, 0.032
    np.testing.assert_array_equal(thr, [[0, round(0.06375 * 2**32), round(128 / 255 * 0.06375 * 2**32)]])
    with pytest.raises(ValueError, match="uint8"):
        encode.input_thresholds(img.astype(np.int64), 63.75)


def test_input_spikes_rate_and_gate():
    n = 1 << 16
    thr = np.full(n, rng.prob_to_threshold(0.25), dtype=np.int64)
    idx = np.arange(n, dtype=np.int64)
    s = encode.input_spikes(4, 10, thr, idx)
    assert abs(s.mean() - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n)
    assert not encode.input_spikes(4, 10, thr, idx, gate_open=False).any()
    # keyed by the wake step: the same step gives the same spikes, another step others
    np.testing.assert_array_equal(s, encode.input_spikes(4, 10, thr, idx))
    assert (s != encode.input_spikes(4, 11, thr, idx)).any()


# -- torch tensors through the same kernels ---------------------------------------------------


def test_float_kernels_accept_torch(nc, torch_single_thread):
    torch = torch_single_thread
    gen = np.random.default_rng(8)  # test data only
    n = 64
    u, v, a = gen.normal(0, 1, n), gen.normal(5, 10, n), gen.uniform(-5, 5, n)
    drive, noise = gen.normal(0, 10, n), gen.normal(0, 2, n)
    ref = neuron.neuron_step(u, v, a, drive, noise, nc)
    got = neuron.neuron_step(*(torch.from_numpy(z) for z in (u, v, a, drive, noise)), nc)
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_array_equal(r, g.numpy())
    assert got[0].dtype == torch.float64 and got[3].dtype == torch.bool
    got32 = neuron.neuron_step(*(torch.from_numpy(z).float() for z in (u, v, a, drive, noise)), nc)
    assert all(g.dtype == torch.float32 for g in got32[:3])

    rule = _rule(mu=1.0)
    m = gen.uniform(0, 1, (5, 7))
    mask = gen.random((5, 7)) < 0.6
    sp, so = gen.random(7) < 0.5, gen.random(5) < 0.5
    x, y = gen.uniform(0, 2, 7), gen.uniform(0, 2, 5)
    ref = stdp.stdp_delta(rule, m, mask, sp, so, x, y)
    got = stdp.stdp_delta(rule, *(torch.from_numpy(z) for z in (m, mask, sp, so, x, y)))
    np.testing.assert_array_equal(ref, got.numpy())
    ref2 = stdp.apply_epoch(rule, m, ref * 50, mask)
    got2 = stdp.apply_epoch(rule, torch.from_numpy(m), got * 50, torch.from_numpy(mask))
    np.testing.assert_array_equal(ref2, got2.numpy())
