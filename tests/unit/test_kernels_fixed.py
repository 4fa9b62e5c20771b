"""Fixed-point kernels: bit equality with Lava's PyLifModelBitAcc, 12-bit decays, traces, rounding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lava_sleep import params as P
from lava_sleep import rng
from lava_sleep.fixed import NOISE_SHIFT, STATE_MAX, to_fixed
from lava_sleep.kernels import neuron, stdp
from lava_sleep.kernels._xp import decay12


@pytest.fixture(scope="module")
def fc():
    """The paper's constants with a trace impulse of 32 (the hand derivations below use it)."""
    p = P.paper()
    return to_fixed(dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, trace_impulse=32)))


# -- 12-bit decay ------------------------------------------------------------------------------


def test_decay12_rounds_toward_zero():
    x = np.array([0, 1, -1, 1000, -1000, 4096, -4096, STATE_MAX, -STATE_MAX], dtype=np.int64)
    # keep 3959: 1000*3959/4096 = 966.55 -> 966 (and -966, not floor's -967); 1*3959/4096 -> 0;
    # (2**23-1)*3959/4096 = 8108031.03 -> 8108031
    expect = [0, 0, 0, 966, -966, 3959, -3959, 8108031, -8108031]
    np.testing.assert_array_equal(decay12(x, 3959), expect)
    np.testing.assert_array_equal(decay12(x, 4096), x)  # keep 4096: no decay
    np.testing.assert_array_equal(decay12(x, 0), np.zeros_like(x))


# -- Lava faithfulness ---------------------------------------------------------------------------

LAVA_CASES = [
    # (du, dv, vth, bias_exp, input_low): a_in uniform in [-input_low * A, A], A = min(2**15-1, 12 (du+1))
    (4095, 0, 60000, 0, 0.5),  # du = 4095: u has no memory (k_u = 0); dv = 0: perfect integrator
    (409, 136, 30000, 6, 0.5),  # ~10 ms current, ~30 ms voltage, large bias
    (136, 136, 60000, 3, 0.5),  # the paper's 30 ms / 30 ms, expressed in Lava's registers
    (63, 4095, 15000, 0, 0.5),  # v has no memory (k_v = 0)
    (0, 0, 131071, 0, 1.5),  # slowest decays, 17-bit maximum vth, v driven into the negative clamp
]


