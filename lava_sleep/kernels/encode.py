"""Bernoulli rate coding of images with a gate (MODEL.md 4.1).

Each pixel j of the image shown at wake step w spikes with probability
``p_j = intensity_j / 255 * max_rate_hz * dt / 1000``, drawn as
``uniform_u32(key(seed, INPUT, w), j) < round(p_j * 2**32)``: an integer compare, so
every backend draws the same spikes. Draws are keyed by the *wake* step, so a
sleep episode (gate closed: all zeros) does not shift the input stream.
"""

from __future__ import annotations

import numpy as np

from lava_sleep import rng


def input_thresholds(images, max_rate_hz: float, dt: float = 1.0) -> np.ndarray:
    """Integer Bernoulli thresholds (n_images, n_pixels) from uint8 images (n_images, n_pixels)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0-255), got {images.dtype}")
    p = images.astype(np.float64) / 255.0 * (max_rate_hz * dt / 1000.0)
    return rng.prob_to_threshold(p)


def input_spikes(seed: int, wake_step: int, thresholds, index, gate_open: bool = True):
    """Input spikes (bool) for one wake step; all False while the gate is closed (sleep)."""
    k = rng.key(seed, rng.Stream.INPUT, wake_step)
    s = rng.bernoulli(k, index, thresholds)
    if not gate_open:
        return s & False
    return s
