"""The Loihi-native learning rule (LoihiSleepSTDP on a MaskedLearningSparse) against the oracle.

One connection (6 pre x 3 post neurons, some synapses absent, one present at weight 0) runs on
Lava's CPU simulator, fed by fixed rasters: pre spikes from a RingBuffer into ``s_in``, and a
:class:`SleepGatedLIF` post population (du = dv = 1, vth = 0.5, so it spikes exactly on the steps
where its RingBuffer drive is 1; its ``a_out`` input is not connected) whose ``s_out_bap``, y1
(post trace) and y2 (sleep pulse) feed the connection; the pulse comes from a gate RingBuffer.
The weights are read after every step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from lava_helpers import LAVA_TIMEOUT
from scipy.sparse import csr_matrix

from lava_sleep.kernels import sleep as sleep_k
from lava_sleep.kernels import stdp as stdp_k
from lava_sleep.lava_backend import _csr_var_values

pytestmark = pytest.mark.lava

#: Lava's Loihi3FLearningRule gives the post traces y1..y3 a time constant of 65535 steps: the
#: learning engine multiplies every received y value by exp(-1/65535) before using it (float).
EPS_Y = 1.0 - math.exp(-1.0 / 65535)


def _build(mode, w0, mask, tag, pre, drive, gate, eta_plus, eta_minus, tau, c):
    """The connection and its sources (see the module docstring); returns (conn, lif)."""
    from lava.proc.io.source import RingBuffer
    from lava.utils.weightutils import SignMode

    import lava_sleep.processes.loihi_native.models  # noqa: F401  (model discovery)
    from lava_sleep.processes.loihi_native.process import (
        LoihiSleepSTDP,
        MaskedLearningSparse,
        SleepGatedLIF,
        decay_factors,
    )

    fixed = mode == "fixed"
    decay_lit, y2 = decay_factors(c, fixed)
    rule = LoihiSleepSTDP(1, (1, 0), eta_plus, tau, decay_lit)
    nz = np.nonzero(mask)
    dtype = int if fixed else float
    conn = MaskedLearningSparse(weights=csr_matrix((w0[mask].astype(dtype), nz), shape=mask.shape),
                                tag_1=csr_matrix((tag[mask].astype(dtype), nz), shape=mask.shape),
                                learning_rule=rule, sign_mode=SignMode.EXCITATORY, num_weight_bits=8,
                                weight_exp=0)
    if fixed:
        lif = SleepGatedLIF(shape=(mask.shape[0],), du=4095, dv=4095, vth=1, bias_mant=0, y1_keep=3277,
                            y1_impulse=int(eta_minus), y2_level=y2)
    else:
        lif = SleepGatedLIF(shape=(mask.shape[0],), du=1.0, dv=1.0, vth=0.5, bias_mant=0.0,
                            y1_keep=math.exp(-1.0 / tau), y1_impulse=eta_minus, y2_level=y2)
    src, drv, gt = RingBuffer(data=pre.astype(float)), RingBuffer(data=drive.astype(float)), \
        RingBuffer(data=gate.astype(float))
    src.s_out.connect(conn.s_in)
    drv.s_out.connect(lif.a_in)
    gt.s_out.connect(lif.a_third_factor_in)
    for port in ("bap", "y1", "y2", "y3"):
        getattr(lif, f"s_out_{port}").connect(getattr(conn, f"s_in_{port}"))
    return conn, lif


def _run(conn, mode, mask, chunks):
    """Run ``chunks`` (list of step counts) and return the weights after each chunk."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    cfg = Loihi2SimCfg(select_tag="floating_pt" if mode == "float" else "fixed_pt")
    out = []
    try:
        for n in chunks:
            conn.run(condition=RunSteps(num_steps=n), run_cfg=cfg)
            out.append(_csr_var_values(conn.weights, mask))  # BackendError if an entry appeared/vanished
    finally:
        conn.stop()
    return np.array(out)


# steps are 1-based (a raster's column k is step k + 1)
T, BLOCK = 40, 8
PULSES = (8, 16, 24, 32)  # asleep through step 32, awake after; step 40 (t % 8 == 0) is awake
PRE = {0: [3], 1: [11], 2: [18], 3: [28], 4: [35]}
POST = {0: [6, 16], 1: [20], 2: [26, 35]}


def _raster(spikes, n):
    r = np.zeros((n, T), dtype=bool)
    for i, steps in spikes.items():
        r[i, np.asarray(steps) - 1] = True
    return r


