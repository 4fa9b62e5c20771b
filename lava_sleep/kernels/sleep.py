"""Homeostatic sleep decay (MODEL.md 4), float and fixed.

The decay is settled once per *block* of K sleep steps (``SleepParams.block``,
and the remainder at an episode's end) with the K-step factor ``lam**K``; every
backend does exactly this, so they stay equal. Per block and plastic pathway,
with ``c = 1 - lam**K`` the decay strength (float: each synapse's strength
carries multiplicative noise ``c_ij = clip(c * (1 + decay_noise * xi_ij), 0, 1)``):

============  ==========================================  ==============================
target        log form                                    linear form
============  ==========================================  ==============================
static        ``t * (m / t) ** (1 - c)``                  ``t + (m - t) * (1 - c)``
group         ``m * (T0 / T) ** c``                       ``m * (1 + c * (T0 / T - 1))``
neuron        ``m * (T0_i / T_i) ** c``                   ``m * (1 + c * (T0_i / T_i - 1))``
============  ==========================================  ==============================

``t`` is the pathway's mean initial magnitude, ``T``/``T0`` the pathway's current
and initial totals, ``T_i``/``T0_i`` the post-neuron's incoming totals (group and
neuron modes are ``|w| <- t_ij (|w|/t_ij)**lam`` with the per-synapse target
``t_ij = |w| T0/T``: synaptic scaling that keeps relative weights).

Fixed point (linear form only): ``L = round(lam**K * 2**D)`` and
``m <- (A * m + B + r) >> D`` with ``r`` uniform in [0, 2**D) per synapse
(stochastic rounding), where static: ``A = L, B = round(t * (2**D - L))``;
group: ``A = L + ((2**D - L) * T0) // T``; neuron: the same per row, ``B = 0``.

Results are clipped to [m_min, m_max]; then :func:`floor_and_prune`; absent
synapses stay 0. :func:`wake_check` is the early wake-up test.
"""

from __future__ import annotations

from dataclasses import dataclass

from lava_sleep.kernels._xp import astype_like, xp_of


@dataclass(frozen=True)
class DecayConsts:
    """Constants of one pathway's decay (magnitudes in float units or integer LSB)."""

    form: str
    target: str
    lam: float
    noise: float
    static_target: float  # mean initial magnitude (float units, or LSB units for fixed)
    m_min: float
    m_max: float
    m_floor: float
    prune: bool
    fixed: bool
    decay_frac_bits: int = 24


def decay_consts(params, name: str, static_target: float, fixed_consts=None) -> DecayConsts:
    sp = params.sleep
    pw = params.network.pathway(name)
    if fixed_consts is None:
        return DecayConsts(sp.form, sp.target, sp.decay_lam(), sp.decay_noise, static_target,
                           pw.w_min, pw.w_max, sp.w_floor, sp.prune, False)
    pf = fixed_consts.pathways[name]
    return DecayConsts("linear", sp.target, sp.decay_lam(), 0.0, static_target, pf.m_min, pf.m_max,
                       pf.m_floor, sp.prune, True, fixed_consts.decay_frac_bits)


def normalize_consts(params, name: str, fixed_consts=None) -> DecayConsts:
    """Constants of the per-image weight normalization of pathway ``name``.

    Normalization is one decay block of the linear ``neuron`` target with full strength
    (``lam = 0``, so ``c = 1 - 0**K = 1``) and no noise: ``m <- m * T0_i / T_i`` in float,
    ``m <- (A_i m + r) >> D`` with ``A_i = (2**D T0_i) // T_i`` in fixed point, clipped to
    [m_min, m_max]; no floor, no pruning. Call :func:`decay_block` with ``k_steps = 1``.
    """
    pw = params.network.pathway(name)
    if fixed_consts is None:
        return DecayConsts("linear", "neuron", 0.0, 0.0, 0.0, pw.w_min, pw.w_max, 0.0, False, False)
    pf = fixed_consts.pathways[name]
    return DecayConsts("linear", "neuron", 0.0, 0.0, 0.0, pf.m_min, pf.m_max, 0, False, True,
                       fixed_consts.decay_frac_bits)


