"""Float <-> fixed point: the one place where model parameters become integers.

:func:`to_fixed` maps a :class:`~lava_sleep.params.ModelParams` to a
:class:`FixedConstants`, the integer contract shared by the NumPy oracle's fixed
mode, the Lava ``fixed_pt`` models and the torch engine's integer mode. Every
bit width, scale, shift and rounding rule lives here, with the reason for it.

Units and widths (Loihi-2 style):

* Voltage ``v`` and current ``u`` are signed 24-bit integers (Loihi's state width),
  saturating at +-(2**23 - 1). ``v`` is stored *relative to v_rest*; one mV is
  ``2**v_frac_bits`` units (default 16, so +110 mV = v_max - v_rest fits in 23 bits).
  ``u`` is in the same units as ``v``: it is the per-step voltage increment
  ``U = r_m * I * dt / tau_m`` of the float model.
* Decays are 12-bit: a state x decays as ``x <- sign(x * k) * (|x * k| >> 12)`` with
  ``k = round(4096 * (1 - dt/tau))`` (the *keep* factor; rounding toward zero of
  the product, exactly Lava's ``PyLifModelBitAcc``; Lava's register ``du`` equals
  ``4096 - k_u - 1`` because Lava adds ``ds_offset = 1`` to du, and ``dv = 4096 - k_v``).
* Weights are magnitudes ``m`` of ``w_bits`` bits (default 8, unsigned) with the
  sign fixed per pathway. The spikes of one step through a pathway add
  ``sign * ((sum_j m_ij s_j) * w_mult_p) >> W_MULT_FRAC_BITS`` (8) to u; the weight LSB is
  ``lsb_p = w_mult_p / (2**8 * gain * 2**v_frac_bits)`` (gain = r_m * dt**2 / (tau_m * tau_syn),
  mV per weight unit per spike). ``FixedParams.w_scale`` chooses w_mult_p:

  - ``"pow2"`` (default, Loihi's mantissa-and-exponent weights): ``w_mult_p = 2**(shift_p + 8)``
    with ``shift_p >= 0`` the smallest shift whose LSB still represents w_max in ``w_bits``
    bits, i.e. the drive is ``sum << shift_p``. w_max then takes between 2**(w_bits-1) and
    2**w_bits - 1 codes (the paper's XE/EE: 136 of 255, about 7.1 bits).
  - ``"full"``: ``w_mult_p = floor(2**8 * gain * 2**v_frac_bits * w_max / (2**w_bits - 1))``,
    so w_max is the top code 2**w_bits - 1 (its value is below w_max by less than one part in
    w_mult_p, e.g. 1 in 2193 for the paper's XE at 8 bits). Not Loihi's weight format (an
    integer multiplier per pathway), so the Loihi-native variant rejects it.
* Noise: ``(z * sigma_int) >> NOISE_SHIFT`` where z is the integer Irwin-Hall
  normal of :mod:`lava_sleep.rng` (sd NORMAL_INT_SD) and
  ``sigma_int = round(sigma * 2**v_frac_bits * 2**NOISE_SHIFT / NORMAL_INT_SD)``;
  ``>>`` is an arithmetic shift (floor), bias -0.5 LSB = -7.6e-6 mV per step.
* Traces are unsigned ``trace_bits``-bit integers (default 7, max 127): decay
  ``x <- (x * k_trace + r) >> 12`` (k_trace = round(4096 * exp(-dt/tau))), then
  ``+ trace_impulse`` (default 13) per spike, saturating at 2**trace_bits - 1. The rounding
  offset r follows ``FixedParams.trace_rounding`` (:func:`rounding_offset`): ``stochastic``
  (default) r uniform in [0, 4096) per trace and step (stream TRACE_ROUND, as Loihi decays
  traces: unbiased, so small traces keep their exponential tail in expectation), ``nearest``
  r = 2048, ``floor`` r = 0.
* STDP updates accumulate in units of ``2**-dw_frac_bits`` weight LSB and are applied
  every ``t_epoch`` steps as ``(acc + r) >> dw_frac_bits`` (arithmetic shift), r per
  ``FixedParams.dw_rounding``: ``stochastic`` (default) r uniform in [0, 2**dw_frac_bits)
  drawn per synapse (stream STDP_ROUND + pathway), ``nearest`` r = 2**(dw_frac_bits-1),
  ``floor`` r = 0. Deterministic modes draw nothing (the streams are counter-based, so
  the other draws are unchanged).
* Sleep decay (linear form only): per block of K sleep steps,
  ``m <- (A * m + B + r) >> decay_frac_bits`` with ``L_K = round(lam**K * 2**decay_frac_bits)``,
  r uniform per synapse (stochastic rounding, stream DECAY + pathway). Per-synapse
  steps are far below one LSB (lam = 0.99997), so without stochastic rounding the
  decay would freeze; with it, the decay is exact in expectation.

Float parameters are rounded with round-half-to-even (``numpy.rint``) throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lava_sleep.params import PATHWAY_NAMES, ModelParams, ParamError
from lava_sleep.rng import NORMAL_INT_SD

#: Loihi state variables (u, v) are 24-bit signed.
STATE_BITS = 24
STATE_MAX = 2 ** (STATE_BITS - 1) - 1
STATE_MIN = -STATE_MAX
#: Decay constants are 12-bit (Loihi du/dv registers).
DECAY_BITS = 12
DECAY_UNITY = 2**DECAY_BITS
#: Extra fractional bits of the noise multiplier (keeps sigma_int >= 1000 for sigma >= 0.6 mV).
NOISE_SHIFT = 12
#: Lava's threshold/activation MSB alignment (PyLifModelBitAcc), used by the compatibility check.
LAVA_ACT_SHIFT = 6
#: Fraction bits of the per-pathway weight multiplier w_mult (drive = (sum * w_mult) >> 8).
W_MULT_FRAC_BITS = 8
#: Loihi 2's learning engine as the quantization study checks it (issue 14): 8-bit weight
#: mantissa with a power-of-two exponent, 7-bit traces, 16-bit update accumulators, stochastic
#: rounding of trace decay and weight updates.
LOIHI2_TRACE_BITS = 7
LOIHI2_ACC_BITS = 16


def rounding_offset(mode: str, bits: int, draws=None):
    """The offset r added before ``>> bits`` (FixedParams.trace_rounding / dw_rounding).

    ``"stochastic"``: ``draws()`` (uniform integers in [0, 2**bits), one per value rounded;
    ``draws`` is a zero-argument callable so deterministic modes draw nothing);
    ``"nearest"``: ``2**(bits - 1)`` (round half up); ``"floor"``: 0 (toward minus infinity).
    """
    if mode == "stochastic":
        return draws()
    if mode == "nearest":
        return 1 << (bits - 1)
    if mode == "floor":
        return 0
    raise ValueError(f"unknown rounding mode {mode!r}")


def rint(x: float) -> int:
    """Round half to even to a Python int (the mapping's only rounding rule)."""
    return int(np.rint(x))


def keep_factor(dt: float, tau: float) -> int:
    """12-bit Euler keep factor ``round(4096 * (1 - dt/tau))`` for u, v and adaptation."""
    return rint(DECAY_UNITY * (1.0 - dt / tau))


def adaptation_keep_factor(n) -> int:
    """12-bit keep factor of the adaptation, applied every ``n.a_decay_every`` steps:
    ``round(4096 * (1 - dt/tau_a) ** a_decay_every)`` (``n``: NeuronParams). With
    a_decay_every = 1 this is :func:`keep_factor`."""
    return rint(DECAY_UNITY * (1.0 - n.dt / n.tau_a) ** n.a_decay_every)


def trace_keep_factor(dt: float, tau: float) -> int:
    """12-bit exponential keep factor ``round(4096 * exp(-dt/tau))`` for STDP traces."""
    return rint(DECAY_UNITY * math.exp(-dt / tau))


def synaptic_gain(params: ModelParams) -> float:
    """Voltage increment-rate per unit weight per spike: r_m * dt**2 / (tau_m * tau_syn) (mV)."""
    n = params.neuron
    return n.r_m * n.dt * n.dt / (n.tau_m * n.tau_syn)


@dataclass(frozen=True)
class PathwayFixed:
    """Integer constants of one pathway.

    Attributes:
        shift: the power-of-two exponent of w_scale "pow2" (summed magnitudes ``<< shift``);
            with w_scale "full" the exponent pow2 would have used (informative only).
        w_mult: integer multiplier of the summed magnitudes: the drive is
            ``(sum * w_mult) >> W_MULT_FRAC_BITS`` (pow2: ``2**(shift + 8)``).
        lsb: float weight value of one integer magnitude unit.
        m_min, m_max: integer magnitude bounds.
        m_floor: integer sleep floor.
        eta_plus, eta_minus: integer learning rates (units 2**-dw_frac_bits LSB per
            trace unit, or per trace unit per LSB of headroom when mu == 1).
        alpha_trace: the rule's trace offset (Vogels alpha, Diehl & Cook x_tar) in trace units (integer).
    """

    shift: int
    w_mult: int
    lsb: float
    m_min: int
    m_max: int
    m_floor: int
    eta_plus: int
    eta_minus: int
    alpha_trace: int


@dataclass(frozen=True)
class FixedConstants:
    """All integer constants of the fixed-point model (see module docstring)."""

    v_frac_bits: int
    k_u: int
    k_v: int
    k_a: int
    v_thresh: int
    v_reset: int
    v_min: int
    v_max: int
    a_min: int
    a_max: int
    delta_a: int
    bias: int
    sigma_wake: int
    sigma_sleep: int
    k_plus: int
    k_minus: int
    trace_impulse: int
    trace_max: int
    dw_frac_bits: int
    decay_frac_bits: int
    pathways: dict[str, PathwayFixed]
    trace_rounding: str = "stochastic"
    dw_rounding: str = "stochastic"

    def decay_factor(self, lam: float, k: int) -> int:
        """``L_K = round(lam**K * 2**decay_frac_bits)`` for a block of K sleep steps."""
        return rint(lam**k * 2**self.decay_frac_bits)


def to_fixed(params: ModelParams) -> FixedConstants:
    """Map float parameters to the integer constants of the fixed-point model.

    Raises ParamError when a value does not fit its bit width.
    """
    n = params.neuron
    fx = params.fixed
    scale = 2.0**fx.v_frac_bits  # integer units per mV

    def volt(mv: float, what: str) -> int:
        q = rint(mv * scale)
        if not STATE_MIN <= q <= STATE_MAX:
            raise ParamError(
                f"{what} = {mv} mV does not fit the 24-bit state with v_frac_bits="
                f"{fx.v_frac_bits}; lower FixedParams.v_frac_bits"
            )
        return q

    gain = synaptic_gain(params)
    wmax_int = 2**fx.w_bits - 1
    unit = gain * scale * 2**W_MULT_FRAC_BITS  # w_mult per unit of weight
    paths = {}
    for pw in params.network.pathways:
        need = gain * scale * pw.w_max / wmax_int
        shift = max(0, math.ceil(math.log2(need))) if need > 0 else 0
        if fx.w_scale == "pow2" or pw.w_max == 0:
            w_mult = 2 ** (shift + W_MULT_FRAC_BITS)
        else:
            w_mult = int(math.floor(unit * pw.w_max / wmax_int))
            if w_mult < 1:
                raise ParamError(
                    f"{pw.name}: w_max = {pw.w_max} is below one voltage unit per weight code with "
                    f"w_scale 'full'; raise FixedParams.v_frac_bits or use w_scale 'pow2'")
        lsb = w_mult / unit
        impulse = params.stdp.trace_impulse
        if pw.mu == 1.0:
            eta_p = rint(pw.eta_plus * 2**fx.dw_frac_bits / impulse)
            eta_m = rint(pw.eta_minus * 2**fx.dw_frac_bits / impulse)
        else:
            eta_p = rint(pw.eta_plus * 2**fx.dw_frac_bits / (impulse * lsb))
            eta_m = rint(pw.eta_minus * 2**fx.dw_frac_bits / (impulse * lsb))
        paths[pw.name] = PathwayFixed(
            shift=shift,
            w_mult=w_mult,
            lsb=lsb,
            m_min=rint(pw.w_min / lsb),
            m_max=min(wmax_int, int(math.floor(pw.w_max / lsb + 1e-9))),
            m_floor=rint(params.sleep.w_floor / lsb),
            eta_plus=eta_p,
            eta_minus=eta_m,
            alpha_trace=rint(pw.alpha * impulse),
        )
    assert tuple(paths) == PATHWAY_NAMES

    sigma_mult = scale * 2**NOISE_SHIFT / NORMAL_INT_SD
    return FixedConstants(
        v_frac_bits=fx.v_frac_bits,
        k_u=keep_factor(n.dt, n.tau_syn),
        k_v=keep_factor(n.dt, n.tau_m),
        k_a=adaptation_keep_factor(n),
        v_thresh=volt(n.v_thresh - n.v_rest, "v_thresh - v_rest"),
        v_reset=volt(n.v_reset - n.v_rest, "v_reset - v_rest"),
        v_min=volt(n.v_min - n.v_rest, "v_min - v_rest"),
        v_max=volt(n.v_max - n.v_rest, "v_max - v_rest"),
        a_min=volt(n.theta_min - n.v_thresh, "theta_min - v_thresh"),
        a_max=volt(n.theta_max - n.v_thresh, "theta_max - v_thresh"),
        delta_a=volt(n.delta_a, "delta_a"),
        bias=volt(n.bias, "bias"),
        sigma_wake=rint(n.sigma_wake * sigma_mult),
        sigma_sleep=rint(n.sigma_sleep * sigma_mult),
        k_plus=trace_keep_factor(n.dt, params.stdp.tau_plus),
        k_minus=trace_keep_factor(n.dt, params.stdp.tau_minus),
        trace_impulse=params.stdp.trace_impulse,
        trace_max=2**params.stdp.trace_bits - 1,
        dw_frac_bits=fx.dw_frac_bits,
        decay_frac_bits=fx.decay_frac_bits,
        pathways=paths,
        trace_rounding=fx.trace_rounding,
        dw_rounding=fx.dw_rounding,
    )


def pathway_drive(summed, pf: PathwayFixed):
    """Unsigned drive of summed magnitudes (integer array, numpy or torch, >= 0):
    ``(summed * w_mult) >> W_MULT_FRAC_BITS`` (with w_scale "pow2" exactly ``summed << shift``)."""
    return (summed * pf.w_mult) >> W_MULT_FRAC_BITS


def loihi2_mismatches(params: ModelParams) -> list[str]:
    """Why these fixed-point settings do not map onto Loihi 2's learning engine as is (empty
    list: they do), checked against LOIHI2_*: weights a power-of-two scaled mantissa of at
    most 8 bits (w_scale "pow2"), traces of at most 7 bits, accumulators (sign, w_bits
    integer and dw_frac_bits fraction bits) of at most 16 bits, stochastic rounding of the
    trace decay and the weight updates."""
    fx, out = params.fixed, []
    if fx.w_scale != "pow2":
        out.append(f"weight scale {fx.w_scale} (a multiplier, not mantissa and exponent)")
    if params.stdp.trace_bits > LOIHI2_TRACE_BITS:
        out.append(f"{params.stdp.trace_bits}-bit traces")
    acc = 1 + fx.w_bits + fx.dw_frac_bits
    if acc > LOIHI2_ACC_BITS:
        out.append(f"{acc}-bit accumulator")
    for what, name in (("trace_rounding", "trace decay"), ("dw_rounding", "update")):
        if getattr(fx, what) != "stochastic":
            out.append(f"{getattr(fx, what)} rounding of the {name}")
    return out


def quantize_weights(m: np.ndarray, pf: PathwayFixed) -> np.ndarray:
    """Float magnitudes -> integer magnitudes (round half to even, clipped to bounds)."""
    return np.clip(np.rint(np.asarray(m, dtype=np.float64) / pf.lsb), 0, pf.m_max).astype(np.int64)


def dequantize_weights(m_int: np.ndarray, pf: PathwayFixed) -> np.ndarray:
    """Integer magnitudes -> float magnitudes."""
    return np.asarray(m_int, dtype=np.float64) * pf.lsb


def volt_to_float(v_int, params: ModelParams):
    """Integer voltage (relative to rest) -> absolute mV."""
    return np.asarray(v_int, dtype=np.float64) / 2.0**params.fixed.v_frac_bits + params.neuron.v_rest
