"""Trace STDP with the canonical sign (MODEL.md 3), float and fixed.

Weights are handled as magnitudes ``m = |w| >= 0``; the sign is fixed per
pathway (so the sign invariant holds by construction). Per step t, with pre
spikes ``s_j(t)`` and post spikes ``s_i(t)`` of the same step:

1. traces decay: ``x_j <- x_j * k_plus``, ``y_i <- y_i * k_minus`` (:func:`trace_step`; fixed:
   rounded per ``FixedParams.trace_rounding``, by default stochastically with per-trace draws,
   :func:`trace_rounding`);
2. the update uses the decayed traces, i.e. spikes strictly before t
   (:func:`stdp_delta`)::

       rule "stdp":   dm_ij = eta_plus * x_j * s_i * (m_max - m_ij)**mu
                            - eta_minus * y_i * s_j * m_ij**mu
       rule "vogels": dm_ij = eta_plus * x_j * s_i + eta_minus * (y_i - alpha) * s_j
       rule "diehl_cook": dm_ij = eta_plus * (x_j - alpha) * s_i * (m_max - m_ij)**mu
                                 - eta_minus * y_i * s_j * m_ij**mu

   so pre-before-post potentiates and post-before-pre depresses; coincident
   spikes cancel out of the pair terms;
3. traces take the new spikes: ``x_j += s_j`` (fixed: ``+ trace_impulse``, saturating);
4. ``dm`` accumulates; every ``t_epoch`` steps :func:`apply_epoch` adds the
   accumulator to ``m`` (fixed: rounded per ``FixedParams.dw_rounding``) and clips to
   ``[m_min, m_max]``; absent synapses (mask 0) stay exactly 0.

Traces always evolve; whether ``dm`` is accumulated is the caller's choice
(learning on/off, STDP during sleep on/off).
"""

from __future__ import annotations

from dataclasses import dataclass

from lava_sleep import rng
from lava_sleep.kernels._xp import xp_of


@dataclass(frozen=True)
class StdpRule:
    """Per-pathway constants of the update (float values or fixed-point integers).

    For fixed point, eta_* are integers in 2**-dw_frac_bits LSB units (see
    lava_sleep.fixed) and alpha is in trace units; ``fixed`` selects integer arithmetic.
    """

    rule: str
    eta_plus: float
    eta_minus: float
    mu: float
    m_min: float
    m_max: float
    alpha: float
    fixed: bool


def stdp_rule(params, name: str, fixed_consts=None) -> StdpRule:
    """StdpRule of pathway ``name`` (float if ``fixed_consts`` is None)."""
    pw = params.network.pathway(name)
    if fixed_consts is None:
        return StdpRule(pw.rule, pw.eta_plus, pw.eta_minus, pw.mu, pw.w_min, pw.w_max, pw.alpha, False)
    pf = fixed_consts.pathways[name]
    return StdpRule(pw.rule, pf.eta_plus, pf.eta_minus, pw.mu, pf.m_min, pf.m_max, pf.alpha_trace, True)


#: Fraction bits of the fixed trace decay constants (``keep`` = round(4096 exp(-dt/tau))).
TRACE_DECAY_BITS = 12
#: ``draw`` of the trace-rounding keys: pre traces (X | E | I) and post traces (E | I).
PRE_TRACES, POST_TRACES = 0, 1


def trace_step(x, keep, fixed_consts=None, r=None):
    """Decay a trace by one step (before the update; spikes are added by :func:`trace_add`).

    Float: ``x * keep``. Fixed: ``(x * keep + r) >> 12`` with ``r`` the rounding offset of
    ``FixedParams.trace_rounding`` (:func:`lava_sleep.fixed.rounding_offset`): by default one
    independent draw in [0, 4096) per trace (:func:`trace_rounding`), stochastic rounding,
    unbiased (the mean of the result is ``x * keep / 4096``), as Loihi decays its traces; floor
    rounding cuts the tail of small traces and biases STDP (docs/model.md, "Fixed point vs
    float"). ``r`` may be a scalar (nearest: 2048, floor: 0).
    """
    if fixed_consts is None:
        return x * keep
    if r is None:
        raise ValueError("the fixed-point trace decay needs its rounding draws r (trace_rounding)")
    return (x * keep + r) >> TRACE_DECAY_BITS


