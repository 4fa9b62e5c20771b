"""Helpers of the Lava tests: a small active network and runners that always stop Lava.

The network is the brief's small one (16 inputs = image_size 4, 20 E, 5 I) with
denser, stronger X->E input and larger learning rates than the paper, so that
500+ steps contain hundreds of E spikes, real weight changes and three full
sleep episodes (period 200 wake steps, fraction 0.2 -> 50 sleep steps each).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lava_sleep import params as P
from lava_sleep.reference import ReferenceSimulator

#: Seconds allowed to one Lava test (compilation included); generous for loaded machines.
LAVA_TIMEOUT = 120


def active_params(mode: str = "float", **sleep) -> P.ModelParams:
    """Small network with visible activity, STDP on XE and EE, sleep every 200 wake steps."""
    net = P.NetworkParams(n_exc=20, n_inh=5)
    net = net.with_pathway("XE", p=0.5, w_init=0.6, w_init_jitter=0.3, eta_plus=0.05, eta_minus=0.05)
    net = net.with_pathway("EE", w_init_jitter=0.3, eta_plus=0.05, eta_minus=0.05)
    sleep_kw = {"fraction": 0.2, "period": 200, "lam": 0.999, "block": 10, "tol": 0.0,
                "form": "linear" if mode == "fixed" else "log"}
    sleep_kw.update(sleep)
    return P.ModelParams(
        input=P.InputParams(image_size=4, steps_per_image=50, max_rate_hz=200.0),
        neuron=P.NeuronParams(sigma_wake=3.0, sigma_sleep=6.0),
        network=net,
        sleep=P.SleepParams(**sleep_kw),
    )


def features_params(mode: str = "float", rule: str = "diehl_cook") -> P.ModelParams:
    """Tiny network with the five Diehl & Cook features on at once, plus sleep.

    16 inputs, 10 E, 10 I (n_inh == n_exc: EI ``one_to_one``, IE ``all_but_self``); image slots
    of 20 presentation + 10 rest steps; X->E with ``rule`` (default ``diehl_cook``, mu 1,
    x_tar 0.3) and per-image normalization, E->E stdp; slow adaptation decay (``a_decay_every``
    7, delta_a 0.5), frozen in runs with learning off (``freeze_adaptation``); sleep every 25 wake
    steps (fraction 0.3, blocks of 5), so over 5 images (150 wake steps, 64 sleep steps) episodes
    start in a presentation, in a rest (wake step 25), at an image end (50) and right after a
    normalization (150, the last slot's end).
    """
    net = P.NetworkParams(n_exc=10, n_inh=10)
    net = net.with_pathway("XE", p=0.6, w_init=1.2, w_max=1.5, w_init_jitter=0.3, eta_plus=0.05,
                           eta_minus=0.05, rule=rule, mu=1.0, alpha=0.3, normalize=True)
    net = net.with_pathway("EE", w_init_jitter=0.3, eta_plus=0.05, eta_minus=0.05)
    net = net.with_pathway("EI", pattern="one_to_one", w_init=1.5)
    net = net.with_pathway("IE", pattern="all_but_self", w_init=-0.3)
    return P.ModelParams(
        input=P.InputParams(image_size=4, steps_per_image=20, rest_steps=10, max_rate_hz=400.0),
        neuron=P.NeuronParams(sigma_wake=4.0, sigma_sleep=6.0, delta_a=0.5, tau_a=200.0, a_decay_every=7,
                              freeze_adaptation=True),
        network=net,
        sleep=P.SleepParams(fraction=0.3, period=25, lam=0.99, block=5, tol=0.0,
                            form="linear" if mode == "fixed" else "log"),
    )


def with_stdp(p: P.ModelParams, **changes) -> P.ModelParams:
    return dataclasses.replace(p, stdp=dataclasses.replace(p.stdp, **changes))


def make_test_images(n: int = 12, seed: int = 2024) -> np.ndarray:
    """n random images of 16 pixels (50 wake steps each)."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 16), dtype=np.uint8)


def run_oracle(p: P.ModelParams, seed: int, mode: str, images: np.ndarray, **kw):
    sim = ReferenceSimulator(p, seed, mode=mode)
    out = sim.run(images, record_spikes=True, **kw)
    return out, sim.state_dict()


def run_oracle_calls(p: P.ModelParams, seed: int, mode: str, calls):
    """The oracle over ``calls``, a list of (images, learn) (one run() each).

    Returns (list of RunOutput, list of state_dict after each call).
    """
    sim = ReferenceSimulator(p, seed, mode=mode)
    outs, states = [], []
    for imgs, learn in calls:
        outs.append(sim.run(imgs, learn=learn, record_spikes=True))
        states.append(sim.state_dict())
    return outs, states


def run_lava(p: P.ModelParams, seed: int, mode: str, model: str, image_calls, fused_kernel="auto",
             learns=None, **kw):
    """Run a LavaSimulator over a list of image batches (one run() each, with learning
    ``learns[i]`` when given); always closes it.

    Returns (list of RunOutput, state_dict after the last call).
    """
    from lava_sleep.lava_backend import LavaSimulator

    learns = learns or [kw.pop("learn", True)] * len(image_calls)
    sim = LavaSimulator(p, seed, mode=mode, model=model, fused_kernel=fused_kernel)
    try:
        outs = [sim.run_one(imgs, learn=learn, record_spikes=True, **kw)
                for imgs, learn in zip(image_calls, learns, strict=True)]
        return outs, sim.state_dict()
    finally:
        sim.close()


def concat_spikes(outs) -> dict[str, np.ndarray]:
    return {k: np.concatenate([o.spikes[k] for o in outs]) for k in ("X", "E", "I", "asleep")}
