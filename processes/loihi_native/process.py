"""Loihi-native variant of the E/I network, built from Lava's standard Processes.

:class:`LoihiEINetwork` wires the network of MODEL.md 1 and 3 from processes
that have Loihi 2 implementations in Intel's lava-loihi extension:

* input X: ``lava.proc.io.source.RingBuffer`` replaying a spike raster that the
  host draws with the project's encoder (lava_sleep.kernels.encode, same
  streams as every other backend);
* E, I: ``lava.proc.lif.process.LIF`` (CUBA LIF: ``u <- u (1 - du) + a_in``,
  ``v <- v (1 - dv) + u + bias``, spike when ``v > vth``, reset to 0);
* XE, EE (when plastic): ``lava.proc.dense.process.LearningDense`` with the
  canonical trace STDP written as a :class:`LoihiTraceSTDP` rule
  (``Loihi2FLearningRule``); static pathways (EI, IE by default): ``Dense``.
  Post spikes go from ``LIF.s_out`` to ``LearningDense.s_in_bap``.

Approximations compared with lava_sleep's own models (documented in docs/lava.md):

* no threshold adaptation (``a_decay_every`` and ``freeze_adaptation`` act on nothing; the
  variant always learns), no membrane noise, no v clamp; reset to v_rest (Lava's LIF resets to
  0) instead of v_reset;
* learning coefficients are powers of two (``float_to_literal``: eta 0.01 becomes
  2**-7 = 0.0078), no soft bounds (mu = 0 only), no Vogels rule;
* Lava's learning engine evaluates the rule once per epoch from its own trace
  and spike-time bookkeeping; the fixed model (``bit_approximate_loihi``) draws
  one unseeded stochastic-rounding number per epoch for all synapses, so it is
  neither bit-exact with Loihi nor with lava_sleep's fixed model;
* ``LearningDense`` has no structural mask: absent synapses (weight 0) can grow
  by learning (Lava's sparse learning connection would keep the structure but is
  not used here); float weights are not clipped to [w_min, w_max] by the engine
  (the fixed model saturates at 8 bits and keeps the sign);
* no sleep phase: the sleep controller needs RefPort access from an embedded
  CPU process, which lava-loihi provides only on hardware;
* no per-image normalization (``normalize`` is refused with a ParamError); rest steps
  are empty raster columns; connection patterns are the masks' zero weights;
* fixed point: only Loihi's weight format and rounding (``FixedParams.w_scale`` "pow2",
  ``trace_rounding`` and ``dw_rounding`` "stochastic"; anything else is refused with a
  ParamError, :func:`precision_mismatches`); the traces are the learning engine's own
  (``trace_impulse`` per spike, 7 bits wide whatever ``trace_bits``).

Units: float - voltages relative to v_rest in units of ``gain`` mV (gain =
r_m dt**2 / (tau_m tau_syn)), so weights keep their weight units; fixed - 1 mV =
2**v_frac_bits units as in lava_sleep.fixed, LIF threshold ``vth = v_thresh_int >> 6``
and input ``a_in << 6`` (Lava's MSB alignment), weights as 8-bit magnitudes with
``weight_exp = shift_P - 6``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
from lava.magma.core.learning.utils import float_to_literal
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_sleep.fixed import LAVA_ACT_SHIFT, keep_factor, quantize_weights, synaptic_gain, to_fixed
from lava_sleep.network import NetworkInit, build_network
from lava_sleep.params import PATHWAY_NAMES, ModelParams, ParamError


class LoihiTraceSTDP(Loihi2FLearningRule):
    """Canonical trace STDP as a Loihi 2 learning rule.

    ``dw = a_plus * x1 * y0 - a_minus * y1 * x0`` (x1: pre trace, y1: post trace,
    x0/y0: pre/post spike in the epoch), i.e. pre-before-post potentiates.
    Coefficients are rounded to powers of two by ``float_to_literal``.

    Args:
        a_plus, a_minus: learning rates in weight units per trace unit (>= 0).
        tau_plus, tau_minus: trace time constants (steps).
        impulse: trace increment per spike (trace units; 7-bit in fixed point).
        t_epoch: learning epoch (steps).
    """

    def __init__(self, a_plus: float, a_minus: float, tau_plus: float, tau_minus: float,
                 impulse: float, t_epoch: int = 1):
        self.a_plus = float_to_literal(a_plus)
        self.a_minus = float_to_literal(a_minus)
        dw = f"{self.a_plus} * x1 * y0 - {self.a_minus} * y1 * x0"
        super().__init__(dw=dw, x1_impulse=impulse, x1_tau=tau_plus, y1_impulse=impulse,
                         y1_tau=tau_minus, t_epoch=t_epoch)


class NativeConstants(NamedTuple):
    """Parameters of Lava's LIF, Dense and learning rule for one mode.

    du, dv, vth, bias: LIF arguments (float: fractions and mV; fixed: 12-bit
    integers and integer threshold/bias). weights: signed Dense weights per pathway
    (float mV per spike; fixed 8-bit integers). weight_exp: per pathway (fixed).
    rules: learning rule per plastic pathway.
    """

    du: float
    dv: float
    vth: float
    bias: float
    weights: dict
    weight_exp: dict
    rules: dict


def precision_mismatches(params: ModelParams) -> list[str]:
    """The fixed-point settings that Lava's Dense / LearningDense cannot take (empty: none):
    ``w_scale`` other than "pow2" (Dense weights are an 8-bit mantissa with a power-of-two
    ``weight_exp``, no integer multiplier) and ``trace_rounding`` / ``dw_rounding`` other than
    "stochastic" (the learning engine rounds trace decays and updates stochastically)."""
    fx, out = params.fixed, []
    if fx.w_scale != "pow2":
        out.append(f"w_scale {fx.w_scale!r}")
    out += [f"{what} {getattr(fx, what)!r}" for what in ("trace_rounding", "dw_rounding")
            if getattr(fx, what) != "stochastic"]
    return out


def native_constants(params: ModelParams, init: NetworkInit, mode: str) -> NativeConstants:
    """Map the model to Lava's standard LIF / Dense / LearningDense parameters.

    Raises ParamError (one line) for what the variant cannot express: rules other than stdp
    with mu = 0, per-image normalization, and in fixed point the precision settings of
    :func:`precision_mismatches`.
    """
    for pw in params.network.pathways:
        if pw.plastic and (pw.rule != "stdp" or pw.mu != 0):
            raise ParamError(f"the Loihi-native variant supports only rule 'stdp' with mu = 0 "
                             f"(pathway {pw.name})")
        if pw.normalize:
            raise ParamError(f"the Loihi-native variant has no per-image weight normalization "
                             f"(pathway {pw.name} has normalize = true; LearningDense cannot rescale rows)")
    n, st = params.neuron, params.stdp
    gain = synaptic_gain(params)
    rules, weights, wexp = {}, {}, {}
    if mode == "float":
        # voltages in units of `gain` mV, so that weights stay in weight units and the
        # learning rates keep their values (Loihi's rule exponents are limited to [-7, 9])
        for name in PATHWAY_NAMES:
            pw = params.network.pathway(name)
            weights[name] = pw.sign * init.magnitudes[name]
            wexp[name] = 0
            if pw.plastic:
                rules[name] = LoihiTraceSTDP(pw.eta_plus, pw.eta_minus, st.tau_plus, st.tau_minus,
                                             impulse=1.0, t_epoch=st.t_epoch)
        return NativeConstants(du=n.dt / n.tau_syn, dv=n.dt / n.tau_m,
                               vth=(n.v_thresh - n.v_rest) / gain, bias=n.bias / gain,
                               weights=weights, weight_exp=wexp, rules=rules)
    if mode != "fixed":
        raise ValueError(f"mode must be 'float' or 'fixed', got {mode!r}")
    bad = precision_mismatches(params)
    if bad:
        raise ParamError(f"the Loihi-native variant has Loihi's weight format and stochastic rounding only "
                         f"(FixedParams {', '.join(bad)}; use w_scale 'pow2' and 'stochastic' "
                         f"trace_rounding and dw_rounding)")
    fc = to_fixed(params)
    for name in PATHWAY_NAMES:
        pw = params.network.pathway(name)
        pf = fc.pathways[name]
        m = np.where(init.masks[name], quantize_weights(init.magnitudes[name], pf), 0)
        weights[name] = pw.sign * m
        wexp[name] = pf.shift - LAVA_ACT_SHIFT
        if pw.plastic:
            scale = 2.0 ** -fc.dw_frac_bits  # eta_int is in 2**-dw_frac_bits LSB per trace unit
            rules[name] = LoihiTraceSTDP(pf.eta_plus * scale, pf.eta_minus * scale, st.tau_plus,
                                         st.tau_minus, impulse=st.trace_impulse, t_epoch=st.t_epoch)
    return NativeConstants(du=4096 - keep_factor(n.dt, n.tau_syn) - 1, dv=4096 - keep_factor(n.dt, n.tau_m),
                           vth=fc.v_thresh >> LAVA_ACT_SHIFT, bias=fc.bias >> LAVA_ACT_SHIFT,
                           weights=weights, weight_exp=wexp, rules=rules)


class LoihiEINetwork(AbstractProcess):
    """The E/I network from Lava's LIF, Dense and LearningDense (no sleep phase).

    Args:
        params: the model. seed: run seed (network and input draws).
        input_spikes: (n_input, T) bool raster replayed by the input RingBuffer
            (cyclically after T steps); see :func:`input_raster`.
        mode: "float" or "fixed" (must match the run config's tag, floating_pt
            or fixed_pt, because Lava's LIF takes mode-specific constants).

    Vars (aliased to the sub-Processes): w_XE, w_EE, w_EI, w_IE (signed Dense /
    LearningDense weights), v_E, v_I (membranes), spikes_E (n_exc, T): E spikes of
    step t in column (t - 1) mod T.
    """

    def __init__(self, *, params: ModelParams, seed: int, input_spikes: np.ndarray, mode: str = "float",
                 init: NetworkInit | None = None, name: str | None = None):
        init = init if init is not None else build_network(params, seed)
        input_spikes = np.asarray(input_spikes, dtype=bool)
        super().__init__(params=params, seed=seed, input_spikes=input_spikes, mode=mode, init=init,
                         name=name)
        if input_spikes.ndim != 2 or input_spikes.shape[0] != params.n_input:
            raise ValueError(f"input_spikes must have shape ({params.n_input}, T)")
        self.proc_params["consts"] = native_constants(params, init, mode)
        for n in PATHWAY_NAMES:
            setattr(self, f"w_{n}", Var(shape=init.masks[n].shape, init=0))
        self.v_E = Var(shape=(params.network.n_exc,), init=0)
        self.v_I = Var(shape=(params.network.n_inh,), init=0)
        self.spikes_E = Var(shape=(params.network.n_exc, input_spikes.shape[1]), init=0)


def input_raster(params: ModelParams, seed: int, images, wake_t0: int = 0) -> np.ndarray:
    """(n_input, n_images * slot_steps) bool raster of the encoder's spikes (wake steps): each
    image's steps_per_image presentation columns, then rest_steps empty columns."""
    from lava_sleep.kernels import encode

    images = np.asarray(images, dtype=np.uint8)
    thr = encode.input_thresholds(images, params.input.max_rate_hz, params.neuron.dt)
    spi, slot = params.input.steps_per_image, params.input.slot_steps
    idx = np.arange(params.n_input, dtype=np.int64)
    rest = np.zeros(params.n_input, dtype=bool)
    cols = [encode.input_spikes(seed, wake_t0 + i * slot + k, thr[i], idx) if k < spi else rest
            for i in range(len(images)) for k in range(slot)]
    return np.stack(cols, axis=1)
