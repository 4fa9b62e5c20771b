"""Float -> fixed mapping (lava_sleep.fixed): hand-derived constants for the paper parameters."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from lava_sleep import fixed as F
from lava_sleep import params as P

MV = 2**16  # default v_frac_bits = 16: one mV is 65536 integer units


@pytest.fixture(scope="module")
def fc():
    return F.to_fixed(P.paper())


def test_keep_factors(fc):
    # k = round(4096 * (1 - dt/tau)): tau_syn = tau_m = 30 -> 4096 * 29/30 = 3959.47 -> 3959
    assert fc.k_u == 3959
    assert fc.k_v == 3959
    # tau_a = 100: 4096 * 0.99 = 4055.04 -> 4055
    assert fc.k_a == 4055
    # traces: round(4096 * exp(-1/20)) = round(3896.24) = 3896
    assert fc.k_plus == 3896
    assert fc.k_minus == 3896


def test_voltages_relative_to_rest(fc):
    assert fc.v_frac_bits == 16
    assert fc.v_thresh == 15 * MV  # -55 - (-70)
    assert fc.v_reset == -10 * MV  # -80 - (-70)
    assert fc.v_min == -30 * MV  # -100 - (-70)
    assert fc.v_max == 110 * MV  # 40 - (-70) = 7208960 < 2**23 - 1
    assert fc.a_min == -35 * MV  # theta_min - theta = -90 - (-55)
    assert fc.a_max == 55 * MV  # 0 - (-55)
    assert fc.delta_a == 3 * MV
    assert fc.bias == 0
    assert F.STATE_MAX == 2**23 - 1 == -F.STATE_MIN


def test_noise_multipliers(fc):
    # sigma_int = round(sigma * 2**16 * 2**12 / sd), sd = sqrt(4 (65536**2 - 1) / 12) = 37837.23
    # sigma 2 mV: 2 * 2**28 / 37837.23 = 14188.96 -> 14189; sigma 4 mV -> 28377.92 -> 28378
    assert fc.sigma_wake == 14189
    assert fc.sigma_sleep == 28378


def test_traces_and_widths(fc):
    assert fc.trace_impulse == 13
    assert fc.trace_max == 127  # 7 bits
    assert fc.dw_frac_bits == 16
    assert fc.decay_frac_bits == 24


@pytest.mark.parametrize(("name", "m_max", "eta_p", "eta_m"),
                         [("XE", 136, 6883, 7227), ("EE", 136, 6883, 7227), ("EI", 204, 6883, 7227),
                          ("IE", 204, 6883, 7227)])
def test_pathway_constants(fc, name, m_max, eta_p, eta_m):
    """Hand derivation for the paper (gain = r_m dt^2 / (tau_m tau_syn) = 1/30 mV per unit weight).

    One weight unit is gain * 2**16 = 2184.53 u-units. 8-bit magnitudes (255) must reach w_max:
    XE/EE (w_max 1): 2**shift >= 2184.53 / 255 = 8.57 -> shift 4; EI/IE (w_max 1.5):
    2**shift >= 12.85 -> shift 4. lsb = 16 / 2184.53 = 30 * 16 / 65536 = 0.00732421875.
    m_max = floor(w_max / lsb): 136 (w_max 1) and 204 (w_max 1.5).
    eta (mu = 0) in 2**-16 LSB per trace unit: eta * 65536 / (13 * lsb):
    0.01 -> 6882.96 -> 6883, 0.0105 -> 7227.11 -> 7227. alpha 0.2 * 13 = 2.6 -> 3.
    """
    pf = fc.pathways[name]
    assert pf.shift == 4
    assert pf.lsb == 0.00732421875
    assert pf.m_max == m_max
    assert pf.m_min == 0 and pf.m_floor == 0
    assert (pf.eta_plus, pf.eta_minus) == (eta_p, eta_m)
    assert pf.alpha_trace == 3


def test_soft_bound_eta_units():
    # mu = 1: eta * 2**16 / impulse (per trace unit per LSB of headroom): 0.01*65536/13 = 50.41 -> 50,
    # 0.0105 * 65536 / 13 = 52.93 -> 53
    p = P.paper()
    p = dataclasses.replace(p, network=p.network.with_pathway("EE", mu=1.0))
    pf = F.to_fixed(p).pathways["EE"]
    assert (pf.eta_plus, pf.eta_minus) == (50, 53)


def test_low_resolution_voltage():
    """v_frac_bits = 8: gain * 256 = 8.53 u-units per weight unit, so shift 0 and lsb = 30/256."""
    p = dataclasses.replace(P.paper(), fixed=P.FixedParams(v_frac_bits=8))
    fc = F.to_fixed(p)
    assert fc.v_thresh == 15 * 256
    pf = fc.pathways["XE"]
    assert pf.shift == 0
    assert pf.lsb == 30 / 256
    assert pf.m_max == 8  # floor(1 / 0.1171875) = floor(8.53)


def test_shift_is_smallest_that_fits():
    """For several w_max: w_max fits in w_bits with shift, but not with shift - 1."""
    base = P.paper()
    for w_max, w_bits in [(0.2, 8), (1.0, 8), (3.0, 8), (16.0, 8), (1.0, 4), (1.5, 2)]:
        p = dataclasses.replace(
            base, network=base.network.with_pathway("XE", w_max=w_max, w_init=w_max / 2),
            fixed=P.FixedParams(w_bits=w_bits))
        pf = F.to_fixed(p).pathways["XE"]
        gain_units = 2**16 / 30.0  # integer u-units per weight unit
        top = 2**w_bits - 1
        assert top * 2**pf.shift / gain_units >= w_max * (1 - 1e-12)
        if pf.shift > 0:
            assert top * 2 ** (pf.shift - 1) / gain_units < w_max
        assert pf.lsb == 2**pf.shift / gain_units
        assert pf.m_max <= top
        assert pf.m_max == min(top, math.floor(w_max / pf.lsb + 1e-9))


def test_decay_factor(fc):
    # lam = 0.99997, K = 10: 0.99997**10 * 2**24 = 16772183.51 -> 16772184
    assert fc.decay_factor(0.99997, 10) == 16772184
    assert fc.decay_factor(1.0, 5) == 2**24
    assert fc.decay_factor(0.5, 1) == 2**23


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"v_max": 100.0}, "v_max - v_rest"),  # 170 mV * 65536 = 11.1e6 > 2**23 - 1
        ({"theta_max": 100.0}, "theta_max - v_thresh"),  # 155 mV * 65536 = 10.2e6
        ({"v_min": -199.0}, "v_min - v_rest"),  # -129 mV * 65536 = -8.45e6 < -(2**23 - 1)
    ],
)
def test_param_error_when_state_does_not_fit(changes, needle):
    p = P.paper()
    p = dataclasses.replace(p, neuron=dataclasses.replace(p.neuron, **changes))
    with pytest.raises(P.ParamError, match=needle):
        F.to_fixed(p)
    # with one fractional bit less (1 mV = 2**15 units) the same values fit
    fc = F.to_fixed(dataclasses.replace(p, fixed=P.FixedParams(v_frac_bits=15)))
    assert fc.v_frac_bits == 15 and fc.v_thresh == 15 * 2**15


def test_quantize_round_trip(fc):
    gen = np.random.default_rng(3)  # test data only
    for name, w_max in [("XE", 1.0), ("IE", 1.5)]:
        pf = fc.pathways[name]
        m = gen.uniform(0.0, pf.m_max * pf.lsb, size=5000)
        q = F.quantize_weights(m, pf)
        assert q.dtype == np.int64
        assert np.all(np.abs(F.dequantize_weights(q, pf) - m) <= pf.lsb / 2 + 1e-12)
        ints = np.arange(pf.m_max + 1)
        np.testing.assert_array_equal(F.quantize_weights(F.dequantize_weights(ints, pf), pf), ints)
        # out-of-range magnitudes are clipped to the integer bounds
        np.testing.assert_array_equal(F.quantize_weights([-0.3, w_max * 3], pf), [0, pf.m_max])


def test_volt_to_float(fc):
    p = P.paper()
    assert F.volt_to_float(fc.v_thresh, p) == -55.0
    assert F.volt_to_float(fc.v_reset, p) == -80.0
    np.testing.assert_array_equal(F.volt_to_float(np.array([0, MV // 2]), p), [-70.0, -69.5])


def test_rounding_rule_is_half_even():
    assert [F.rint(x) for x in (0.5, 1.5, 2.5, -0.5, -1.5)] == [0, 2, 2, 0, -2]
    assert F.keep_factor(1.0, 2.0) == 2048
    assert F.trace_keep_factor(1.0, 1e12) == 4096


# -- precision parameters (docs/model.md "Fixed-point precision") -----------------------------------
def _with_fixed(**changes) -> P.ModelParams:
    return dataclasses.replace(P.paper(), fixed=dataclasses.replace(P.FixedParams(), **changes))


# Hand derivation (paper: gain = 30 * 1 * 1 / (30 * 30) = 1/30 mV per weight unit per spike, so one
# weight unit is 2**16 / 30 u-units and w_mult per weight unit is 2**24 / 30 = 559240.53):
# full:  w_mult = floor(559240.53 * w_max / (2**w_bits - 1)), lsb = w_mult * 30 / 2**24,
#        m_max = min(2**w_bits - 1, floor(w_max / lsb)) = the top code;
# pow2:  shift = ceil(log2(2184.53 * w_max / (2**w_bits - 1))), w_mult = 2**(shift + 8).
@pytest.mark.parametrize(
    ("w_scale", "w_bits", "name", "w_mult", "m_max"),
    [
        ("full", 8, "XE", 2193, 255),  # 559240.53 / 255 = 2193.10; 1 / lsb = 255.01
        ("full", 8, "EI", 3289, 255),  # 838860.80 / 255 = 3289.65; 1.5 / lsb = 255.05
        ("full", 4, "XE", 37282, 15),  # 559240.53 / 15 = 37282.70; 1 / lsb = 15.0002
        ("full", 2, "XE", 186413, 3),  # 559240.53 / 3 = 186413.51; 1 / lsb = 3.00001
        ("full", 2, "IE", 279620, 3),  # 838860.80 / 3 = 279620.27
        ("pow2", 8, "XE", 2**12, 136),  # 2184.53 / 255 = 8.57 -> shift 4; floor(136.53)
        ("pow2", 3, "XE", 2**17, 4),  # 2184.53 / 7 = 312.08 -> shift 9; lsb 30/128, floor(4.27)
        ("pow2", 3, "EI", 2**17, 6),  # 3276.80 / 7 = 468.11 -> shift 9; floor(6.4)
        ("pow2", 2, "EI", 2**19, 1),  # 3276.80 / 3 = 1092.27 -> shift 11; lsb 0.9375, floor(1.6)
    ],
)
def test_w_mult_lsb_and_m_max_by_hand(w_scale, w_bits, name, w_mult, m_max):
    pf = F.to_fixed(_with_fixed(w_scale=w_scale, w_bits=w_bits)).pathways[name]
    assert pf.w_mult == w_mult
    assert pf.lsb == pytest.approx(w_mult * 30 / 2**24, rel=1e-14)
    assert pf.m_max == m_max
    if w_scale == "pow2":
        assert w_mult == 2 ** (pf.shift + F.W_MULT_FRAC_BITS)
    else:
        assert w_mult & (w_mult - 1)  # not a power of two: the drive needs the multiplier
        assert pf.m_max * pf.lsb <= P.paper().network.pathway(name).w_max  # top code just below w_max


def test_rounding_offset_per_mode():
    def no_draws():
        raise AssertionError("deterministic modes draw nothing")

    assert F.rounding_offset("nearest", 12, no_draws) == 2048
    assert F.rounding_offset("nearest", 6, no_draws) == 32
    assert F.rounding_offset("nearest", 1) == 1
    assert F.rounding_offset("floor", 12, no_draws) == 0
    assert F.rounding_offset("floor", 24) == 0
    draws = np.array([5, 4095])
    assert F.rounding_offset("stochastic", 12, lambda: draws) is draws
    with pytest.raises(ValueError, match="unknown rounding mode 'up'"):
        F.rounding_offset("up", 12, no_draws)


def test_pathway_drive_pow2_is_shift_and_full_is_exact_int64():
    import torch

    fc = F.to_fixed(P.paper())
    s = np.array([0, 1, 7, 136, 255 * 784], dtype=np.int64)
    for pf in fc.pathways.values():
        np.testing.assert_array_equal(F.pathway_drive(s, pf), s << pf.shift)
        assert torch.equal(F.pathway_drive(torch.from_numpy(s), pf), torch.from_numpy(s) << pf.shift)
    pf = F.to_fixed(_with_fixed(w_scale="full")).pathways["XE"]  # w_mult 2193
    # 10 * 2193 = 21930 -> 21930 >> 8 = 85 (85.66); 255 * 784 * 2193 = 438424560 -> 1712595 (.94)
    np.testing.assert_array_equal(F.pathway_drive(np.array([0, 1, 10, 255 * 784]), pf), [0, 8, 85, 1712595])
    # multipliers up to ~1e8 (coarse weights at high v_frac_bits): products need int64, not int32
    big = dataclasses.replace(pf, w_mult=10**8)
    got = F.pathway_drive(np.array([255 * 784], dtype=np.int64), big)
    assert got.dtype == np.int64 and got[0] == (255 * 784 * 10**8) >> 8 == 78093750000


def test_loihi2_mismatches():
    assert F.loihi2_mismatches(_with_fixed(w_bits=8, dw_frac_bits=7)) == []  # 1 + 8 + 7 = 16 bits
    default = F.loihi2_mismatches(P.paper())
    assert len(default) == 1 and "25-bit accumulator" in default[0]  # 1 + 8 + 16
    p = _with_fixed(w_bits=8, dw_frac_bits=7, w_scale="full", trace_rounding="nearest", dw_rounding="floor")
    p = dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, trace_bits=8))
    got = F.loihi2_mismatches(p)
    assert len(got) == 4
    assert "weight scale full" in got[0] and "8-bit traces" in got[1]
    assert "nearest rounding of the trace decay" in got[2] and "floor rounding of the update" in got[3]
    # 7-bit traces and a 16-bit accumulator are Loihi's limits, not mismatches; 17 bits is one
    assert F.loihi2_mismatches(_with_fixed(w_bits=8, dw_frac_bits=8)) == ["17-bit accumulator"]


@pytest.mark.parametrize(("field", "value"), [("w_scale", "linear"), ("trace_rounding", "round"),
                                              ("dw_rounding", "up"), ("w_scale", None)])
def test_bad_precision_values_raise_param_error(field, value):
    with pytest.raises(P.ParamError) as err:
        P.FixedParams(**{field: value})
    msg = str(err.value)
    assert "\n" not in msg and f"FixedParams.{field} = {value!r}" in msg


def test_precision_reaches_fixed_constants():
    p = _with_fixed(trace_rounding="floor", dw_rounding="nearest")
    p = dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, trace_bits=4, trace_impulse=3))
    fc = F.to_fixed(p)
    assert (fc.trace_rounding, fc.dw_rounding, fc.trace_max, fc.trace_impulse) == ("floor", "nearest", 15, 3)