@pytest.mark.lava  # imports lava-nc (Python 3.10 only); no Lava runtime
@pytest.mark.parametrize(("du", "dv", "vth", "bias_exp", "input_low"), LAVA_CASES)
def test_equals_lava_pylif_bitacc(fc, du, dv, vth, bias_exp, input_low):
    """Our fixed neuron_step == Lava's bit-accurate CUBA LIF, state for state, spike for spike.

    Mapping (docs/model.md): k_u = 4096 - du - 1 (Lava adds ds_offset = 1 to du),
    k_v = 4096 - dv, threshold = vth << 6, drive = a_in << 6, bias = bias_mant << bias_exp,
    v clamp +-(2**23 - 1), reset to 0 (= rest), adaptation and noise off. Lava wraps u on
    overflow where we saturate: the inputs are bounded (A above) so that the steady state
    |u| <= 64 A 4096 / (du + 1) < 2**22, where both agree (asserted every step). Lava's
    ProcessModel is instantiated directly and driven through its own methods (no runtime).
    """
    from lava.proc.lif import models
    n, n_steps = 64, 300
    gen = np.random.default_rng(du * 7 + dv)  # test data only
    a_top = int(min(2**15 - 1, 12 * (du + 1)))
    a_in = gen.integers(-int(a_top * input_low), a_top + 1, size=(n_steps, n), dtype=np.int64)
    bias_mant = gen.integers(-40, 60, size=n, dtype=np.int64)

    lif = models.PyLifModelBitAcc({})
    lif.u = np.zeros(n, np.int32)
    lif.v = np.zeros(n, np.int32)
    lif.du, lif.dv, lif.vth = du, dv, vth
    lif.bias_mant = bias_mant.astype(np.int16)
    lif.bias_exp = np.full(n, bias_exp, np.int16)
    lif.scale_bias()
    lif.scale_threshold()

    consts = dataclasses.replace(
        fc, k_u=4096 - du - 1, k_v=4096 - dv, v_thresh=vth << 6, v_reset=0,
        v_min=-STATE_MAX, v_max=STATE_MAX, a_min=0, a_max=0, delta_a=0,
        bias=bias_mant << bias_exp, sigma_wake=0, sigma_sleep=0)
    u = np.zeros(n, np.int64)
    v = np.zeros(n, np.int64)
    a = np.zeros(n, np.int64)
    zero = np.zeros(n, np.int64)
    n_spikes = 0
    v_clamped = False
    for t in range(n_steps):
        lif.subthr_dynamics(a_in[t].astype(np.int32))
        s_lava = lif.spiking_activation()
        lif.reset_voltage(s_lava)
        u, v, a, s = neuron.neuron_step(u, v, a, a_in[t] << 6, zero, consts)
        assert np.abs(u).max() < 2**22  # inside the range where Lava does not wrap
        np.testing.assert_array_equal(s, s_lava, err_msg=f"spikes differ at step {t}")
        np.testing.assert_array_equal(u, lif.u, err_msg=f"u differs at step {t}")
        np.testing.assert_array_equal(v, lif.v, err_msg=f"v differs at step {t}")
        assert not a.any()
        n_spikes += int(s.sum())
        v_clamped |= bool((v == -STATE_MAX).any())
    # the comparison is not vacuous: neurons spiked (or hit the clamp), and not on every step
    assert n_spikes > 0 or v_clamped
    assert n_spikes < n * n_steps * 0.9


# -- fixed neuron: adaptation and noise on top -------------------------------------------------


def test_fixed_neuron_hand_values(fc):
    mv = 2**16
    u = np.array([0, 2 * mv, 0], dtype=np.int64)
    v = np.array([14 * mv, 14 * mv, 200 * mv], dtype=np.int64)
    a = np.array([0, mv, 54 * mv], dtype=np.int64)
    drive = np.array([mv, 0, 0], dtype=np.int64)
    noise = np.zeros(3, dtype=np.int64)
    u2, v2, a2, s = neuron.neuron_step(u, v, a, drive, noise, fc)
    # 14 mV = 917504 = 224 * 4096, so decay(14 mV) = 224 * 3959 = 886816 exactly.
    # neuron 0: u' = 0 + 65536; v' = 886816 + 65536 = 952352 < 15 mV = 983040 -> no spike
    assert (u2[0], v2[0], s[0]) == (65536, 952352, False)
    # neuron 1: u' = 32 * 3959 = 126688; v' = 886816 + 126688 = 1013504 > 15 mV but below
    # 15 mV + a (a = 1 mV of the previous step) = 1048576 -> no spike; a' = 16 * 4055 = 64880
    assert (u2[1], v2[1], s[1], a2[1]) == (126688, 1013504, False, 64880)
    # neuron 2: v' = 3200 * 3959 = 12668800 -> clamped to v_max 110 mV = 7208960 > 69 mV -> spike,
    # reset to -10 mV; a' = 54*16*4055 + 3 mV = 3503520 + 196608 = 3700128 -> clipped to 55 mV
    assert s[2] and v2[2] == -10 * mv
    assert a2[2] == 55 * mv == 3604480
    assert u2.dtype == v2.dtype == a2.dtype == np.int64


