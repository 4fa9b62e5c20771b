"""Build the E/I network: structural masks and initial weights (MODEL.md 1).

Weights are stored as magnitudes ``m = |w|`` in (post, pre) matrices, one per
pathway, with the sign given by the pathway (+1 for X/E sources, -1 for I).
Masks and initial magnitudes come from the project's counter-based streams, so
every backend builds the identical network from (params, seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_sleep import rng
from lava_sleep.fixed import quantize_weights, to_fixed
from lava_sleep.params import PATHWAY_NAMES, ModelParams


@dataclass
class NetworkInit:
    """Masks (bool, post x pre) and initial float magnitudes (float64) per pathway."""

    params: ModelParams
    seed: int
    masks: dict[str, np.ndarray]
    magnitudes: dict[str, np.ndarray]

    def shape(self, name: str) -> tuple[int, int]:
        return self.masks[name].shape

    def magnitudes_fixed(self) -> dict[str, np.ndarray]:
        """Initial magnitudes quantized to the fixed-point weight grid (int64)."""
        fc = to_fixed(self.params)
        return {
            n: np.where(self.masks[n], quantize_weights(m, fc.pathways[n]), 0)
            for n, m in self.magnitudes.items()
        }


def pathway_shape(params: ModelParams, name: str) -> tuple[int, int]:
    sizes = params.sizes()
    return sizes[name[1]], sizes[name[0]]


def build_network(params: ModelParams, seed: int) -> NetworkInit:
    """Draw masks and initial weights.

    Masks by ``PathwayParams.pattern``: "random" is Bernoulli(p) per synapse (no E->E
    self-connections), "one_to_one" the diagonal, "all_but_self" everything but the diagonal
    (the last two draw nothing from CONNECT).

    Initial magnitude: ``|w_init| * (1 + w_init_jitter * U(-1, 1))`` clipped to
    [w_min, w_max]; absent synapses are 0.
    """
    masks, mags = {}, {}
    for idx, pw in enumerate(params.network.pathways):
        n_post, n_pre = pathway_shape(params, pw.name)
        flat = np.arange(n_post * n_pre, dtype=np.int64)
        if pw.pattern == "random":
            kc = rng.key(seed, rng.Stream.CONNECT, idx)
            mask = rng.bernoulli(kc, flat, rng.prob_to_threshold(pw.p)).reshape(n_post, n_pre)
            if pw.name == "EE":
                np.fill_diagonal(mask, False)
        else:
            mask = np.eye(n_post, n_pre, dtype=bool)
            if pw.pattern == "all_but_self":
                mask = ~mask
        m = np.full((n_post, n_pre), abs(pw.w_init), dtype=np.float64)
        if pw.w_init_jitter > 0:
            u = rng.uniform(rng.key(seed, rng.Stream.INIT, idx), flat).reshape(n_post, n_pre)
            m = m * (1.0 + pw.w_init_jitter * (2.0 * u - 1.0))
        m = np.clip(m, pw.w_min, pw.w_max)
        masks[pw.name] = mask
        mags[pw.name] = np.where(mask, m, 0.0)
    assert tuple(masks) == PATHWAY_NAMES
    return NetworkInit(params=params, seed=seed, masks=masks, magnitudes=mags)