@pytest.mark.timeout(LAVA_TIMEOUT)
def test_float_rule_matches_the_oracle_kernels_step_by_step():
    """Lava's float learning engine vs the oracle's kernels (stdp.stdp_delta / apply_epoch, then
    sleep.decay_block with the linear static form on pulse steps), weights compared after every
    one of 40 steps (4 decay pulses, 7 post and 5 pre spikes, eta+ = 0.04 != eta- = 0.01).

    Lava differs from the oracle in three known ways, all accounted for exactly here:
    (a) a pulse step's STDP update ``d`` and the decay are both computed from the weight before
    the step (Lava: ``m + d - c (m - t)``; oracle: ``t + (m + d - t)(1 - c)``): Lava is larger by
    ``c d``; (b) when pre and post spike on the same step, Lava's potentiation uses the pre trace
    that already holds this step's impulse: ``+ eta+`` more (step 35, synapse (2, 4)); both
    differences are carried to later steps through each later pulse's factor (1 - c) (``D``
    below); (c) the engine scales y1 and y2 by exp(-1/65535) (EPS_Y = 1.5e-5 relative), the only
    inexact part: tolerance per synapse = EPS_Y * (sum of |depression| + |decay| terms so far)
    + 1e-12 (float64 rounding of ~40 additions of values <= 1), a few 1e-7 at most, while every
    effect tested is >= 1e-4. Weights stay in (0, 1) = [w_min, w_max], so the oracle's clip,
    which Lava's float engine does not do, is inactive (asserted).
    """
    eta_p, eta_m, tau, c, t_p = 0.04, 0.01, 5.0, 2.0**-3, 0.3
    mask = np.ones((3, 6), dtype=bool)
    mask[1, 1] = mask[2, 0] = mask[0, 4] = False  # absent: (1, 1) sees pre 1 before post 1
    w0 = np.where(mask, np.linspace(0.35, 0.65, 18).reshape(3, 6), 0.0)
    w0[0, 5] = 0.0  # present with weight 0: only the decay moves it (toward t_p)
    tag = np.where(mask, t_p, 0.0)
    pre, post = _raster(PRE, 6), _raster(POST, 3)
    gate = np.zeros((3, T), dtype=bool)
    gate[:, np.array(PULSES) - 1] = True
    conn, _ = _build("float", w0, mask, tag, pre, post, gate, eta_p, eta_m, tau, c)
    lava = _run(conn, "float", mask, [1] * T)

    rule = stdp_k.StdpRule("stdp", eta_p, eta_m, 0.0, 0.0, 1.0, 0.0, False)
    dc = sleep_k.DecayConsts("linear", "static", (1.0 - c) ** (1.0 / BLOCK), 0.0, t_p, 0.0, 1.0, 0.0,
                             False, False)
    k = math.exp(-1.0 / tau)
    m, x, y = w0.copy(), np.zeros(6), np.zeros(3)
    known = np.zeros_like(m)  # D: Lava minus oracle from (a) and (b)
    tol = np.full(m.shape, 1e-12)
    oracle, tols = [], []
    for step in range(1, T + 1):
        s_pre, s_post = pre[:, step - 1], post[:, step - 1]
        x, y = stdp_k.trace_step(x, k), stdp_k.trace_step(y, k)
        dm = stdp_k.stdp_delta(rule, m, mask, s_pre, s_post, x, y)
        tol += EPS_Y * np.where(mask & s_pre[None, :], eta_m * y[:, None], 0.0)  # (c), depression
        if step in PULSES:  # Lava's decay uses its own pre-step weight, oracle + D
            tol += EPS_Y * c * (np.abs(m - t_p) + np.abs(known)) * mask  # (c), decay
            known = known * (1.0 - c) + c * dm  # (a)
        known += np.where(mask, eta_p * np.outer(s_post, s_pre), 0.0)  # (b)
        m = stdp_k.apply_epoch(rule, m, dm, mask)
        if step in PULSES:
            m = sleep_k.decay_block(dc, m, mask, None, None, BLOCK)
        x, y = stdp_k.trace_add(x, s_pre), stdp_k.trace_add(y, s_post)
        oracle.append(m.copy())
        tols.append(tol.copy())
        diff = lava[step - 1] - (m + known)
        assert np.all(np.abs(diff) <= tol), (step, np.abs(diff).max(), tol.max())
    oracle, tols = np.array(oracle), np.array(tols)
    assert oracle.max() < 1.0 and oracle[:, mask].min() >= 0.0  # the oracle's clip never acts
    assert tol.max() < 1e-5

    # the known differences are real (so the comparison above sees them)
    d_lava = lava - oracle
    assert abs(d_lava[15, 0, 1] - c * eta_p * k**5) <= tols[15, 0, 1]  # (a): pre 1 at 11, post 0 at 16
    assert abs(d_lava[34, 2, 4] - eta_p) <= tols[34, 2, 4]  # (b): pre 4 and post 2 both at step 35
    assert c * eta_p * k**5 > 100 * tols[15, 0, 1]

    # absent synapses stay absent (_run checks the entry count every step) and at 0
    assert np.all(lava[:, ~mask] == 0)
    # present at weight 0: grows only on pulses, by c * t_p, then toward t_p
    assert lava[7, 0, 5] == pytest.approx(c * t_p * (1 - EPS_Y), rel=0, abs=1e-12)
    # eta+ != eta-: one pre->post pair (pre 2 at 18, post 1 at 20) and one post->pre pair (post 2
    # at 26, pre 3 at 28), both 2 steps apart and awake-like (no pulse on those steps)
    pot = lava[19, 1, 2] - lava[18, 1, 2]
    dep = lava[27, 2, 3] - lava[26, 2, 3]
    assert pot == pytest.approx(eta_p * k**2, rel=1e-12)
    assert dep == pytest.approx(-eta_m * k**2 * (1 - EPS_Y), rel=1e-12)
    assert -dep / pot == pytest.approx(eta_m / eta_p, rel=2 * EPS_Y)

    # the decay happens exactly on the pulse steps: a step without pulse and without any spike
    # of the synapse's pre or post neuron leaves it bit-identical; a pulse moves every present
    # synapse; step 40 (t % 8 == 0 but awake: no pulse) and 33..39 change nothing
    prev = np.vstack([w0[None], lava[:-1]])
    moved = lava != prev
    for step in range(1, T + 1):
        touched = mask & (pre[None, :, step - 1] | post[:, None, step - 1])
        if step in PULSES:
            assert moved[step - 1][mask].all(), step
            quiet = mask & ~touched
            want = -c * (prev[step - 1] - t_p) * (1 - EPS_Y)
            assert np.allclose((lava - prev)[step - 1][quiet], want[quiet], rtol=0, atol=1e-12), step
        else:
            assert not moved[step - 1][mask & ~touched].any(), step
    assert np.array_equal(lava[39], lava[35])  # steps 37..40 awake and silent: frozen


