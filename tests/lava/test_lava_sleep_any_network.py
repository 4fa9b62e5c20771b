"""The sleep Process on Lava's own Processes (issue 12): decay against the oracle's kernels.

What is compared:

* Lava ``Dense`` and ``Sparse`` (no learning: weights change only at sleep block ends) and a
  silent ``LearningDense`` and ``LearningSparse`` (no spikes, so STDP adds exactly 0): after the
  run, every weight equals the oracle's decay (:mod:`lava_sleep.kernels.sleep`: ``decay_block`` then
  ``floor_and_prune`` on ``|w|``, sign kept, absent synapses 0) applied at the block ends of an
  independent re-implementation of the schedule (docs/model.md, Sleep) - float exactly, fixed
  bit for bit (the integer weights are ours to round).
* ``LearningDense`` with STDP running (Lava's float model, and its fixed model, which is
  bit-approximate with an unseeded shared rounding draw): the values cannot be predicted, so
  the test checks what the sleep Process promises there: absent synapses kept at 0 and the
  per-neuron |w| totals pulled back to their initial totals.
* SpikeGate and NoiseSource: output equal to the formulas of their docstrings at every step;
  early wake-up on a Dense ends the episode at the block end where the total is within tol.
* Vars it cannot manage: one-line SleepWeightError.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sps
from lava_helpers import LAVA_TIMEOUT

from lava_sleep import rng
from lava_sleep.errors import SleepWeightError, UserError
from lava_sleep.kernels import sleep as sleep_k
from lava_sleep.params import SleepParams

pytestmark = pytest.mark.lava

STEPS = 120
SEED = 11


def _lava():
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    return RunSteps, Loihi2SimCfg


def _tag(fixed: bool) -> str:
    return "fixed_pt" if fixed else "floating_pt"


def schedule(sp: SleepParams, steps: int):
    """(asleep per step, block ends as (step t, K)) - docs/model.md, without early wake-up."""
    asleep = np.zeros(steps, dtype=bool)
    blocks = []
    wake_t = n_ep = used = since = planned = 0
    sleeping = False
    for t in range(steps):
        if sleeping:
            asleep[t] = True
            used += 1
            since += 1
            if used % sp.block == 0 or used == planned:
                blocks.append((t, since))
                since = 0
                if used == planned:
                    sleeping = False
            continue
        wake_t += 1
        if wake_t % sp.period == 0:
            n_ep += 1
            planned = sp.episode_length(n_ep)
            if planned > 0:
                sleeping, used, since = True, 0, 0
    return asleep, blocks


def oracle_decay(w_init, w_start, mask, sp: SleepParams, steps: int, fixed: bool, stream: int,
                 bounds=(0.0, np.inf)):
    """Weights after ``steps`` of the sleep Process on a matrix that nothing else changes.

    Targets come from ``w_init`` (what the Process saw at construction); the run starts from
    ``w_start``. Draws for every synapse (the Process draws only for present ones; the others
    never reach a value).
    """
    sign = np.where(w_start < 0, -1, 1)
    m0 = np.where(mask, np.abs(w_init), 0)
    m = np.where(mask, np.abs(w_start), 0)
    if fixed:
        m0, m = m0.astype(np.int64), m.astype(np.int64)
        floor = int(round(sp.w_floor))
        dc = sleep_k.DecayConsts("linear", sp.target, sp.lam, 0.0, float(m0.sum()) / mask.sum(),
                                 int(bounds[0]), 255 if np.isinf(bounds[1]) else int(bounds[1]), floor,
                                 sp.prune, True, 24)
    else:
        dc = sleep_k.DecayConsts(sp.form, sp.target, sp.lam, sp.decay_noise, float(m0.sum()) / mask.sum(),
                                 bounds[0], bounds[1], sp.w_floor, sp.prune, False)
    flat = np.arange(m.size).reshape(m.shape)
    total0, row0 = m0.sum(), m0.sum(-1)
    for t, k in schedule(sp, steps)[1]:
        xi = r = None
        if fixed:
            r = rng.uniform_u32(rng.key(SEED, rng.Stream.DECAY + stream, t + 1), flat) >> 8
        elif dc.noise > 0:
            k1, k2 = (rng.key(SEED, rng.Stream.DECAY + stream, t + 1, d) for d in (0, 1))
            xi = rng.normal_int(k1, k2, flat).astype(np.float64) / rng.NORMAL_INT_SD
        m = sleep_k.decay_block(dc, m, mask, total0, row0, k, xi=xi, r=r)
        m, mask = sleep_k.floor_and_prune(dc, m, mask)
    return sign * m, mask


def _dense_weights(fixed: bool, shape=(6, 9), seed=3):
    g = np.random.default_rng(seed)
    present = g.random(shape) < 0.7
    if fixed:  # even values: Lava's fixed Dense keeps them as they are (mixed-sign 8-bit grid)
        w0 = 2 * g.integers(5, 60, shape) * np.where(g.random(shape) < 0.3, -1, 1)
        moved = np.clip(w0 * g.uniform(0.3, 2.5, shape), -254, 254)
        moved = 2 * np.round(moved / 2)
    else:
        w0 = g.uniform(0.1, 1.0, shape) * np.where(g.random(shape) < 0.3, -1, 1)
        moved = w0 * g.uniform(0.3, 2.5, shape)
    return np.where(present, w0, 0).astype(float), np.where(present, moved, 0).astype(float), present


def _sleep_params(target: str, form: str, fixed: bool) -> SleepParams:
    return SleepParams(fraction=0.3, period=20, lam=0.9, form="linear" if fixed else form, target=target,
                       decay_noise=0.0 if fixed else 0.2, block=4, w_floor=1.0 if fixed else 0.05,
                       prune=target == "static", tol=0.0)


def _get(var) -> np.ndarray:
    w = var.get()
    return w.toarray() if sps.issparse(w) else np.asarray(w)


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("target,form", [("neuron", "log"), ("group", "linear"), ("static", "log")])
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_decay_on_lava_dense_sparse_learning_dense_equals_oracle(mode, target, form):
    from lava.proc.dense.process import Dense, LearningDense
    from lava.proc.learning_rules.stdp_learning_rule import STDPLoihi
    from lava.proc.sparse.process import LearningSparse, Sparse

    from lava_sleep.processes.sleep_controller.process import SleepController

    RunSteps, Loihi2SimCfg = _lava()
    fixed = mode == "fixed"
    sp = _sleep_params(target, form, fixed)
    w_d, moved_d, mask_d = _dense_weights(fixed, seed=3)
    w_s, moved_s, mask_s = _dense_weights(fixed, seed=4)
    w_l, moved_l, mask_l = _dense_weights(fixed, shape=(4, 5), seed=5)
    w_ls, moved_ls, mask_ls = _dense_weights(fixed, shape=(5, 4), seed=6)
    dense = Dense(weights=w_d)
    sparse = Sparse(weights=sps.csr_matrix(w_s))
    stdp = STDPLoihi(learning_rate=1, A_plus=1, A_minus=-1, tau_plus=10, tau_minus=10, t_epoch=4)
    learning = LearningDense(weights=w_l, learning_rule=stdp)
    learning_sparse = LearningSparse(weights=sps.csr_matrix(w_ls), learning_rule=stdp)
    ctrl = SleepController(weights=[dense, sparse, learning, learning_sparse], sleep=sp, seed=SEED)
    # the weights moved away from the targets the Process took at construction
    dense.weights.init = moved_d
    sparse.weights.init = sps.csr_matrix(moved_s)
    learning.weights.init = moved_l
    learning_sparse.weights.init = sps.csr_matrix(moved_ls)
    try:
        ctrl.run(condition=RunSteps(STEPS), run_cfg=Loihi2SimCfg(select_tag=_tag(fixed)))
        got = [_get(dense.weights), _get(sparse.weights), _get(learning.weights),
               _get(learning_sparse.weights)]
        stored = sparse.weights.get()
    finally:
        ctrl.stop()
    cases = [(w_d, moved_d, mask_d), (w_s, moved_s, mask_s), (w_l, moved_l, mask_l),
             (w_ls, moved_ls, mask_ls)]
    for i, ((w0, moved, mask), g) in enumerate(zip(cases, got, strict=True)):
        want, mask_after = oracle_decay(w0, moved, mask, sp, STEPS, fixed, stream=i)
        assert np.array_equal(g, want), f"matrix {i}: max diff {np.abs(g - want).max()}"
        assert np.all(g[~mask] == 0)  # absent synapses stay absent
        assert not np.array_equal(g, moved)  # the decay did something
        if sp.prune:
            assert np.all(g[mask & ~mask_after] == 0)
    if sps.issparse(stored):  # Sparse keeps its stored pattern (pruned entries hold 0)
        assert stored.nnz == sps.csr_matrix(w_s).nnz


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_learning_dense_with_stdp_totals_held(mode):
    """Lava's STDP runs (values unpredictable, fixed model bit-approximate): absent synapses stay 0
    and each post neuron's |w| total returns to its initial total by the episode's end."""
    from lava.proc.dense.process import Dense, LearningDense
    from lava.proc.io.source import RingBuffer
    from lava.proc.learning_rules.stdp_learning_rule import STDPLoihi
    from lava.proc.lif.process import LIF

    from lava_sleep.processes.sleep_controller.process import SleepController

    RunSteps, Loihi2SimCfg = _lava()
    fixed = mode == "fixed"
    n_pre, n_post, steps = 8, 3, 200
    g = np.random.default_rng(0)
    spikes = (g.random((n_pre, steps)) < 0.2).astype(float)
    du = dv = 4095 if fixed else 1
    src = RingBuffer(data=spikes)
    inp = Dense(weights=np.eye(n_pre) * 250)
    pre = LIF(shape=(n_pre,), du=du, dv=dv, vth=240)
    post = LIF(shape=(n_post,), du=du, dv=dv, vth=240)
    w0 = np.full((n_post, n_pre), 60.0)
    w0[0, :2] = 0  # absent synapses
    stdp = STDPLoihi(learning_rate=1, A_plus=2, A_minus=-1, tau_plus=10, tau_minus=10, t_epoch=4)
    plast = LearningDense(weights=w0, learning_rule=stdp)
    src.s_out.connect(inp.s_in)
    inp.a_out.connect(pre.a_in)
    pre.s_out.connect(plast.s_in)
    plast.a_out.connect(post.a_in)
    post.s_out.connect(plast.s_in_bap)
    sp = SleepParams(fraction=0.5, period=50, lam=0.5, form="linear", target="neuron", decay_noise=0.0,
                     block=5, tol=0.0)
    SleepController(weights=[plast], sleep=sp, seed=SEED)
    cfg = Loihi2SimCfg(select_tag=_tag(fixed))
    asleep, blocks = schedule(sp, steps)
    assert asleep[-1] and blocks[-1][0] == steps - 1  # the run ends on an episode's last block end
    try:
        post.run(condition=RunSteps(steps), run_cfg=cfg)
        w = plast.weights.get()
    finally:
        post.stop()
    mask = w0 != 0
    assert np.all(w[~mask] == 0)
    rows0 = np.abs(w0).sum(-1)
    rows = np.abs(w).sum(-1)
    assert np.all(np.abs(rows - rows0) <= 0.05 * rows0 + 2), (rows, rows0)


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_gate_and_noise_follow_the_schedule(mode):
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    from lava_sleep.processes.noise_source.models import noise_values
    from lava_sleep.processes.noise_source.process import NoiseSource
    from lava_sleep.processes.sleep_controller.process import SleepController
    from lava_sleep.processes.spike_gate.process import SpikeGate

    RunSteps, Loihi2SimCfg = _lava()
    fixed = mode == "fixed"
    steps, n = 40, 5
    sp = SleepParams(fraction=0.5, period=6, lam=0.9, form="linear", block=3, tol=0.0)
    src = RingBuffer(data=np.ones((n, steps)))
    gate = SpikeGate(shape=(n,))
    src.s_out.connect(gate.s_in)
    cur = NoiseSource(shape=(n,), seed=7, kind="current", sleep=30.0, wake=2.0)
    spk = NoiseSource(shape=(n,), seed=7, kind="spikes", sleep=0.5, index_offset=n)
    dense = Dense(weights=np.eye(n) * 2)
    SleepController(weights=[dense], sleep=sp, seed=SEED, gates=[gate], noise=[cur, spk])
    mons = {}
    for key, port in (("gate", gate.s_out), ("cur", cur.a_out), ("spk", spk.s_out)):
        mons[key] = Monitor()
        mons[key].probe(port, steps)
    try:
        gate.run(condition=RunSteps(steps), run_cfg=Loihi2SimCfg(select_tag=_tag(fixed)))
        data = {k: m.get_data() for k, m in mons.items()}
    finally:
        gate.stop()
    got = {k: np.asarray(next(iter(next(iter(d.values())).values()))).reshape(steps, n)
           for k, d in data.items()}
    asleep, _ = schedule(sp, steps)
    assert asleep.any() and (~asleep).any()
    assert np.array_equal(got["gate"], np.where(asleep[:, None], 0, 1) * np.ones((1, n)))
    idx = np.arange(n)
    for t in range(steps):
        c = noise_values(7, "current", 30.0 if asleep[t] else 2.0, t, idx)
        s = noise_values(7, "spikes", 0.5, t, idx + n) if asleep[t] else np.zeros(n)
        if fixed:
            c = np.rint(c)
        assert np.array_equal(got["cur"][t], c), t
        assert np.array_equal(got["spk"][t], s), t
    assert got["spk"][asleep].sum() > 10


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg
    return msg


def test_errors_for_vars_it_cannot_manage():
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF

    from lava_sleep.processes.noise_source.process import NoiseSource
    from lava_sleep.processes.sleep_controller.process import MAX_WEIGHTS, Managed, SleepController

    sp = SleepParams(fraction=0.2, period=10)
    lif = LIF(shape=(3,))
    dense = Dense(weights=np.ones((2, 3)))
    with pytest.raises(SleepWeightError) as e:
        SleepController(weights=[lif.v], sleep=sp, seed=0)
    assert "not a weight matrix" in _one_line(e)
    with pytest.raises(SleepWeightError) as e:
        SleepController(weights=[lif], sleep=sp, seed=0)
    assert "no 'weights' Var" in _one_line(e)
    with pytest.raises(SleepWeightError) as e:
        SleepController(weights=[np.ones((2, 3))], sleep=sp, seed=0)
    assert "not a Lava Var" in _one_line(e)
    with pytest.raises(SleepWeightError) as e:
        SleepController(weights=[Managed(dense, mask=np.ones((3, 2)))], sleep=sp, seed=0)
    assert "does not match" in _one_line(e)
    with pytest.raises(SleepWeightError) as e:
        SleepController(weights=[dense, dense.weights], sleep=sp, seed=0)
    assert "twice" in _one_line(e)
    many = [Dense(weights=np.ones((1, 1))) for _ in range(MAX_WEIGHTS + 1)]
    with pytest.raises(SleepWeightError) as e:
        SleepController(weights=many, sleep=sp, seed=0)
    _one_line(e)
    with pytest.raises(SleepWeightError) as e:
        SleepController(weights=[dense], sleep=sp, seed=0, gates=[lif])
    _one_line(e)
    with pytest.raises(UserError) as e:
        NoiseSource(shape=(3,), seed=0, kind="spikes", sleep=1.5)
    _one_line(e)
    assert issubclass(SleepWeightError, UserError)


@pytest.mark.timeout(LAVA_TIMEOUT)
def test_fixed_model_on_float_var_is_one_line_error():
    from lava.proc.dense.process import Dense

    from lava_sleep.processes.sleep_controller.process import SleepController

    RunSteps, Loihi2SimCfg = _lava()
    dense = Dense(weights=np.array([[0.5, -0.25, 0.0]]))
    ctrl = SleepController(weights=[dense], sleep=SleepParams(fraction=0.5, period=2), seed=0)
    try:
        with pytest.raises(SleepWeightError) as e:
            ctrl.run(condition=RunSteps(4), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        assert "fixed-point model on float-valued weights" in _one_line(e)
    finally:
        ctrl.stop()


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_early_wake_up_on_a_lava_dense(mode):
    """A Dense whose total is twice its target: the group decay (lam 0.5, block 3) brings it within
    tol = 5 % at the second block end (1.125 T0, then 1.016 T0), so the planned 10-step episode
    ends after 6 steps and the gate opens again."""
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    from lava_sleep.processes.sleep_controller.process import SleepController
    from lava_sleep.processes.spike_gate.process import SpikeGate

    RunSteps, Loihi2SimCfg = _lava()
    fixed = mode == "fixed"
    steps = 24
    sp = SleepParams(fraction=0.5, period=10, lam=0.5, form="linear", target="group", decay_noise=0.0,
                     block=3, tol=0.05)
    assert sp.episode_length(1) == 10
    dense = Dense(weights=np.full((3, 4), 10.0))
    src = RingBuffer(data=np.ones((2, steps)))
    gate = SpikeGate(shape=(2,))
    src.s_out.connect(gate.s_in)
    SleepController(weights=[dense], sleep=sp, seed=SEED, gates=[gate])
    dense.weights.init = np.full((3, 4), 20.0)
    mon = Monitor()
    mon.probe(gate.s_out, steps)
    try:
        gate.run(condition=RunSteps(steps), run_cfg=Loihi2SimCfg(select_tag=_tag(fixed)))
        data = mon.get_data()
        w = dense.weights.get()
    finally:
        gate.stop()
    out = np.asarray(next(iter(next(iter(data.values())).values()))).reshape(steps, 2)
    asleep = out[:, 0] == 0
    assert np.array_equal(np.flatnonzero(asleep), np.arange(10, 16))
    assert abs(w.sum() - 120) <= 0.05 * 120
