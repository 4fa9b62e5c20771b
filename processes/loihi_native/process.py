"""Loihi-native variant of the E/I network, built from Lava's standard Processes.

:class:`LoihiEINetwork` wires the network of MODEL.md 1 and 3, with the on-chip sleep
(docs/model.md "On-chip sleep"), from processes that have Loihi 2 counterparts in Intel's
lava-loihi extension:

* input X: ``lava.proc.io.source.RingBuffer`` replaying a spike raster that the host draws
  with the project's encoder (lava_sleep.kernels.encode, same streams as every other backend);
  sleep steps and rest steps are empty columns;
* E, I: Lava's CUBA ``LIF`` (``u <- u (1 - du) + a_in``, ``v <- v (1 - dv) + u + bias``, spike
  when ``v > vth``, reset to 0), or :class:`SleepGatedLIF` where a plastic pathway ends: the same
  LIF that also sends the post trace y1 and the sleep third factor y2 to its learning synapses;
* plastic pathways: :class:`MaskedLearningSparse` (Lava's ``LearningSparse``: absent synapses
  have no entry and never grow) with the three-factor rule :class:`LoihiSleepSTDP`,
  ``dw = - D u0 y2 w - s L y1 x0 + D u0 y2 t + s L x1 y0`` (s = pathway sign, L = 1 float;
  t = ``tag_1`` = the static target on every synapse): trace STDP (eta+ in the pre-trace
  impulse, eta- in the post-trace impulse) plus the sleep decay ``-c (w - t)`` on the steps where
  y2 is non-zero; static pathways (and every pathway with ``learn=False``): ``Sparse``;
* the sleep gate: a RingBuffer per learning population with 1 on the sleep steps after which
  the decay is due (global steps done % block == 0), into ``a_third_factor_in``; not ``u<k>``:
  the host rebuilds the network every call and Lava's ``time_step`` restarts at 1, so the
  pulses are precomputed from the global step;
* noise: a RingBuffer per population into ``a_in`` (:func:`noise_raster`, the oracle's draws
  scaled by :func:`noise_factor`).

Approximations compared with lava_sleep's own models (docs/lava.md "The Loihi-native variant"):

* no threshold adaptation, no v clamp, reset to v_rest (Lava's LIF resets to 0) instead of
  v_reset; the membrane noise enters the current u with the same stationary variance of a free
  membrane (:func:`noise_factor`);
* only ``rule = "stdp"`` with ``mu = 0``, one eta- per post population (the post trace carries
  it), no per-image normalization, only the on-chip sleep (static target, linear form);
* learning-rule scaling factors must be literals (1..7 times 2**e, e in [-7, 8]): float rules use
  L = 1 and D = 1 with eta+, eta- in the trace impulses and c in the y2 level, so the float rates
  are exact; fixed: L, D and the 7-bit trace impulses quantize (:func:`decay_factors`);
* Lava's engine evaluates all terms from the weight before the step (the oracle applies the
  decay after the step's STDP: a difference of c * dw_stdp per pulse), its potentiation sees
  the pre trace including a same-step pre spike (+ eta+ on coincident pre/post spikes), it
  scales y1 and y2 by exp(-1/65535) (the 3F rule's y time constant) and its float model does
  not clip to [w_min, w_max] (only at 0, the sign);
* fixed (``bit_approximate_loihi``): Lava rounds the weight update stochastically with one draw
  per epoch shared by all synapses (ConnVarRandom, seed 2, restarted at every rebuild) and the
  x traces with a generator seeded by the rule's ``rng_seed`` (random when None); it is neither
  bit-exact with Loihi nor with lava_sleep's fixed model; the fixed point is otherwise only
  Loihi's format (``precision_mismatches``: w_scale "pow2", stochastic trace and dw rounding).

Units: float - voltages relative to v_rest in units of ``gain`` mV (gain =
r_m dt**2 / (tau_m tau_syn)), so weights keep their weight units; fixed - 1 mV =
2**v_frac_bits units as in lava_sleep.fixed, LIF threshold ``vth = v_thresh_int >> 6``
and input ``a_in << 6`` (Lava's MSB alignment), weights as 8-bit magnitudes with
``weight_exp = shift_P - 6``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.proc.lif.process import LearningLIF
from lava.proc.sparse.process import LearningSparse

from lava_sleep import rng
from lava_sleep.fixed import LAVA_ACT_SHIFT, keep_factor, quantize_weights, synaptic_gain, to_fixed
from lava_sleep.network import NetworkInit, build_network
from lava_sleep.params import (
    LITERAL_EXP_RANGE,
    PATHWAY_NAMES,
    ModelParams,
    ParamError,
    loihi_literal,
    onchip_rate,
)

#: Right shift of a (7-bit trace) x (9-bit weight or tag) x (4-bit mantissa) product in Lava's
#: bit-approximate applier: 7 + 9 + 4 - 15 (W_ACCUMULATOR_U).
FIXED_PRODUCT_SHIFT = 5
#: Largest 7-bit trace / third factor value.
TRACE_MAX = 127


def _lit(m: int, e: int) -> str:
    return f"{m} * 2^{e}" if e else f"{m}"


class LoihiSleepSTDP(Loihi3FLearningRule):
    """Trace STDP plus the on-chip homeostatic sleep decay, one Loihi three-factor rule.

    ``dw = s L x1 y0 - s L y1 x0 + D u0 y2 t - D u0 y2 w`` with s the pathway sign (+1
    excitatory, -1 inhibitory), x1 the connection's pre trace (impulse ``x1_impulse``, time
    constant ``x1_tau`` steps), y1 the post trace and y2 the sleep third factor, both sent by
    the post neuron (:class:`SleepGatedLIF`), t the synaptic tag (``tag_1``) holding the static
    target ``s * t_p`` on every existing synapse, w the signed weight. ``u0`` fires every epoch;
    y2 is non-zero only on the sleep steps where the decay is due (t % block == 0), so the decay
    term is ``-c (w - t)`` there with ``c = D * y2`` (float) or ``D * y2 * 2**-5`` (fixed).

    Args:
        sign: +1 or -1. stdp_lit, decay_lit: (mantissa, exponent) of L and D (Lava's range).
        x1_impulse: pre-trace increment per spike (float: eta+ / L in weight units; fixed:
            trace counts, at most 127). x1_tau: pre-trace time constant, steps. t_epoch: steps.
        decay: include the decay terms.
    """

    def __init__(self, sign: int, stdp_lit: tuple[int, int], x1_impulse: float, x1_tau: float,
                 decay_lit: tuple[int, int] | None, t_epoch: int = 1, rng_seed: int | None = None):
        self.sign, self.stdp_lit, self.decay_lit = sign, stdp_lit, decay_lit
        lit = _lit(*stdp_lit)
        s = "-" if sign > 0 else "+"  # sign of the depression term; potentiation has the other
        p = "+" if sign > 0 else "-"
        # Terms that move |w| toward 0 come first: Lava's bit-approximate applier saturates its
        # 16-bit accumulator after every product, so adding an away-from-zero term first to a
        # weight near 255 would be cut (255 -> 240 seen in a decay pulse with "t" first).
        terms = []
        if decay_lit is not None:
            d = _lit(*decay_lit)
            terms.append(f"- {d} * u0 * y2 * w")
        terms.append(f"{s} {lit} * y1 * x0")
        if decay_lit is not None:
            terms.append(f"+ {d} * u0 * y2 * t")
        terms.append(f"{p} {lit} * x1 * y0")
        dw = " ".join(terms)
        self.dw_string = dw[2:] if dw.startswith("+ ") else dw
        super().__init__(dw=self.dw_string, x1_impulse=x1_impulse, x1_tau=x1_tau, t_epoch=t_epoch,
                         rng_seed=rng_seed)


class MaskedLearningSparse(LearningSparse):
    """Lava's ``LearningSparse`` (the structure is the weights' sparsity: absent synapses have no
    entry and never grow) whose ProcessModels hand the learning rule dense copies of w and t.

    Needed because Lava 0.10's appliers evaluate ``y2 * t`` / ``y2 * w`` with ``*``, which for
    scipy's csr matrices is a matrix product (a shape error); results are still written back
    only on the stored entries (``PyLearningSparseModelFloat._apply_learning_rules``).
    """


class SleepGatedLIF(LearningLIF):
    """Lava's LIF with the post-side factors of :class:`LoihiSleepSTDP`.

    Per step: receive ``a_in`` and the sleep pulse on ``a_third_factor_in`` (0 or 1), run
    Lava's LIF dynamics, send the spikes on ``s_out`` and ``s_out_bap``, the post trace *before*
    this step's spike (decayed by ``y1_keep``) on ``s_out_y1``, ``y2_level * pulse`` on
    ``s_out_y2`` and 0 on ``s_out_y3``; then add ``y1_impulse`` per spike to y1.

    Args (besides LearningLIF's): y1_keep: per-step trace decay factor exp(-dt/tau_minus)
        (float) or the 12-bit keep factor (fixed, stochastic rounding with lava_sleep.rng
        stream TRACE_ROUND, draw 1, like the oracle's post traces); y1_impulse: trace increment
        per spike (float: eta- / L; fixed: integer counts <= 127); y2_level: third-factor value
        of a decay pulse; seed, t0, trace_offset: the rounding keys (fixed only): global step of
        this network's first step, index of the population's first neuron in the oracle's post
        trace vector.
    """

    def __init__(self, *, shape, y1_keep: float, y1_impulse: float, y2_level: float, seed: int = 0,
                 t0: int = 0, trace_offset: int = 0, y1=0, **kwargs):
        super().__init__(shape=shape, y1_keep=y1_keep, y1_impulse=y1_impulse, y2_level=y2_level,
                         seed=seed, t0=t0, trace_offset=trace_offset, **kwargs)
        self.y1.init = y1


class PostTrace(NamedTuple):
    """Post-trace constants of one learning population (see :class:`SleepGatedLIF`)."""

    keep: float
    impulse: float


class NativeConstants(NamedTuple):
    """Parameters of Lava's LIF, (Learning)Sparse and learning rule for one mode.

    du, dv, vth, bias: LIF arguments (float: fractions and gain units; fixed: 12-bit integers and
    integer threshold/bias). weights: signed weights per pathway (float weight units; fixed 8-bit
    integers). weight_exp: per pathway (fixed). rules: :class:`LoihiSleepSTDP` per plastic
    pathway (built without decay terms when the sleep cannot run: fraction 0). tags: signed
    static target per synapse (plastic pathways; 0 on absent synapses). post: PostTrace per
    population that is the post side of a plastic pathway. y2_level: third-factor value of a
    decay pulse (0: no decay). noise: a_in per unit of ``lava_sleep.rng.normal_int`` output,
    (wake, sleep) (float: gain units; fixed: a_in LSB before Lava's << 6, applied then rounded).
    """

    du: float
    dv: float
    vth: float
    bias: float
    weights: dict
    weight_exp: dict
    rules: dict
    tags: dict
    post: dict
    y2_level: float
    noise: tuple


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


def noise_factor(params: ModelParams) -> float:
    """f of the noise mapping: Lava's LIF has no membrane noise, so the oracle's per-step
    membrane noise of sd sigma enters ``a_in`` (the current u) with sd ``f * sigma``, where
    ``f = sqrt((1 - ab)(1 - b**2) / (1 + ab))``, a = 1 - dt/tau_m, b = 1 - dt/tau_syn: then the
    stationary variance of a free membrane (no threshold, reset or clamp),
    ``f**2 sigma**2 (1 + ab) / ((1 - ab)(1 - a**2)(1 - b**2))``, equals the oracle's
    ``sigma**2 / (1 - a**2)``. Dimensionless, in (0, 1]."""
    n = params.neuron
    a, b = 1.0 - n.dt / n.tau_m, 1.0 - n.dt / n.tau_syn
    return math.sqrt((1 - a * b) * (1 - b * b) / (1 + a * b))


def decay_factors(c: float, fixed: bool) -> tuple[tuple[int, int], float]:
    """(D as (mantissa, exponent), y2 level of a pulse) with the decay rate ``c`` of the rule's
    ``- D u0 y2 w + D u0 y2 t`` terms: float ``D = 1, y2 = c``; fixed ``D = 2**e`` and the
    integer ``y2 = round(c * 2**(5 - e))`` <= 127 (the bit-approximate applier shifts a
    y2 (7 bits) x t or w (9 bits) x mantissa (4 bits) product right by 5 and scales it by
    ``2**e``), e >= -7 the smallest exponent that keeps y2 <= 127 (the finest c). For a rate
    that is a literal ``m * 2**e'`` (``onchip_rate``) the fixed rate is exact: c = 2**-7 gives
    D = 2**-7, y2 = 32."""
    if not fixed:
        return (1, 0), float(c)
    e = max(LITERAL_EXP_RANGE[0], math.ceil(math.log2(c * 2**FIXED_PRODUCT_SHIFT / TRACE_MAX)))
    return (1, e), float(round(c * 2.0 ** (FIXED_PRODUCT_SHIFT - e)))


def sleep_enabled(params: ModelParams) -> bool:
    """Whether the rule carries the decay terms: an on-chip sleep with fraction > 0 and lam < 1."""
    sp = params.sleep
    return sp.site == "onchip" and sp.fraction > 0 and sp.lam < 1.0


def native_constants(params: ModelParams, init: NetworkInit, mode: str) -> NativeConstants:
    """Map the model to Lava's LIF / Sparse / LearningSparse / rule parameters.

    Raises ParamError (one line) for what the variant cannot express: rules other than stdp
    with mu = 0, per-image normalization, plastic pathways into one population with different
    eta-, and in fixed point the precision settings of :func:`precision_mismatches`.
    """
    net, n, st, sp = params.network, params.neuron, params.stdp, params.sleep
    for pw in net.pathways:
        if pw.plastic and (pw.rule != "stdp" or pw.mu != 0):
            raise ParamError(f"the Loihi-native variant supports only rule 'stdp' with mu = 0 "
                             f"(pathway {pw.name})")
        if pw.normalize:
            raise ParamError(f"the Loihi-native variant has no per-image weight normalization "
                             f"(pathway {pw.name} has normalize = true; a learning connection cannot "
                             "rescale rows)")
    if mode not in ("float", "fixed"):
        raise ValueError(f"mode must be 'float' or 'fixed', got {mode!r}")
    fixed = mode == "fixed"
    if fixed:
        bad = precision_mismatches(params)
        if bad:
            raise ParamError(f"the Loihi-native variant has Loihi's weight format and stochastic rounding "
                             f"only (FixedParams {', '.join(bad)}; use w_scale 'pow2' and 'stochastic' "
                             "trace_rounding and dw_rounding)")
    plastic = net.plastic_pathways
    eta_minus = {}
    for name in plastic:
        post = name[1]
        e = net.pathway(name).eta_minus
        if eta_minus.setdefault(post, e) != e:
            raise ParamError(f"the Loihi-native variant needs one eta_minus per post population "
                             f"(the post trace y1 carries it): pathways into {post} differ")
    decay = sleep_enabled(params)
    c = onchip_rate(sp) if decay else 0.0
    sizes = params.sizes()
    weights, wexp, rules, tags, post = {}, {}, {}, {}, {}
    fc = to_fixed(params) if fixed else None
    gain = synaptic_gain(params)
    for name in PATHWAY_NAMES:
        pw = net.pathway(name)
        mask = init.masks[name]
        if fixed:
            pf = fc.pathways[name]
            m = np.where(mask, quantize_weights(init.magnitudes[name], pf), 0)
            wexp[name] = pf.shift - LAVA_ACT_SHIFT
        else:
            m = np.where(mask, init.magnitudes[name], 0.0)
            wexp[name] = 0
        weights[name] = pw.sign * m
        if name not in plastic:
            continue
        nsyn = int(mask.sum())
        t_p = float(m.sum()) / nsyn if nsyn else 0.0
        if fixed:
            t_p = float(round(t_p))
        tags[name] = np.where(mask, pw.sign * t_p, 0.0)
        if fixed:
            scale = 2.0 ** -fc.dw_frac_bits  # eta_int: 2**-dw_frac_bits LSB per trace count
            ep, em = pf.eta_plus * scale, pf.eta_minus * scale
            lit = loihi_literal(max(ep, em))
            lv = lit[0] * 2.0 ** lit[1]
            x1_imp = min(TRACE_MAX, st.trace_impulse * ep / lv)
            y1 = PostTrace(fc.k_minus, min(TRACE_MAX, round(st.trace_impulse * em / lv)))
        else:
            lit = (1, 0)
            x1_imp, y1 = pw.eta_plus, PostTrace(math.exp(-n.dt / st.tau_minus), pw.eta_minus)
        post.setdefault(name[1], y1)
        rules[name] = (pw.sign, lit, x1_imp, st.tau_plus / n.dt)
    decay_lit, y2_level = decay_factors(c, fixed) if decay else (None, 0.0)
    rules = {name: LoihiSleepSTDP(sign, lit, x1, tau, decay_lit, t_epoch=st.t_epoch)
             for name, (sign, lit, x1, tau) in rules.items()}
    f = noise_factor(params)
    sig = (n.sigma_wake / rng.NORMAL_INT_SD * f, n.sigma_sleep / rng.NORMAL_INT_SD * f)
    if fixed:  # mV -> 2**v_frac_bits units per mV, then Lava's a_in << 6
        unit = 2.0 ** params.fixed.v_frac_bits / 2.0 ** LAVA_ACT_SHIFT
        noise = (sig[0] * unit, sig[1] * unit)
        return NativeConstants(du=4096 - keep_factor(n.dt, n.tau_syn) - 1,
                               dv=4096 - keep_factor(n.dt, n.tau_m),
                               vth=fc.v_thresh >> LAVA_ACT_SHIFT, bias=fc.bias >> LAVA_ACT_SHIFT,
                               weights=weights, weight_exp=wexp, rules=rules, tags=tags, post=post,
                               y2_level=y2_level, noise=noise)
    del sizes
    return NativeConstants(du=n.dt / n.tau_syn, dv=n.dt / n.tau_m, vth=(n.v_thresh - n.v_rest) / gain,
                           bias=n.bias / gain, weights=weights, weight_exp=wexp, rules=rules, tags=tags,
                           post=post, y2_level=y2_level, noise=(sig[0] / gain, sig[1] / gain))


class LoihiEINetwork(AbstractProcess):
    """The E/I network from Lava's LIF, (Learning)Sparse and :class:`SleepGatedLIF`.

    Args:
        params: the model. seed: run seed. mode: "float" or "fixed" (must match the run
            config's tag, floating_pt or fixed_pt).
        input_spikes: (n_input, T) bool raster replayed by the input RingBuffer (zero columns
            while asleep and at rest); T is the number of steps this network runs.
        decay_pulse: (T,) 0/1, the sleep third factor: 1 on the sleep steps after which the
            decay is due (global steps done % block == 0).
        noise: {"E": (n_exc, T), "I": (n_inh, T)} a_in noise per step (None: no noise source).
        learn: learning connections (LearningSparse) for the plastic pathways; False: Sparse
            with the weights frozen.
        state: initial state (see :func:`initial_state`); consts: :func:`native_constants`.
        t0: global step of the first step (rounding keys of the fixed post traces).

    Vars (aliased to the sub-Processes): w_<pathway> (signed weights), u_E, v_E, u_I, v_I,
    abuf_<pathway> (drive of the next step), x1_<plastic pathway> (pre traces), y1_E / y1_I
    (post traces of learning populations), spikes_E, spikes_I ((n, T): spikes of step t in
    column t - 1).
    """

    def __init__(self, *, params: ModelParams, seed: int, input_spikes: np.ndarray, mode: str = "float",
                 init: NetworkInit | None = None, decay_pulse=None, noise=None, learn: bool = True,
                 state: dict | None = None, consts: NativeConstants | None = None, t0: int = 0,
                 name: str | None = None):
        init = init if init is not None else build_network(params, seed)
        input_spikes = np.asarray(input_spikes, dtype=bool)
        if input_spikes.ndim != 2 or input_spikes.shape[0] != params.n_input:
            raise ValueError(f"input_spikes must have shape ({params.n_input}, T)")
        steps = input_spikes.shape[1]
        consts = consts if consts is not None else native_constants(params, init, mode)
        state = state if state is not None else initial_state(params, init, consts)
        pulse = np.zeros(steps) if decay_pulse is None else np.asarray(decay_pulse, dtype=float)
        super().__init__(params=params, seed=seed, input_spikes=input_spikes, mode=mode, init=init,
                         decay_pulse=pulse, noise=noise, learn=learn, state=state, consts=consts,
                         t0=t0, name=name)
        sizes = params.sizes()
        for n in PATHWAY_NAMES:
            setattr(self, f"w_{n}", Var(shape=init.masks[n].shape, init=0))
            setattr(self, f"abuf_{n}", Var(shape=(init.masks[n].shape[0],), init=0))
            if learn and n in consts.rules:
                setattr(self, f"x1_{n}", Var(shape=(init.masks[n].shape[1],), init=0))
        for p in ("E", "I"):
            setattr(self, f"u_{p}", Var(shape=(sizes[p],), init=0))
            setattr(self, f"v_{p}", Var(shape=(sizes[p],), init=0))
            setattr(self, f"spikes_{p}", Var(shape=(sizes[p], steps), init=0))
            if learn and p in consts.post:
                setattr(self, f"y1_{p}", Var(shape=(sizes[p],), init=0))


def initial_state(params: ModelParams, init: NetworkInit, consts: NativeConstants) -> dict:
    """The state of a fresh network: weights (signed, Lava's format), tags, zero u, v, traces and
    pending drive. Keys: w_<pathway>, abuf_<pathway>, x1_<plastic>, u_E, v_E, u_I, v_I, y1_E, y1_I."""
    sizes = params.sizes()
    st = {f"w_{n}": np.array(consts.weights[n], dtype=float) for n in PATHWAY_NAMES}
    st.update({f"abuf_{n}": np.zeros(init.masks[n].shape[0]) for n in PATHWAY_NAMES})
    st.update({f"x1_{n}": np.zeros(init.masks[n].shape[1]) for n in consts.rules})
    for p in ("E", "I"):
        st[f"u_{p}"] = np.zeros(sizes[p])
        st[f"v_{p}"] = np.zeros(sizes[p])
        st[f"y1_{p}"] = np.zeros(sizes[p])
    return st


def noise_raster(params: ModelParams, seed: int, consts: NativeConstants, t0: int, asleep) -> dict:
    """{"E": (n_exc, T), "I": (n_inh, T)} a_in noise of global steps t0 .. t0 + T - 1: the oracle's
    draws ``normal_int(key(seed, NOISE, t, 0), key(seed, NOISE, t, 1), neuron)`` (E first, then
    I) times ``consts.noise`` of the step's phase (``asleep``: (T,) bool); fixed: rounded to
    integers. None when both sigmas are 0."""
    if consts.noise == (0.0, 0.0):
        return None
    n_e = params.network.n_exc
    idx = np.arange(n_e + params.network.n_inh, dtype=np.int64)
    cols = []
    for k, sleeping in enumerate(np.asarray(asleep, dtype=bool)):
        t = t0 + k
        z = rng.normal_int(rng.key(seed, rng.Stream.NOISE, t, 0), rng.key(seed, rng.Stream.NOISE, t, 1), idx)
        cols.append(np.asarray(z, dtype=np.float64) * consts.noise[int(sleeping)])
    a = np.stack(cols, axis=1) if cols else np.zeros((len(idx), 0))
    if not isinstance(consts.du, float):
        a = np.rint(a)
    return {"E": a[:n_e], "I": a[n_e:]}


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
