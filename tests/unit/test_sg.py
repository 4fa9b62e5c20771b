"""Surrogate-gradient SNN baseline and its sleep intervention (lava_sleep.sg, docs/sg.md)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from lava_sleep.params import ParamError, SleepParams
from lava_sleep.sg import SGDataError, SGParams, SGTrainer, evaluate_sg, sg_preset, train_sg
from lava_sleep.sg import model as sgm

TINY = SGParams(hidden=12, n_classes=3, steps=5, epochs=1, batch_size=4, lr=1e-2, sleep_period=3,
                sleep_batch=2, eval_batch=5)


def tiny_data(n=24, p=9, n_classes=3, seed=7):
    """Random test images (test data only: a NumPy generator with a fixed seed)."""
    g = np.random.default_rng(seed)
    return (g.integers(0, 256, size=(n, p), dtype=np.uint8),
            g.integers(0, n_classes, size=n).astype(np.int64))


# -- surrogate derivative and LIF dynamics ------------------------------------
def test_surrogate_derivative_hand_values():
    # 1 / (1 + k|x|)^2: k=25: x=0 -> 1, x=0.04 -> 1/4, x=-0.12 -> 1/16; k=2: x=1.5 -> 1/16
    x = torch.tensor([0.0, 0.04, -0.12], dtype=torch.float64, requires_grad=True)
    s = sgm.spike(x, 25.0)
    assert s.tolist() == [0.0, 1.0, 0.0]  # spike only strictly above threshold
    s.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.25, 0.0625], rtol=1e-12)
    assert sgm.surrogate_derivative(1.5, 2.0) == pytest.approx(1.0 / 16.0)
    y = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
    (3.0 * sgm.spike(y, 2.0)).sum().backward()  # chain rule: upstream gradient 3
    assert y.grad.item() == pytest.approx(3.0 / 16.0)


def test_lif_layer_hand_computed():
    # beta 0.5, threshold 1, constant current 0.6:
    # U = 0.6, 0.9, 1.05 (spike), 0.525 + 0.6 - 1 = 0.125, 0.6625
    cur = torch.full((5, 1, 1), 0.6, dtype=torch.float64)
    spk, mem = sgm.lif_layer(cur, 0.5, 1.0, 25.0)
    assert spk.flatten().tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    np.testing.assert_allclose(mem.flatten().numpy(), [0.6, 0.9, 1.05, 0.125, 0.6625], rtol=1e-12)


def test_input_encoding_rates_and_extremes():
    img = np.array([[0, 255, 128] * 50], dtype=np.uint8)  # 150 pixels
    thr = torch.from_numpy(sgm.pixel_thresholds(img, 1.0))
    x = sgm.train_input(3, 0, 400, thr)  # (T, 1, P)
    assert x.shape == (400, 1, 150)
    assert x[..., 0::3].sum() == 0 and bool((x[..., 1::3] == 1).all())
    rate = float(x[..., 2::3].mean())  # expected 128/255 = 0.502; sd of the mean ~0.004
    assert abs(rate - 128 / 255) < 0.02
    half = torch.from_numpy(sgm.pixel_thresholds(img, 0.5))
    assert abs(float(sgm.train_input(3, 0, 400, half)[..., 1::3].mean()) - 0.5) < 0.02
    assert torch.equal(x, sgm.train_input(3, 0, 400, thr))  # pure function of (seed, step, index)


# -- learning -------------------------------------------------------------------
def separable_data(n, seed):
    """Two classes: the bright half of a 16-pixel image (left half = 0, right half = 1), noisy."""
    g = np.random.default_rng(seed)
    labels = g.integers(0, 2, size=n)
    imgs = g.integers(0, 40, size=(n, 16))
    for i, c in enumerate(labels):
        imgs[i, 8 * c:8 * c + 8] = g.integers(180, 256, size=8)
    return imgs.astype(np.uint8), labels.astype(np.int64)


def test_surrogate_gradient_reaches_hidden_weights():
    imgs, labels = separable_data(8, 1)
    p = dataclasses.replace(TINY, n_classes=2)
    tr = SGTrainer(p, SleepParams(), 16, seed=0)
    w1 = tr.weights["W1"].detach().clone()
    tr.wake_iteration(imgs, labels)
    g = tr.weights["W1"].grad
    assert g is not None and float(g.abs().sum()) > 0  # the hidden spikes pass the surrogate gradient
    assert not torch.equal(w1, tr.weights["W1"].detach())


def test_learns_separable_problem():
    imgs, labels = separable_data(96, 2)
    timgs, tlabels = separable_data(64, 3)
    p = SGParams(hidden=24, n_classes=2, steps=10, epochs=8, batch_size=4, lr=5e-3)  # 192 iterations
    run = train_sg(p, SleepParams(), imgs, labels, seed=5, progress=False)
    assert run.wake_steps == 8 * 24
    assert run.history[0]["loss"] > run.history[-1]["loss"]
    assert evaluate_sg(run.state, p, timgs, tlabels)["accuracy"] >= 0.95


# -- sleep ----------------------------------------------------------------------
def trained_trainer(sleep: SleepParams, params=TINY, iterations=3):
    imgs, labels = tiny_data()
    tr = SGTrainer(params, sleep, imgs.shape[1], seed=11)
    for i in range(iterations):
        tr.wake_iteration(imgs[4 * i:4 * i + 4], labels[4 * i:4 * i + 4])
    return tr


def test_sleep_leaves_adam_state_unchanged_and_tracks_same_tensors():
    tr = trained_trainer(SleepParams(fraction=0.5, decay_noise=0.1, tol=0.0))
    before = {id(p): {k: (v.clone() if torch.is_tensor(v) else v) for k, v in st.items()}
              for p, st in tr.optimizer.state.items()}
    w_before = {k: v.detach().clone() for k, v in tr.weights.items()}
    ep = tr.sleep_episode()
    assert ep["used"] == ep["planned"] == 3  # period 3, f 0.5: 3 sleep iterations
    for p, st in tr.optimizer.state.items():
        for k, v in st.items():
            assert torch.equal(v, before[id(p)][k]), k  # step, exp_avg, exp_avg_sq untouched
    assert all(a is b for a, b in zip(tr.optimizer.param_groups[0]["params"], tr.weights.values(),
                                      strict=True))
    assert not torch.equal(w_before["W1"], tr.weights["W1"].detach())  # sleep changed weights ...
    assert torch.equal(w_before["b1"], tr.weights["b1"].detach())  # ... but not biases
    step = float(next(iter(tr.optimizer.state.values()))["step"])
    imgs, labels = tiny_data()
    tr.wake_iteration(imgs[:4], labels[:4])
    assert float(next(iter(tr.optimizer.state.values()))["step"]) == step + 1


def test_sleep_iteration_changes_no_weight_and_noise_drives_activity():
    tr = trained_trainer(SleepParams(fraction=0.5))
    w = {k: v.detach().clone() for k, v in tr.weights.items()}
    with torch.no_grad():
        tr.weights["b1"].fill_(0.0)  # no bias drive: all activity is noise-driven
    quiet = SGTrainer(dataclasses.replace(TINY, sigma_sleep=0.0), SleepParams(fraction=0.5), 9, seed=11)
    with torch.no_grad():
        quiet.weights["b1"].fill_(0.0)
    noisy = dataclasses.replace(TINY, sigma_sleep=1.0, hidden=200, sleep_batch=4)
    loud = SGTrainer(noisy, SleepParams(fraction=0.5), 9, seed=11)
    with torch.no_grad():
        loud.weights["b1"].fill_(0.0)
    assert quiet.sleep_iteration()[0] == 0.0  # silenced input, no noise: silent
    assert loud.sleep_iteration()[0] > 0.05  # noise sd 1 per step, beta 0.95: frequent spikes
    tr.sleep_iteration()
    for k in ("W1", "W2", "b2"):
        assert torch.equal(w[k], tr.weights[k].detach())
    assert tr.sleep_steps == 1


def grow(tr, factor):
    """Simulate wake-phase weight growth so that the decay has something to undo."""
    with torch.no_grad():
        for n in sgm.LAYERS:
            tr.weights[n].mul_(factor)


@pytest.mark.parametrize("form", ["log", "linear"])
def test_static_decay_matches_formula_and_keeps_signs(form):
    sp = SleepParams(fraction=0.5, lam=0.99, form=form, target="static", decay_noise=0.0, block=100,
                     tol=0.0)
    tr = trained_trainer(sp)
    grow(tr, 1.7)
    w0 = {n: tr.weights[n].detach().double().numpy().copy() for n in sgm.LAYERS}
    tr.sleep_episode()  # 3 sleep iterations, settled once: K = 3 * steps = 15 time steps
    c = 1.0 - 0.99 ** 15
    for n in sgm.LAYERS:
        t = tr.decay_consts[n].static_target
        m0 = np.abs(w0[n])
        m = t * (m0 / t) ** (1 - c) if form == "log" else t + (m0 - t) * (1 - c)
        new = tr.weights[n].detach().double().numpy()
        np.testing.assert_allclose(new, np.sign(w0[n]) * m, rtol=2e-6, atol=1e-7)
        assert np.all(np.sign(new) == np.sign(w0[n]))
        assert np.all(np.abs(np.abs(new) - t) <= np.abs(m0 - t) + 1e-7)  # toward the baseline
        assert np.abs(new).sum() < m0.sum()  # grown weights shrink (the paper code pulled them up)


@pytest.mark.parametrize("target", ["group", "neuron"])
def test_scaling_decay_moves_totals_to_targets_keeping_relative_weights(target):
    sp = SleepParams(fraction=0.5, lam=0.99, target=target, decay_noise=0.0, block=100, tol=0.0)
    tr = trained_trainer(sp)
    grow(tr, 2.0)
    w0 = {n: tr.weights[n].detach().double().numpy().copy() for n in sgm.LAYERS}
    ep = tr.sleep_episode()
    c = 1.0 - 0.99 ** 15
    for n in sgm.LAYERS:
        new = tr.weights[n].detach().double().numpy()
        assert np.all(np.sign(new) == np.sign(w0[n]))
        ratio = new / w0[n]  # one factor per matrix (group) or per post-neuron row (neuron)
        if target == "group":
            expect = (tr.total0[n] / np.abs(w0[n]).sum()) ** c
            np.testing.assert_allclose(ratio, expect, rtol=2e-6)
        else:
            rows0 = tr.row_total0[n].double().numpy()
            expect = (rows0 / np.abs(w0[n]).sum(1)) ** c
            np.testing.assert_allclose(ratio, np.broadcast_to(expect[:, None], ratio.shape), rtol=2e-6)
        assert tr.total0[n] < ep["totals_after"][n] < ep["totals_before"][n]


def test_decay_noise_is_seeded_and_keeps_signs():
    sp = SleepParams(fraction=0.5, lam=0.9, target="static", decay_noise=0.5, tol=0.0)
    a, b = trained_trainer(sp), trained_trainer(sp)
    a.sleep_episode()
    b.sleep_episode()
    for n in sgm.LAYERS:
        assert torch.equal(a.weights[n], b.weights[n])
    plain = trained_trainer(dataclasses.replace(sp, decay_noise=0.0))
    w0 = plain.weights["W1"].detach().clone()
    plain.sleep_episode()
    assert not torch.equal(plain.weights["W1"], a.weights["W1"])  # noise changes the decay
    assert torch.equal(torch.sign(a.weights["W1"]), torch.sign(w0))


def test_prune_removes_synapses_for_good():
    sp = SleepParams(fraction=0.5, lam=0.99, target="static", decay_noise=0.0, w_floor=0.05, prune=True,
                     tol=0.0)
    tr = trained_trainer(sp)
    tr.sleep_episode()
    pruned = ~tr.masks["W1"]
    assert 0 < int(pruned.sum()) < pruned.numel()
    assert float(tr.weights["W1"].detach()[pruned].abs().max()) == 0.0
    imgs, labels = tiny_data()
    tr.wake_iteration(imgs[:4], labels[:4])
    assert float(tr.weights["W1"].detach()[pruned].abs().max()) == 0.0
    assert not tr.state_dict()["mask_W1"].all()


def test_early_wake_up_ends_episode_at_first_block():
    tr = trained_trainer(SleepParams(fraction=0.9, block=4, tol=1.0))  # planned 27, totals within 100 %
    ep = tr.sleep_episode()
    assert (ep["planned"], ep["used"], ep["woke_early"]) == (27, 4, True)
    assert tr.sleep_steps == 4


# -- schedule ---------------------------------------------------------------------
def test_schedule_gives_exactly_the_requested_share():
    # period 3, 6 wake iterations (24 images, batch 4) -> 2 episodes of 3 f/(1-f) on average.
    imgs, labels = tiny_data()
    expected = {0.0: 0, 0.1: 1, 0.4: 4, 0.5: 6, 0.6: 9, 0.7: 14, 0.8: 24, 0.9: 54}
    got = {}
    for f, n_sleep in expected.items():
        run = train_sg(TINY, SleepParams(fraction=f, tol=0.0), imgs, labels, seed=1, progress=False)
        assert run.wake_steps == 6
        assert run.sleep_steps == n_sleep, f
        assert sum(e["used"] for e in run.episodes) == n_sleep
        assert all(e["used"] == e["planned"] for e in run.episodes)
        assert run.history[0]["sleep_steps"] == n_sleep and run.history[0]["wake_steps"] == 6
        assert len(run.episodes) == (0 if f == 0 else 2)
        got[f] = run.sleep_share
    for f in (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        assert math.isclose(got[f], f, abs_tol=1e-12)  # exact, all distinct (authors' code collapsed them)
    assert got[0.1] == 1 / 7  # 0.1 * 3 / 0.9 per episode rounds to 0 then 1 (round-half-up schedule)


# -- reproducibility and errors ------------------------------------------------------
def test_determinism_under_seed_and_seed_dependence():
    imgs, labels = tiny_data()
    sp = SleepParams(fraction=0.3, tol=0.0, decay_noise=0.1)
    p = dataclasses.replace(TINY, epochs=2)
    a = train_sg(p, sp, imgs, labels, seed=3, progress=False)
    b = train_sg(p, sp, imgs, labels, seed=3, progress=False)
    c = train_sg(p, sp, imgs, labels, seed=4, progress=False)
    assert a.state.keys() == b.state.keys()
    for k in a.state:
        np.testing.assert_array_equal(a.state[k], b.state[k])
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.episodes == b.episodes
    assert not np.array_equal(a.state["W1"], c.state["W1"])
    ea = evaluate_sg(a.state, p, imgs, labels)
    eb = evaluate_sg(a.state, dataclasses.replace(p, eval_batch=7), imgs, labels)
    np.testing.assert_array_equal(ea["predictions"], eb["predictions"])  # batch-size independent
    assert ea["n_images"] == 24 and 0.0 <= ea["accuracy"] <= 1.0
    assert evaluate_sg(a.state, p, imgs)["accuracy"] is None


def test_param_errors():
    bad = [dict(beta=1.0), dict(beta=0.0), dict(hidden=0), dict(steps=2.5), dict(lr=0.0),
           dict(threshold=-1.0), dict(max_rate=1.5), dict(sigma_sleep=-0.1), dict(sleep_period=0),
           dict(adam_betas=(0.9, 1.0)), dict(n_classes=1), dict(batch_size=True)]
    for kw in bad:
        with pytest.raises(ParamError, match=f"SGParams.{next(iter(kw))}"):
            SGParams(**kw)
    with pytest.raises(ParamError, match="preset"):
        sg_preset("huge")
    with pytest.raises(ParamError, match="unknown SG parameter"):
        SGParams.from_dict({"hiden": 3})
    assert SGParams.from_dict(SGParams(hidden=7).to_dict()) == SGParams(hidden=7)


def test_presets():
    p = sg_preset("paper")
    assert (p.hidden, p.n_classes, p.steps, p.epochs, p.batch_size) == (1000, 10, 25, 10, 128)
    q = sg_preset("quick")
    assert q.hidden < p.hidden and q.steps * q.epochs < p.steps * p.epochs


def test_data_errors():
    imgs, labels = tiny_data()
    with pytest.raises(SGDataError, match="uint8"):
        train_sg(TINY, SleepParams(), imgs.astype(np.float32), labels, seed=0, progress=False)
    with pytest.raises(SGDataError, match="labels must lie"):
        train_sg(TINY, SleepParams(), imgs, labels + 3, seed=0, progress=False)
    with pytest.raises(SGDataError, match="seed"):
        train_sg(TINY, SleepParams(), imgs, labels, seed=-1, progress=False)
    state = SGTrainer(TINY, SleepParams(), 9, seed=0).state_dict()
    with pytest.raises(SGDataError, match="pixels"):
        evaluate_sg(state, TINY, imgs[:, :4], labels)
    with pytest.raises(SGDataError, match="hidden"):
        evaluate_sg(state, dataclasses.replace(TINY, hidden=5), imgs, labels)
    if not torch.cuda.is_available():
        with pytest.raises(SGDataError, match="CUDA"):
            evaluate_sg(state, TINY, imgs, labels, device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA device; the CPU path is tested above and CI machines have no GPU",
)
def test_cuda_input_spikes_equal_cpu_and_training_runs():
    img = np.arange(90, dtype=np.uint8).reshape(2, 45) * 2
    thr = torch.from_numpy(sgm.pixel_thresholds(img, 0.8))
    assert torch.equal(sgm.train_input(9, 10, 6, thr), sgm.train_input(9, 10, 6, thr.cuda()).cpu())
    imgs, labels = tiny_data()
    run = train_sg(TINY, SleepParams(fraction=0.5, tol=0.0), imgs, labels, seed=1, device="cuda",
                   progress=False)
    assert run.sleep_steps == 6 and run.state["W1"].shape == (12, 9)


# -- on-demand episodes and restricted predictions (continual learning) -------
def test_on_demand_episode_equals_the_scheduled_one_and_leaves_the_schedule_alone():
    # fraction 0.5 with period 3 (TINY.sleep_period): episode 1 lasts round(3 * 0.5 / 0.5) = 3 steps
    sched = SleepParams(fraction=0.5, target="neuron", lam=0.99, tol=0.0, block=2)
    assert dataclasses.replace(sched, period=TINY.sleep_period).episode_length(1) == 3
    a = trained_trainer(sched)
    b = trained_trainer(dataclasses.replace(sched, fraction=0.0))
    ea = a.sleep_episode()
    eb = b.sleep_episode(length=3)
    assert (ea["episode"], eb["episode"]) == (1, 0)
    assert ea["used"] == eb["used"] == 3 and eb["planned"] == 3
    assert (a.n_episodes, b.n_episodes) == (1, 0)  # the on-demand episode is not a scheduled one
    assert a.sleep_steps == b.sleep_steps == 3
    for n in ("W1", "W2"):
        torch.testing.assert_close(a.weights[n], b.weights[n], rtol=0, atol=0)
    assert b.sleep_episode(length=0)["used"] == 0
    with pytest.raises(SGDataError, match="integer >= 0"):
        b.sleep_episode(length=-1)


def test_evaluate_restricted_to_classes():
    x, y = tiny_data()
    tr = trained_trainer(SleepParams())
    st = tr.state_dict()
    free = evaluate_sg(st, TINY, x, y)
    assert np.array_equal(evaluate_sg(st, TINY, x, y, classes=[0, 1, 2])["predictions"], free["predictions"])
    only = evaluate_sg(st, TINY, x, y, classes=[2, 0])
    assert set(only["predictions"].tolist()) <= {0, 2}
    # where the free argmax already is 0 or 2, restricting cannot change it
    keep = np.isin(free["predictions"], [0, 2])
    assert np.array_equal(only["predictions"][keep], free["predictions"][keep])
    assert np.array_equal(evaluate_sg(st, TINY, x, y, classes=[1])["predictions"], np.ones(len(x), np.int64))
    with pytest.raises(SGDataError, match="classes"):
        evaluate_sg(st, TINY, x, y, classes=[3])