def trace_offsets(sizes) -> dict[str, dict[str, int]]:
    """Where each population's traces sit in the network-wide vectors indexed by
    :func:`trace_rounding`: ``{"x": {"X": 0, "E": n_x, "I": n_x + n_e}, "y": {"E": 0, "I": n_e}}``
    (``sizes`` as ``ModelParams.sizes()``)."""
    nx, ne = sizes["X"], sizes["E"]
    return {"x": {"X": 0, "E": nx, "I": nx + ne}, "y": {"E": 0, "I": ne}}


def trace_slices(sizes) -> dict[str, dict[str, slice]]:
    """:func:`trace_offsets` as slices of the network-wide trace vectors."""
    return {side: {p: slice(off, off + sizes[p]) for p, off in offs.items()}
            for side, offs in trace_offsets(sizes).items()}


def trace_rounding(k, index, uniform=rng.uniform_u32):
    """Rounding draws of the fixed trace decay, in [0, 4096): ``uniform_u32(k, index) >> 20``.

    ``k = rng.key(seed, Stream.TRACE_ROUND, t, which)`` at global step ``t`` (one key per batch
    member: an array broadcasting against ``index``), ``which`` is :data:`PRE_TRACES` or
    :data:`POST_TRACES`; ``index`` is the trace's position in the network-wide vector (pre: X,
    then E, then I; post: E, then I), so every copy of a population's trace (the Lava graph model
    keeps one per plastic synapse) draws the same bits. ``uniform``: the hash, e.g. the NumPy
    fast path ``rng.uniform_u32_np`` (same bits).
    """
    return uniform(k, index) >> (32 - TRACE_DECAY_BITS)


def trace_add(x, s, fixed_consts=None):
    """Add this step's spikes to a decayed trace (fixed: impulse, saturating)."""
    if fixed_consts is None:
        return x + s
    xp = xp_of(x)
    return xp.clip(x + fixed_consts.trace_impulse * s, 0, fixed_consts.trace_max)


def potentiation(rule: StdpRule, m, x_pre):
    """Term per synapse for rows whose post neuron spiked: eta+ x_j f+(m) ("diehl_cook":
    eta+ (x_j - alpha) f+(m), negative for inputs below the target trace alpha = x_tar)."""
    if rule.rule == "diehl_cook":
        x_pre = x_pre - rule.alpha
    if rule.rule != "vogels" and rule.mu != 0:
        if rule.fixed:  # mu == 1
            return (rule.eta_plus * x_pre) * (rule.m_max - m)
        return (rule.eta_plus * x_pre) * (rule.m_max - m) ** rule.mu
    return rule.eta_plus * x_pre + 0 * m


def depression(rule: StdpRule, m, y_post):
    """Term per synapse for columns whose pre neuron spiked (negative = depression).

    ``y_post`` must broadcast as a column (post index along axis -2).
    """
    if rule.rule == "vogels":
        return rule.eta_minus * (y_post - rule.alpha) + 0 * m
    if rule.mu != 0:
        if rule.fixed:
            return -((rule.eta_minus * y_post) * m)
        return -((rule.eta_minus * y_post) * m**rule.mu)
    return -(rule.eta_minus * y_post) + 0 * m


def stdp_delta(rule: StdpRule, m, mask, s_pre, s_post, x_pre, y_post):
    """Dense update ``dm`` (post x pre) for one step: potentiation + depression, masked.

    ``s_pre``/``x_pre`` have shape (..., n_pre); ``s_post``/``y_post`` (..., n_post).
    Spikes are booleans. Absent synapses get 0.
    """
    xp = xp_of(m)
    pot = potentiation(rule, m, x_pre[..., None, :])
    dep = depression(rule, m, y_post[..., :, None])
    dm = xp.where(s_post[..., :, None], pot, 0 * pot) + xp.where(s_pre[..., None, :], dep, 0 * dep)
    return xp.where(mask, dm, 0 * dm)


def apply_epoch(rule: StdpRule, m, acc, mask, r=None, dw_frac_bits: int = 0):
    """Apply an accumulated update: ``m <- clip(m + acc)`` (fixed: ``(acc + r) >> F``).

    ``r``: the rounding offset of ``FixedParams.dw_rounding`` (fixed point): uniform integers in
    [0, 2**dw_frac_bits) per synapse (stochastic), or the scalar 2**(dw_frac_bits-1) (nearest) or
    0 (floor).
    """
    xp = xp_of(m)
    if rule.fixed:
        step = (acc + r) >> dw_frac_bits
    else:
        step = acc
    new = xp.clip(m + step, rule.m_min, rule.m_max)
    return xp.where(mask, new, 0 * new)