def test_fixed_noise_is_floor_shift(fc):
    z = np.array([0, 1, -1, 37837, -37837, 131070], dtype=np.int64)
    got = neuron.noise_from_int(z, fc, sleeping=False)
    # (z * 14189) >> 12, arithmetic shift = floor: 14189 / 4096 = 3.46 -> 3, -3.46 -> -4;
    # 37837 * 14189 = 536869193, / 4096 = 131071.58 -> 131071 and -131072;
    # 131070 * 14189 = 1859752230, / 4096 = 454041.07 -> 454041
    np.testing.assert_array_equal(got, [0, 3, -4, 131071, -131072, 454041])
    assert NOISE_SHIFT == 12
    # about 2 mV per unit normal: 131071 / 65536 = 2.0000
    assert got[3] / 2**16 == pytest.approx(2.0, abs=1e-4)
    np.testing.assert_array_equal(neuron.noise_from_int(z, fc, sleeping=True), (z * 28378) >> 12)


# -- fixed traces and STDP ---------------------------------------------------------------------------


def test_trace_decay_rounding_and_saturation(fc):
    x = np.array([0, 32, 120, 127], dtype=np.int64)
    assert fc.k_plus == 3896  # round(4096 exp(-1/20))
    # (x * 3896 + r) >> 12: the smallest draw floors, the largest rounds up every non-integer
    # 32 -> 30.44 -> 30 | 31; 120 -> 114.14 -> 114 | 115; 127 -> 120.80 -> 120 | 121; 0 stays 0
    np.testing.assert_array_equal(stdp.trace_step(x, fc.k_plus, fc, np.zeros(4, np.int64)), [0, 30, 114, 120])
    np.testing.assert_array_equal(stdp.trace_step(x, fc.k_plus, fc, np.full(4, 4095)), [0, 31, 115, 121])
    d = stdp.trace_step(x, fc.k_plus, fc, np.zeros(4, np.int64))
    s = np.array([True, False, True, True])
    np.testing.assert_array_equal(stdp.trace_add(d, s, fc), [32, 30, 127, 127])  # 146, 152 -> 127
    # repeated spikes every step stay at the 7-bit maximum
    y = np.zeros(1, dtype=np.int64)
    for t in range(20):
        k = rng.key(3, rng.Stream.TRACE_ROUND, t, stdp.POST_TRACES)
        r = stdp.trace_rounding(k, np.zeros(1, np.int64))
        y = stdp.trace_add(stdp.trace_step(y, fc.k_minus, fc, r), np.ones(1, bool), fc)
    assert y[0] == 127
    with pytest.raises(ValueError, match="rounding draws"):
        stdp.trace_step(x, fc.k_plus, fc)


def test_trace_decay_is_unbiased(fc):
    """With the per-trace draws of trace_rounding, the decayed trace has mean x * k / 4096 (floor
    rounding would lose half an LSB per step on average and cut small traces off early)."""
    n = 1 << 15
    idx = np.arange(n, dtype=np.int64)
    r = stdp.trace_rounding(rng.key(11, rng.Stream.TRACE_ROUND, 5, stdp.PRE_TRACES), idx)
    assert r.min() >= 0 and r.max() < 4096 and abs(r.mean() - 2047.5) < 20
    for x0 in (1, 5, 32, 127):
        d = stdp.trace_step(np.full(n, x0, np.int64), fc.k_plus, fc, r)
        exact = x0 * fc.k_plus / 4096
        assert set(np.unique(d)) <= {int(np.floor(exact)), int(np.floor(exact)) + 1}
        frac = exact - np.floor(exact)
        assert abs(d.mean() - exact) < 5 * np.sqrt(frac * (1 - frac) / n)
    # a lone impulse's expected tail follows the exponential: E[x_t] = 32 (k/4096)^t
    traces = np.full(n, 32, np.int64)
    for t in range(30):
        r = stdp.trace_rounding(rng.key(11, rng.Stream.TRACE_ROUND, t, stdp.PRE_TRACES), idx)
        traces = stdp.trace_step(traces, fc.k_plus, fc, r)
    expected = 32 * (fc.k_plus / 4096) ** 30
    assert expected == pytest.approx(7.1, abs=0.1) and abs(traces.mean() - expected) < 0.05 * expected