def decay_strength(dc: DecayConsts, k_steps: int, xi=None):
    """Float decay strength c (scalar) or per-synapse c_ij when noise is on (xi given)."""
    c = 1.0 - dc.lam**k_steps
    if xi is None or dc.noise == 0.0:
        return c
    xp = xp_of(xi)
    return xp.clip(c * (1.0 + dc.noise * xi), 0.0, 1.0)


def decay_block(dc: DecayConsts, m, mask, total0, row_total0, k_steps: int, xi=None, r=None):
    """Decay magnitudes ``m`` (..., post, pre) for a block of ``k_steps`` sleep steps.

    total0: initial pathway total, shape (...); row_total0: initial per-post totals (..., post).
    xi: float per-synapse normals (float form with noise); r: uniform integers in
    [0, 2**D) per synapse (fixed form). Returns the new magnitudes (masked, clipped).
    """
    xp = xp_of(m)
    row_tot = m.sum(-1)
    if dc.fixed:
        one = 1 << dc.decay_frac_bits
        lk = int(round(dc.lam**k_steps * one))
        if dc.target == "static":
            b = int(round(dc.static_target * (one - lk)))
            new = (m * lk + b + r) >> dc.decay_frac_bits
        else:
            if dc.target == "group":
                tot, tot0 = row_tot.sum(-1), total0
                a = lk + ((one - lk) * tot0) // xp.where(tot > 0, tot, 1 + 0 * tot)
                a = xp.where(tot > 0, a, one + 0 * a)[..., None, None]
            else:
                tot, tot0 = row_tot, row_total0
                a = lk + ((one - lk) * tot0) // xp.where(tot > 0, tot, 1 + 0 * tot)
                a = xp.where(tot > 0, a, one + 0 * a)[..., :, None]
            new = (a * m + r) >> dc.decay_frac_bits
    else:
        c = decay_strength(dc, k_steps, xi)
        if dc.target == "static":
            t = dc.static_target
            if dc.form == "log":
                safe = xp.where(m > 0, m, t + 0 * m)
                new = xp.where(m > 0, t * (safe / t) ** (1.0 - c), 0 * m)
            else:
                new = t + (m - t) * (1.0 - c)
        else:
            if dc.target == "group":
                tot, tot0 = row_tot.sum(-1), total0
                ratio = (tot0 / xp.where(tot > 0, tot, 1.0 + 0 * tot))[..., None, None]
                ratio = xp.where(tot[..., None, None] > 0, ratio, 1.0 + 0 * ratio)
            else:
                tot, tot0 = row_tot, row_total0
                ratio = (tot0 / xp.where(tot > 0, tot, 1.0 + 0 * tot))[..., :, None]
                ratio = xp.where(tot[..., :, None] > 0, ratio, 1.0 + 0 * ratio)
            ratio = astype_like(ratio, m)  # group: the scalar total would make it float64
            if dc.form == "log":
                new = m * ratio**c
            else:
                new = m * (1.0 + c * (ratio - 1.0))
    new = xp.clip(new, dc.m_min, dc.m_max)
    return xp.where(mask, new, 0 * new)


def floor_and_prune(dc: DecayConsts, m, mask):
    """Apply the sleep floor: sub-floor synapses go to the floor, or are pruned (mask 0)."""
    xp = xp_of(m)
    low = mask & (m < dc.m_floor)
    if dc.prune:
        return xp.where(low, 0 * m, m), mask & ~low
    return xp.where(low, dc.m_floor + 0 * m, m), mask


def wake_check(totals, totals0, tol: float):
    """True where every pathway total is within ``tol`` (relative) of its target.

    ``totals``/``totals0`` are lists (one entry per plastic pathway) of scalars or
    arrays (one value per batch member). tol = 0 disables early wake-up.
    """
    if tol <= 0 or not totals:
        return False
    ok = None
    for t, t0 in zip(totals, totals0, strict=True):
        this = abs(t - t0) <= tol * t0
        ok = this if ok is None else ok & this
    return ok
