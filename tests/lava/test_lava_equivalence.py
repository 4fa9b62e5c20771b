"""Lava models against the NumPy oracle, and the graph model against the fused model.

One scenario per mode: the small active network (16 inputs, 20 E, 5 I), STDP on
XE and EE, 12 images x 50 wake steps + 3 full sleep episodes (every 175 wake
steps, so they interrupt images in the middle: 44 + 44 + 43 steps) = 731 steps,
presented to Lava in two run() calls (state must carry over).

* float graph vs oracle (float64): identical spikes (X, E, I), asleep flags,
  counts and episode records; weights, traces and membranes within 1e-9;
* fixed graph vs oracle (fixed): bit-exact spikes, traces, weights, accumulators,
  neuron state and episode records;
* fused model with the NumPy cores vs graph, float and fixed: identical (same
  cores, same order);
* fused model with the compiled kernel vs graph: fixed bit-exact in every value;
  float64 identical spikes, counts and episode records, weights, traces and
  state within 1e-9 (the kernel sums the synaptic drive in event order, NumPy in
  BLAS order; both are the oracle's model).

The Diehl & Cook features (rest steps, one_to_one / all_but_self patterns, the diehl_cook
rule, per-image normalization, slow adaptation decay) all at once, with sleep episodes that
start in a rest and right after a normalization (``features_params``: 5 images, 214 steps in
two run() calls), then an evaluation call with learning off and the adaptation frozen
(``freeze_adaptation``; 2 images, sleep included): graph and fused (NumPy step) models against
the oracle with the same
exactness (fixed every value, float spikes and counts identical, state within 1e-9), and the
fused model's compiled step too (with XE on "stdp" while the kernel does not know
"diehl_cook", after checking that it refuses the rule in one line).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from lava_helpers import (
    LAVA_TIMEOUT,
    active_params,
    concat_spikes,
    features_params,
    run_lava,
    run_oracle,
    run_oracle_calls,
)

from lava_sleep import params as P
from lava_sleep.fixed import W_MULT_FRAC_BITS, to_fixed
from lava_sleep.network import build_network
from lava_sleep.params import PATHWAY_NAMES

pytestmark = pytest.mark.lava
SEED = 7


def _scenario(mode, images):
    p = active_params(mode, period=175)
    oracle_out, oracle_state = run_oracle(p, SEED, mode, images)
    calls = [images[:5], images[5:]]
    graph_outs, graph_state = run_lava(p, SEED, mode, "graph", calls)
    out = {"params": p, "oracle": (oracle_out, oracle_state), "graph": (graph_outs, graph_state)}
    for kernel in ("numpy", "native"):
        out[f"fused-{kernel}"] = run_lava(p, SEED, mode, "fused", calls, fused_kernel=kernel)
    return out


@pytest.fixture(scope="module")
def float_runs(images):
    return _scenario("float", images)


@pytest.fixture(scope="module")
def fixed_runs(images):
    return _scenario("fixed", images)


def _episodes(outs):
    return [e for o in outs for e in o.episodes]


def _check_scenario_is_meaningful(p, oracle_out, oracle_state, mode):
    assert oracle_out.sleep_steps == 131 and oracle_out.steps == 600 + 131
    assert [e["used"] for e in oracle_out.episodes] == [44, 44, 43]
    sp = oracle_out.spikes
    assert sp["E"].sum() > 100 and sp["I"].sum() > 10
    assert sp["E"][sp["asleep"]].sum() > 0  # spontaneous activity in sleep
    init = build_network(p, SEED)
    m0 = init.magnitudes_fixed() if mode == "fixed" else init.magnitudes
    for n in p.network.plastic_pathways:
        assert not np.array_equal(oracle_state[f"m_{n}"], m0[n])  # STDP and sleep changed weights


def _compare_episodes(lava_eps, oracle_eps, rel):
    assert len(lava_eps) == len(oracle_eps)
    for a, b in zip(lava_eps, oracle_eps, strict=True):
        for k in ("episode", "start_step", "wake_step", "planned", "used", "woke_early"):
            assert a[k] == b[k], k
        for k in ("totals_before", "totals_after"):
            assert a[k] == pytest.approx(b[k], rel=rel, abs=0)


@pytest.mark.timeout(LAVA_TIMEOUT)
def test_float_graph_matches_oracle(float_runs):
    p = float_runs["params"]
    oracle_out, oracle_state = float_runs["oracle"]
    _check_scenario_is_meaningful(p, oracle_out, oracle_state, "float")
    outs, state = float_runs["graph"]
    spikes = concat_spikes(outs)
    for k in ("X", "E", "I", "asleep"):
        assert np.array_equal(spikes[k], oracle_out.spikes[k]), k
    assert np.array_equal(np.concatenate([o.counts for o in outs]), oracle_out.counts)
    assert sum(o.steps for o in outs) == oracle_out.steps
    _compare_episodes(_episodes(outs), oracle_out.episodes, rel=1e-12)
    for n in PATHWAY_NAMES:
        np.testing.assert_allclose(state[f"m_{n}"], oracle_state[f"m_{n}"], rtol=0, atol=1e-9)
        assert np.array_equal(state[f"mask_{n}"], oracle_state[f"mask_{n}"])
    for k in ("x_X", "x_E", "y_E", "u", "v", "a", "pending"):
        np.testing.assert_allclose(state[k], oracle_state[k], rtol=0, atol=1e-9, err_msg=k)
    assert np.array_equal(state["counters"], oracle_state["counters"])


@pytest.mark.timeout(LAVA_TIMEOUT)
def test_fixed_graph_is_bit_exact_with_oracle(fixed_runs):
    p = fixed_runs["params"]
    oracle_out, oracle_state = fixed_runs["oracle"]
    _check_scenario_is_meaningful(p, oracle_out, oracle_state, "fixed")
    outs, state = fixed_runs["graph"]
    spikes = concat_spikes(outs)
    for k in ("X", "E", "I", "asleep"):
        assert np.array_equal(spikes[k], oracle_out.spikes[k]), k
    assert np.array_equal(np.concatenate([o.counts for o in outs]), oracle_out.counts)
    _compare_episodes(_episodes(outs), oracle_out.episodes, rel=0)
    for k in state:  # every tracked key, bit for bit
        assert np.array_equal(state[k], oracle_state[k]), k
    assert {"x_X", "x_E", "y_E", "m_XE", "m_EE", "acc_XE", "acc_EE"} <= set(state)


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("kernel", ["numpy", "native"])
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_fused_equals_graph(mode, kernel, float_runs, fixed_runs, assert_states_match):
    runs = float_runs if mode == "float" else fixed_runs
    g_outs, g_state = runs["graph"]
    f_outs, f_state = runs[f"fused-{kernel}"]
    exact = mode == "fixed" or kernel == "numpy"
    g, f = concat_spikes(g_outs), concat_spikes(f_outs)
    for k in g:
        assert np.array_equal(g[k], f[k]), k
    for a, b in zip(g_outs, f_outs, strict=True):
        assert np.array_equal(a.counts, b.counts)
        if exact:
            assert a.episodes == b.episodes
    if not exact:
        _compare_episodes(_episodes(f_outs), _episodes(g_outs), rel=1e-12)
    # the graph tracks a subset of the traces; all of it must agree
    assert_states_match(f_state, g_state, atol=0 if exact else 1e-9)
    # the fused model keeps every population trace, like the oracle
    assert_states_match(f_state, runs["oracle"][1], atol=0 if mode == "fixed" else 1e-9, keys=("x_I", "y_I"))


@pytest.mark.timeout(LAVA_TIMEOUT)
def test_every_pathway_plastic_fixed(images, assert_states_match):
    """EI and IE plastic too (IE with the Vogels rule): the I population's traces (pre offset
    n_x + n_e, post offset n_e in the trace-rounding index) are used by the graph's EI/IE synapses
    and by both fused steps; all equal the oracle bit for bit."""
    p = active_params("fixed", period=175)
    net = p.network.with_pathway("EI", plastic=True).with_pathway("IE", plastic=True, rule="vogels")
    p = dataclasses.replace(p, network=net)
    oracle_out, oracle_state = run_oracle(p, SEED, "fixed", images[:6])
    init = build_network(p, SEED).magnitudes_fixed()
    for n in ("EI", "IE"):
        assert not np.array_equal(oracle_state[f"m_{n}"], init[n]), n
    for model, kernel in (("graph", "auto"), ("fused", "native"), ("fused", "numpy")):
        outs, state = run_lava(p, SEED, "fixed", model, [images[:6]], fused_kernel=kernel)
        assert np.array_equal(concat_spikes(outs)["E"], oracle_out.spikes["E"]), model
        assert {"x_I", "y_I", "m_EI", "m_IE", "acc_IE"} <= set(state)
        assert_states_match(oracle_state, state)  # every key the model tracks, bit for bit


# -- the Diehl & Cook features at once ----------------------------------------------------------
FEATURE_IMAGES = 5  # learning on; then EVAL_IMAGES with learning off (adaptation frozen)
EVAL_IMAGES = 2


def _features(mode, images, p=None):
    """(params, oracle RunOutputs, oracle states) of the features scenario: one call learning
    over FEATURE_IMAGES images, then one evaluating EVAL_IMAGES (state after each)."""
    p = p or features_params(mode)
    n = FEATURE_IMAGES
    outs, states = run_oracle_calls(p, SEED, mode, [(images[:n], True), (images[n:n + EVAL_IMAGES], False)])
    return p, outs, states


def _run_features(p, mode, model, images, kernel="auto"):
    """Lava over the same images in three calls: 2 + 3 learning, then the evaluation."""
    imgs, n = images, FEATURE_IMAGES
    return run_lava(p, SEED, mode, model, [imgs[:2], imgs[2:n], imgs[n:n + EVAL_IMAGES]],
                    fused_kernel=kernel, learns=[True, True, False])


def _assert_matches_oracle(outs, state, oracle_outs, oracle_states, exact, assert_states_match):
    spikes = concat_spikes(outs)
    oracle_spikes = concat_spikes(oracle_outs)
    for k in ("X", "E", "I", "asleep"):
        assert np.array_equal(spikes[k], oracle_spikes[k]), k
    assert np.array_equal(np.concatenate([o.counts for o in outs]),
                          np.concatenate([o.counts for o in oracle_outs]))
    assert sum(o.steps for o in outs) == sum(o.steps for o in oracle_outs)
    assert sum(o.sleep_steps for o in outs) == sum(o.sleep_steps for o in oracle_outs)
    _compare_episodes(_episodes(outs), _episodes(oracle_outs), rel=0 if exact else 1e-12)
    # every key the Lava model tracks (fixed: bit for bit)
    assert_states_match(oracle_states[-1], state, atol=0 if exact else 1e-9)


@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_features_scenario_is_meaningful(mode, images):
    """The oracle run exercises every feature: rest steps without input but with E spikes (not
    counted), sleep triggered in a rest and at a slot end, and each of diehl_cook, normalization
    and the slow adaptation decay changes the result; the evaluation call (awake and asleep)
    spikes with the adaptation frozen, which moves in the learning call and would move without
    freeze_adaptation."""
    p, outs, states = _features(mode, images)
    out, state = outs[0], states[0]
    spi, slot = p.input.steps_per_image, p.input.slot_steps
    assert [e["wake_step"] for e in out.episodes] == [25, 50, 75, 100, 125, 150]
    assert out.sleep_steps == 64 and out.steps == FEATURE_IMAGES * slot + 64
    sp = out.spikes
    wake = ~sp["asleep"]
    rest = np.arange(wake.sum()) % slot >= spi
    assert not sp["X"][wake][rest].any() and sp["X"][wake][~rest].sum() > 200
    assert sp["E"][wake][rest].sum() > 0  # rest spikes, which the counts must leave out
    assert out.counts.sum() == sp["E"][wake][~rest].sum()
    assert sp["E"].sum() > 50 and sp["I"].sum() > 20 and sp["E"][sp["asleep"]].sum() > 0
    eye = np.eye(p.network.n_exc, dtype=bool)
    assert np.array_equal(state["mask_EI"], eye) and np.array_equal(state["mask_IE"], ~eye)
    variants = {
        "rule": dataclasses.replace(p, network=p.network.with_pathway("XE", rule="stdp")),
        "normalize": dataclasses.replace(p, network=p.network.with_pathway("XE", normalize=False)),
        "a_decay_every": dataclasses.replace(p, neuron=dataclasses.replace(p.neuron, a_decay_every=1)),
    }
    for what, q in variants.items():
        other = run_oracle(q, SEED, mode, images[:FEATURE_IMAGES])[1]
        key = "a" if what == "a_decay_every" else "m_XE"
        assert not np.array_equal(other[key], state[key]), what
    # frozen adaptation: a moves while learning (from 0), not in the evaluation call, which spikes
    ev = outs[1]
    assert p.neuron.freeze_adaptation and state["a"].any()
    assert np.array_equal(states[1]["a"], state["a"])
    assert [e["wake_step"] for e in ev.episodes] == [175, 200]
    assert ev.spikes["E"][~ev.spikes["asleep"]].sum() > 0 and ev.spikes["E"][ev.spikes["asleep"]].sum() > 0
    q = dataclasses.replace(p, neuron=dataclasses.replace(p.neuron, freeze_adaptation=False))
    n = FEATURE_IMAGES
    moving = run_oracle_calls(q, SEED, mode, [(images[:n], True), (images[n:n + EVAL_IMAGES], False)])[1]
    assert np.array_equal(moving[0]["a"], state["a"]) and not np.array_equal(moving[1]["a"], state["a"])


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize(("model", "kernel"), [("graph", "auto"), ("fused", "numpy")])
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_features_match_oracle(mode, model, kernel, images, assert_states_match):
    p, oracle_outs, oracle_states = _features(mode, images)
    outs, state = _run_features(p, mode, model, images, kernel)
    _assert_matches_oracle(outs, state, oracle_outs, oracle_states, mode == "fixed", assert_states_match)
    if model == "fused":  # every population trace, as the oracle
        assert {"x_X", "x_E", "x_I", "y_E", "y_I"} <= set(state)


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_features_fused_compiled_step(mode, images, assert_states_match):
    """The compiled step with rest steps, slow adaptation decay, the frozen adaptation of the
    evaluation call and normalization (and the
    diehl_cook rule where the kernel knows it; otherwise explicit "native" is refused in one
    line, "auto" picks the NumPy step, and XE runs "stdp" here)."""
    from lava_sleep.lava_backend import LavaSimulator
    from lava_sleep.processes.ei_network.models import native_step_unsupported
    from lava_sleep.simulation import BackendError

    _require_compiled_step()
    p = features_params(mode)
    if native_step_unsupported(p, SEED, build_network(p, SEED), mode == "fixed") is not None:
        with pytest.raises(BackendError, match="diehl_cook") as err:
            LavaSimulator(p, SEED, mode=mode, model="fused", fused_kernel="native")
        assert "\n" not in str(err.value)
        with LavaSimulator(p, SEED, mode=mode, model="fused", fused_kernel="auto") as sim:
            assert sim.fused_kernel == "numpy"
        p = features_params(mode, rule="stdp")
    p, oracle_outs, oracle_states = _features(mode, images, p)
    outs, state = _run_features(p, mode, "fused", images, "native")
    _assert_matches_oracle(outs, state, oracle_outs, oracle_states, mode == "fixed", assert_states_match)


# -- fixed-point precision (docs/model.md "Fixed-point precision") ------------------------------
def _precision_params(case, with_precision, rule="diehl_cook"):
    """The features scenario (fixed point) with the precision of ``PRECISION_CASES[case]``, at
    1000 Hz and learning rates 0.3 on XE and EE: at the paper's rates the coarse cases (3-bit
    weights, floor-rounded traces) would not move a weight, and without the brighter input the
    traces would never reach trace_max."""
    p = features_params("fixed", rule)
    net = p.network.with_pathway("XE", eta_plus=0.3, eta_minus=0.3).with_pathway("EE", eta_plus=0.3,
                                                                                  eta_minus=0.3)
    p = dataclasses.replace(p, network=net, input=dataclasses.replace(p.input, max_rate_hz=1000.0))
    return with_precision(p, case)


def _precision_oracle(p, images):
    """The oracle's features run of ``p`` (RunOutputs, states), after asserting that it exercises
    each precision setting: w_mult of every pathway is (pow2) or is not (full) a power of two,
    learning and sleep change both plastic pathways, and each of w_scale, trace_rounding,
    dw_rounding and trace_bits away from its default changes the final state when set back to the
    default (for trace_bits, with the same impulse: the traces saturate at trace_max)."""
    _, outs, states = _features("fixed", images, p)
    fc = to_fixed(p)
    for n, pf in fc.pathways.items():
        if p.fixed.w_scale == "full":
            assert pf.w_mult & (pf.w_mult - 1) != 0, n  # not a power of two: no shift would do
            assert pf.m_max == 2**p.fixed.w_bits - 1, n  # w_max is the top code
        else:
            assert pf.w_mult == 2 ** (pf.shift + W_MULT_FRAC_BITS), n
    init = build_network(p, SEED).magnitudes_fixed()
    for n in p.network.plastic_pathways:
        assert not np.array_equal(states[0][f"m_{n}"], init[n]), n
    assert outs[0].sleep_steps > 0 and outs[1].sleep_steps > 0
    fx0, st0 = P.FixedParams(), P.STDPParams()
    variants = {k: dataclasses.replace(p, fixed=dataclasses.replace(p.fixed, **{k: getattr(fx0, k)}))
                for k in ("w_scale", "trace_rounding", "dw_rounding")
                if getattr(p.fixed, k) != getattr(fx0, k)}
    if p.stdp.trace_bits != st0.trace_bits:
        variants["trace_bits"] = dataclasses.replace(
            p, stdp=dataclasses.replace(p.stdp, trace_bits=st0.trace_bits))
    assert variants
    for what, q in variants.items():
        other = _features("fixed", images, q)[2][-1]
        assert any(not np.array_equal(other[k], states[-1][k]) for k in states[-1]), what
    return outs, states


@pytest.mark.timeout(LAVA_TIMEOUT)
def test_precision_graph_and_fused_match_oracle(precision_case, with_precision, images, assert_states_match):
    """Every fixed-point width and rounding mode (PRECISION_CASES: w_scale full and pow2, 2-4
    weight bits, 3-5 trace bits, stochastic, nearest and floor rounding of traces and updates), with
    learning, normalization and sleep: the graph model and the fused model's NumPy step equal the
    oracle in every value."""
    p = _precision_params(precision_case, with_precision)
    oracle_outs, oracle_states = _precision_oracle(p, images)
    for model, kernel in (("graph", "auto"), ("fused", "numpy")):
        outs, state = _run_features(p, "fixed", model, images, kernel)
        _assert_matches_oracle(outs, state, oracle_outs, oracle_states, True, assert_states_match)


def _require_compiled_step() -> None:
    """Skip on machines without a C compiler: the fused model has no compiled step there (it runs
    its NumPy step, which the graph-vs-fused tests cover)."""
    from lava_sleep.kernels import native

    if not native.available():
        pytest.skip("no C compiler: the fused model has no compiled step here (its NumPy step is tested)")


@pytest.mark.timeout(LAVA_TIMEOUT)
def test_precision_fused_compiled_step(precision_case, with_precision, images, assert_states_match):
    """The fused model's compiled step (the C kernel) with every precision case: it accepts the
    settings and is bit-exact with the oracle."""
    from lava_sleep.processes.ei_network.models import native_step_unsupported

    _require_compiled_step()
    p = _precision_params(precision_case, with_precision, "diehl_cook")
    assert native_step_unsupported(p, SEED, build_network(p, SEED), True) is None
    oracle_outs, oracle_states = _precision_oracle(p, images)
    outs, state = _run_features(p, "fixed", "fused", images, "native")
    _assert_matches_oracle(outs, state, oracle_outs, oracle_states, True, assert_states_match)