def test_fixed_pair_updates(fc):
    """Pre then post one step later: dm = eta+ * 30 (a 32 impulse decayed once, draw r = 0)."""
    p = P.paper()
    p = dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, trace_impulse=fc.trace_impulse))
    rule = stdp.stdp_rule(p, "EE", fc)
    m = np.full((1, 1), 40, dtype=np.int64)
    mask = np.ones((1, 1), bool)
    x = stdp.trace_add(np.zeros(1, np.int64), np.ones(1, bool), fc)  # pre spike: x = 32
    y = np.zeros(1, np.int64)
    r0 = np.zeros(1, np.int64)
    x = stdp.trace_step(x, fc.k_plus, fc, r0)
    dm = stdp.stdp_delta(rule, m, mask, np.zeros(1, bool), np.ones(1, bool), x, y)
    assert dm[0, 0] == 2796 * 30
    # post then pre two steps later: 32 -> 30 -> 28 (30*3896/4096 = 28.5): dm = -2936 * 28
    y = stdp.trace_step(stdp.trace_step(np.array([32]), fc.k_minus, fc, r0), fc.k_minus, fc, r0)
    assert y[0] == 28
    dm = stdp.stdp_delta(rule, m, mask, np.ones(1, bool), np.zeros(1, bool), np.zeros(1, np.int64), y)
    assert dm[0, 0] == -2936 * 28
    # soft bounds (mu = 1): eta+ x (m_max - m), with eta+ = 20 for mu = 1
    p1 = dataclasses.replace(p, network=p.network.with_pathway("EE", mu=1.0))
    fc1 = to_fixed(p1)
    rule1 = stdp.stdp_rule(p1, "EE", fc1)
    dm = stdp.stdp_delta(rule1, m, mask, np.zeros(1, bool), np.ones(1, bool), np.array([30]), y)
    assert dm[0, 0] == 20 * 30 * (136 - 40)
    assert dm.dtype == np.int64


@pytest.mark.parametrize("acc", [12345, -12345, 3 * 65536 + 1000, 65535, -1])
def test_stochastic_rounding_unbiased(fc, acc):
    """(acc + r) >> F with r uniform in [0, 2**F) per synapse has mean acc / 2**F."""
    rule = stdp.stdp_rule(P.paper(), "XE", fc)
    n = 1 << 16
    f = fc.dw_frac_bits
    m = np.full(n, 100, dtype=np.int64)
    r = rng.uniform_u32(rng.key(1, rng.Stream.STDP_ROUND, 0), np.arange(n, dtype=np.int64)) >> (32 - f)
    assert r.min() >= 0 and r.max() < 2**f
    new = stdp.apply_epoch(rule, m, np.full(n, acc, dtype=np.int64), np.ones(n, bool), r, f)
    step = new - 100
    mean = acc / 2**f
    assert set(np.unique(step)) <= {int(np.floor(mean)), int(np.floor(mean)) + 1}
    frac = mean - np.floor(mean)
    assert abs(step.mean() - mean) < 5 * np.sqrt(frac * (1 - frac) / n) + 1e-12
    # untouched synapses (acc = 0) never move
    same = stdp.apply_epoch(rule, m, np.zeros(n, dtype=np.int64), np.ones(n, bool), r, f)
    np.testing.assert_array_equal(same, m)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 30), mu=st.sampled_from([0.0, 1.0]),
       rule_name=st.sampled_from(["stdp", "vogels"]), t_epoch=st.integers(1, 4))