@pytest.mark.timeout(LAVA_TIMEOUT)
def test_fixed_decay_matches_the_expected_mean_within_standard_errors():
    """Fixed point (Lava's ``bit_approximate_loihi`` LearningSparse model): 16 decay pulses, no
    spikes, 410 synapses with 8-bit weights drawn in [200, 255], tag t = 40, c = 2**-4 (D = 2**-5,
    y2 = 64, :func:`decay_factors`). Per pulse each weight becomes ``w + (t - w)/16`` rounded
    stochastically to an integer (Lava: one uniform draw per epoch shared by all synapses;
    ConnVarRandom is seeded with 2 by default, so the run is reproducible), an unbiased rounding
    of an affine map, so E[w_N - t] = (1 - c)**N (w_0 - t) exactly.

    Compared: the mean over synapses of w_N - t against (1 - c)**N times the mean of w_0 - t.
    Standard error: one pulse's rounding error of the mean, mean_i(1[r < f_i] - f_i) with one
    shared r, has variance <= 1/4 (fully correlated synapses, the worst case); errors of
    different pulses are independent and shrink by (1 - c) per later pulse, so
    SE <= sqrt(sum_j (1 - c)**(2 j) / 4), j < N (1.3 LSB). Asserted: within 4 SE (the expected
    mean is ~67 LSB above t; c 10 % too large or small moves it by ~7 LSB, 5 SE). Also: every
    weight moves by less than sum_j (1 - c)**j <= 1/c = 16 LSB from its own expectation, absent
    synapses stay absent, and no weight moves between pulses.
    """
    rng = np.random.default_rng(11)
    n_post, n_pre, n_pulses, block, t_p, c = 16, 32, 16, 4, 40, 2.0**-4
    mask = rng.random((n_post, n_pre)) < 0.8
    w0 = np.where(mask, rng.integers(200, 256, (n_post, n_pre)), 0)
    tag = np.where(mask, t_p, 0)
    steps = n_pulses * block
    gate = np.zeros((n_post, steps), dtype=bool)
    gate[:, block - 1::block] = True
    zeros_pre, zeros_post = np.zeros((n_pre, steps), bool), np.zeros((n_post, steps), bool)
    conn, _ = _build("fixed", w0, mask, tag, zeros_pre, zeros_post, gate, 10, 10, 5.0, c)
    # read after the first 3 steps (no pulse yet) and after every pulse
    w = _run(conn, "fixed", mask, [block - 1, 1] + [block] * (n_pulses - 1))
    assert np.array_equal(w[0], w0)  # no change before the first pulse
    w = w[1:]
    assert np.all(w == np.rint(w)) and np.all(w[:, ~mask] == 0)
    d0 = (w0 - t_p)[mask].astype(float)
    expected = (1 - c) ** n_pulses * d0
    se = math.sqrt(sum((1 - c) ** (2 * j) for j in range(n_pulses)) / 4)
    got = (w[-1][mask] - t_p).mean()
    assert abs(got - expected.mean()) < 4 * se, (got, expected.mean(), se)
    assert expected.mean() - (1 - 1.1 * c) ** n_pulses * d0.mean() > 4 * se  # the test can fail
    assert np.all(np.abs(w[-1][mask] - t_p - expected) < 1 / c)
    # each pulse moves every weight toward t by its exact share, rounded either way
    # (also near 255, where Lava's 16-bit accumulator would cut a rule that adds ``t`` first)
    prev = np.vstack([w0[None], w[:-1]])
    for p in range(n_pulses):
        exact = prev[p][mask] + (t_p - prev[p][mask]) * c
        assert np.all(np.abs(w[p][mask] - exact) < 1), p
    assert (w0[mask] == 255).any()
