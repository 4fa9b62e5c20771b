"""The SG-SNN's pieces: surrogate spike function, LIF layer, seeded init and input encoding.

Every random number comes from :mod:`lava_sleep.rng` stream ``Stream.SG``; the
``draw`` sub-counter names the purpose (the table below), the ``counter`` is the
time step / iteration / image the draw belongs to, and the index is the element.
The integers are identical on CPU and CUDA (docs/sg.md, "Randomness").
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lava_sleep import rng

# Purposes of Stream.SG draws (the ``draw`` argument of rng.key); counter in brackets.
DRAW_INIT = 0  # weight/bias init [tensor number: 0 W1, 1 b1, 2 W2, 3 b2], index = flat element
DRAW_SHUFFLE = 1  # training order [epoch], index = training image
DRAW_INPUT = 2  # training input spikes [global wake time step], index = b * P + pixel
DRAW_EVAL = 3  # evaluation input spikes [image index], index = t * P + pixel
DRAW_SLEEP = 4  # sleep membrane noise, draws 4 and 5 [global sleep time step], index = b * H + h
DRAW_DECAY = 6  # decay noise of layer l, draws 6 + 2l and 7 + 2l [sleep iteration], index = synapse

LAYERS = ("W1", "W2")  # plastic weight matrices (post x pre): input -> hidden, hidden -> output


def surrogate_derivative(x, slope: float):
    """Fast-sigmoid surrogate of dH/dx (Zenke & Ganguli 2018): ``1 / (1 + slope * |x|)**2``.

    ``x`` is the membrane distance to threshold ``U - threshold``; value 1 at x = 0.
    """
    return 1.0 / (1.0 + slope * abs(x)) ** 2


class SurrogateSpike(torch.autograd.Function):
    """Heaviside spike ``S = [x > 0]`` forward, :func:`surrogate_derivative` backward."""

    @staticmethod
    def forward(ctx, x, slope: float):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * x.abs()) ** 2, None


def spike(x, slope: float):
    """Spikes of membrane distances ``x = U - threshold`` with the surrogate gradient."""
    return SurrogateSpike.apply(x, slope)


def lif_layer(current, beta: float, threshold: float, slope: float):
    """Run a LIF layer over time.

    current: (T, B, N) input per time step. Per step t (U starts at 0 for every sample):
    ``U_t = beta U_{t-1} + current_t - threshold * S_{t-1}`` (reset by subtraction, the
    reset term carries no gradient), ``S_t = [U_t > threshold]`` with the surrogate
    derivative. Returns (spikes, membranes), both (T, B, N).
    """
    u = torch.zeros_like(current[0])
    s = torch.zeros_like(current[0])
    spikes, mems = [], []
    for t in range(current.shape[0]):
        u = beta * u + current[t] - threshold * s.detach()
        s = spike(u - threshold, slope)
        spikes.append(s)
        mems.append(u)
    return torch.stack(spikes), torch.stack(mems)


def forward(weights: dict, x, params):
    """Network forward pass. x: (T, B, P) input spikes (float).

    Returns (output membranes (T, B, C), hidden spikes (T, B, H)).
    """
    h_spk, _ = lif_layer(torch.nn.functional.linear(x, weights["W1"], weights["b1"]),
                         params.beta, params.threshold, params.surrogate_slope)
    _, out_mem = lif_layer(torch.nn.functional.linear(h_spk, weights["W2"], weights["b2"]),
                           params.beta, params.threshold, params.surrogate_slope)
    return out_mem, h_spk


def loss_and_logits(out_mem, labels):
    """Loss = mean over time steps of the cross-entropy of the output membranes;
    logits (for predictions) = the time-summed output membranes."""
    t, b, c = out_mem.shape
    loss = torch.nn.functional.cross_entropy(out_mem.reshape(t * b, c), labels.repeat(t))
    return loss, out_mem.sum(0)


def init_weights(seed: int, n_input: int, hidden: int, n_classes: int) -> dict[str, np.ndarray]:
    """Seeded init like torch.nn.Linear: weights and biases uniform in +-1/sqrt(fan_in) (float32)."""
    shapes = {"W1": (hidden, n_input), "b1": (hidden,), "W2": (n_classes, hidden), "b2": (n_classes,)}
    fan_in = {"W1": n_input, "b1": n_input, "W2": hidden, "b2": hidden}
    out = {}
    for counter, (name, shape) in enumerate(shapes.items()):
        k = rng.key(seed, rng.Stream.SG, counter, DRAW_INIT)
        u = rng.uniform(k, np.arange(math.prod(shape), dtype=np.int64)).reshape(shape)
        bound = 1.0 / math.sqrt(fan_in[name])
        out[name] = ((2.0 * u - 1.0) * bound).astype(np.float32)
    return out


def shuffle_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """Training order of epoch ``epoch``: a seeded permutation of range(n)."""
    k = rng.key(seed, rng.Stream.SG, epoch, DRAW_SHUFFLE)
    return np.argsort(rng.uniform_u32(k, np.arange(n, dtype=np.int64)), kind="stable")


def pixel_thresholds(images: np.ndarray, max_rate: float) -> np.ndarray:
    """Integer Bernoulli thresholds (B, P) of uint8 images: p = intensity / 255 * max_rate."""
    return rng.prob_to_threshold(images.astype(np.float64) / 255.0 * max_rate)


def _keys(seed: int, counters, draw: int, device) -> torch.Tensor:
    return torch.tensor(rng.keys(seed, rng.Stream.SG, counters, draw), dtype=torch.int64, device=device)


def train_input(seed: int, first_step: int, steps: int, thresholds: torch.Tensor) -> torch.Tensor:
    """Training input spikes (T, B, P) float32 for wake time steps first_step .. first_step + T - 1.

    Spike iff ``uniform_u32(key(seed, SG, wake_step, DRAW_INPUT), b * P + j) < threshold_bj``.
    """
    b, p = thresholds.shape
    k = _keys(seed, range(first_step, first_step + steps), DRAW_INPUT, thresholds.device).view(-1, 1, 1)
    idx = torch.arange(b * p, dtype=torch.int64, device=thresholds.device).view(b, p)
    return rng.bernoulli(k, idx, thresholds).to(torch.float32)


def eval_input(seed: int, image_index: np.ndarray, steps: int, thresholds: torch.Tensor) -> torch.Tensor:
    """Evaluation input spikes (T, B, P): keyed per image (``counter`` = image index), so the
    result does not depend on the evaluation batch size."""
    b, p = thresholds.shape
    k = _keys(seed, (int(i) for i in image_index), DRAW_EVAL, thresholds.device).view(1, b, 1)
    idx = torch.arange(steps * p, dtype=torch.int64, device=thresholds.device).view(steps, 1, p)
    return rng.bernoulli(k, idx, thresholds.unsqueeze(0)).to(torch.float32)


def sleep_noise(seed: int, first_step: int, steps: int, batch: int, hidden: int, device) -> torch.Tensor:
    """Standard-normal (Irwin-Hall) noise (T, batch, hidden) for sleep time steps first_step ...

    Two draws (DRAW_SLEEP, DRAW_SLEEP + 1) per global sleep time step, index b * hidden + h.
    """
    counters = range(first_step, first_step + steps)
    k1 = _keys(seed, counters, DRAW_SLEEP, device).view(-1, 1, 1)
    k2 = _keys(seed, counters, DRAW_SLEEP + 1, device).view(-1, 1, 1)
    idx = torch.arange(batch * hidden, dtype=torch.int64, device=device).view(batch, hidden)
    return rng.normal_int(k1, k2, idx).to(torch.float32) / float(rng.NORMAL_INT_SD)


def decay_noise(seed: int, sleep_iteration: int, layer: int, n: int, device) -> torch.Tensor:
    """Per-synapse standard normals (n,) for the decay settlement at ``sleep_iteration``."""
    k1 = rng.key(seed, rng.Stream.SG, sleep_iteration, DRAW_DECAY + 2 * layer)
    k2 = rng.key(seed, rng.Stream.SG, sleep_iteration, DRAW_DECAY + 2 * layer + 1)
    idx = torch.arange(n, dtype=torch.int64, device=device)
    return rng.normal_int(k1, k2, idx).to(torch.float32) / float(rng.NORMAL_INT_SD)