def test_property_fixed_stdp_invariants(fc, seed, steps, mu, rule_name, t_epoch):
    """Random spikes: integer magnitudes stay in [m_min, m_max], masked ones exactly 0, int64."""
    p = P.paper()
    p = dataclasses.replace(p, network=p.network.with_pathway("EE", mu=mu, rule=rule_name,
                                                                eta_plus=0.2, eta_minus=0.2))
    fcx = to_fixed(p)
    rule = stdp.stdp_rule(p, "EE", fcx)
    gen = np.random.default_rng(seed)  # test data drawn from the hypothesis-chosen seed
    n_pre, n_post = 7, 5
    mask = gen.random((n_post, n_pre)) < 0.7
    m = np.where(mask, gen.integers(0, rule.m_max + 1, (n_post, n_pre)), 0).astype(np.int64)
    x, y = np.zeros(n_pre, np.int64), np.zeros(n_post, np.int64)
    acc = np.zeros_like(m)
    idx = np.arange(m.size, dtype=np.int64).reshape(m.shape)
    for t in range(steps):
        sp, so = gen.random(n_pre) < 0.5, gen.random(n_post) < 0.5
        rx = stdp.trace_rounding(rng.key(seed, rng.Stream.TRACE_ROUND, t, 0), np.arange(n_pre))
        ry = stdp.trace_rounding(rng.key(seed, rng.Stream.TRACE_ROUND, t, 1), np.arange(n_post))
        x, y = stdp.trace_step(x, fcx.k_plus, fcx, rx), stdp.trace_step(y, fcx.k_minus, fcx, ry)
        acc += stdp.stdp_delta(rule, m, mask, sp, so, x, y)
        x, y = stdp.trace_add(x, sp, fcx), stdp.trace_add(y, so, fcx)
        assert x.max() <= 127 and y.max() <= 127 and x.min() >= 0
        if (t + 1) % t_epoch == 0:
            r = rng.uniform_u32(rng.key(seed, rng.Stream.STDP_ROUND + 1, t), idx) >> (32 - 16)
            m = stdp.apply_epoch(rule, m, acc, mask, r, fcx.dw_frac_bits)
            acc[...] = 0
            assert m.dtype == np.int64
            assert np.all(m[mask] >= rule.m_min) and np.all(m[mask] <= rule.m_max)
            assert np.all(m[~mask] == 0)


# -- torch tensors through the fixed kernels ---------------------------------------------------


def test_fixed_kernels_accept_torch(fc, torch_single_thread):
    torch = torch_single_thread
    gen = np.random.default_rng(21)  # test data only
    n = 128
    u = gen.integers(-2**22, 2**22, n)
    v = gen.integers(-2**21, 2**21, n)
    a = gen.integers(-2**20, 2**20, n)
    drive = gen.integers(-2**20, 2**20, n)
    z = rng.normal_int(rng.key(0, rng.Stream.NOISE, 3, 0), rng.key(0, rng.Stream.NOISE, 3, 1),
                       np.arange(n, dtype=np.int64))
    noise = neuron.noise_from_int(z, fc, sleeping=False)
    np.testing.assert_array_equal(noise, neuron.noise_from_int(torch.from_numpy(z), fc, False).numpy())
    ref = neuron.neuron_step(u, v, a, drive, noise, fc)
    got = neuron.neuron_step(*(torch.from_numpy(np.asarray(w)) for w in (u, v, a, drive, noise)), fc)
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_array_equal(r, g.numpy())
    assert got[0].dtype == torch.int64 and got[3].dtype == torch.bool
    x = np.array([0, 32, 120, 127])
    s = np.array([True, False, True, True])
    k = rng.key(0, rng.Stream.TRACE_ROUND, 3, 0)
    r = stdp.trace_rounding(k, np.arange(4))
    r_t = stdp.trace_rounding(torch.tensor([k])[:, None], torch.arange(4))[0]
    np.testing.assert_array_equal(r, r_t.numpy())
    got = stdp.trace_add(stdp.trace_step(torch.from_numpy(x), fc.k_plus, fc, r_t), torch.from_numpy(s), fc)
    np.testing.assert_array_equal(stdp.trace_add(stdp.trace_step(x, fc.k_plus, fc, r), s, fc), got.numpy())
    np.testing.assert_array_equal(decay12(torch.from_numpy(u), 3959).numpy(), decay12(u, 3959))
