"""Metrics of MODEL.md 5: clustering score phi, weight health, representational diversity.

* :func:`phi` - between-class over within-class scatter of per-image rate vectors
  (trace ratio; larger = classes form tighter, better separated clusters).
* :func:`weight_health` - per pathway: mean, standard deviation and total |w| over
  the existing synapses, share of synapses at the clip bounds (saturation),
  entropy of the |w| histogram, summary of the per-neuron incoming totals.
* :func:`diversity` - how many distinct classes the E neurons prefer.

All functions are pure NumPy and return plain Python numbers (JSON-ready).
"""

from __future__ import annotations

import math

import numpy as np

#: Histogram bins over [w_min, w_max] for the weight entropy.
ENTROPY_BINS = 32
#: Relative tolerance (of w_max) for "at a clip bound".
BOUND_RTOL = 1e-6


def phi(features, labels) -> float:
    """Clustering score: between-class over within-class scatter (trace ratio).

    With ``mu`` the mean of all rows of ``features`` (n_images, n_features) and
    ``mu_c`` the mean of class c (n_c images)::

        S_B = sum_c n_c * ||mu_c - mu||**2
        S_W = sum_i ||x_i - mu_{c(i)}||**2
        phi = S_B / S_W

    No degrees-of-freedom normalisation. Returns NaN with fewer than two classes
    or when both scatters are 0, and +inf when only S_W is 0.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"features (n, d) and labels (n,) expected, got {x.shape} and {y.shape}")
    classes, inv = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        return float("nan")
    n_c = np.bincount(inv).astype(np.float64)
    sums = np.zeros((len(classes), x.shape[1]))
    np.add.at(sums, inv, x)
    means = sums / n_c[:, None]
    mu = x.mean(axis=0)
    s_b = float(np.sum(n_c * np.sum((means - mu) ** 2, axis=1)))
    s_w = float(np.sum((x - means[inv]) ** 2))
    if s_w == 0.0:
        return float("nan") if s_b == 0.0 else float("inf")
    return s_b / s_w


def entropy_bits(values, lo: float, hi: float, bins: int = ENTROPY_BINS) -> float:
    """Shannon entropy (bits) of the histogram of ``values`` over [lo, hi] in ``bins``
    equal bins (the top edge belongs to the last bin). 0 for an empty input."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return 0.0
    counts, _ = np.histogram(np.clip(v, lo, hi), bins=bins, range=(lo, hi))
    p = counts[counts > 0] / v.size
    return float(-np.sum(p * np.log2(p)))


def pathway_health(magnitudes, mask, w_min: float, w_max: float, bins: int = ENTROPY_BINS) -> dict:
    """Health of one pathway from |w| (post, pre) and its structural mask.

    Returns a dict: n_synapses, mean, std, total (of |w| over existing synapses),
    at_min, at_max (shares at the clip bounds, within BOUND_RTOL * w_max),
    saturation (at_min + at_max), entropy (bits), entropy_norm (entropy / log2(bins),
    in [0, 1]), and incoming totals per post neuron: in_mean, in_std, in_min, in_max,
    in_cv (std / mean, 0 when the mean is 0).
    """
    m = np.abs(np.asarray(magnitudes, dtype=np.float64))
    mask = np.asarray(mask, dtype=bool)
    vals = m[mask]
    n = int(vals.size)
    tol = BOUND_RTOL * w_max
    rows = np.where(mask, m, 0.0).sum(axis=1) if m.ndim == 2 else np.zeros(0)
    at_min = float(np.mean(vals <= w_min + tol)) if n else 0.0
    at_max = float(np.mean(vals >= w_max - tol)) if n else 0.0
    ent = entropy_bits(vals, w_min, w_max, bins)
    in_mean = float(rows.mean()) if rows.size else 0.0
    in_std = float(rows.std()) if rows.size else 0.0
    return {
        "n_synapses": n,
        "mean": float(vals.mean()) if n else 0.0,
        "std": float(vals.std()) if n else 0.0,
        "total": float(vals.sum()),
        "at_min": at_min,
        "at_max": at_max,
        "saturation": at_min + at_max,
        "entropy": ent,
        "entropy_norm": ent / math.log2(bins) if bins > 1 else 0.0,
        "in_mean": in_mean,
        "in_std": in_std,
        "in_min": float(rows.min()) if rows.size else 0.0,
        "in_max": float(rows.max()) if rows.size else 0.0,
        "in_cv": in_std / in_mean if in_mean > 0 else 0.0,
    }


def pathway_bounds(params, mode: str = "float") -> dict[str, tuple[float, float]]:
    """Clip bounds [w_min, w_max] of |w| per pathway, as the simulator applies them
    (fixed point: the bounds of the integer grid, dequantized)."""
    if mode == "fixed":
        from lava_sleep.fixed import to_fixed

        fc = to_fixed(params)
        return {n: (pf.m_min * pf.lsb, pf.m_max * pf.lsb) for n, pf in fc.pathways.items()}
    return {pw.name: (pw.w_min, pw.w_max) for pw in params.network.pathways}


def weight_health(weights: dict, masks: dict, bounds: dict, names=None) -> dict:
    """:func:`pathway_health` for every pathway in ``names`` (default: all in ``weights``).

    weights: {name: signed or magnitude array (post, pre)}; masks: {name: bool array};
    bounds: {name: (w_min, w_max)} (see :func:`pathway_bounds`).
    """
    names = list(weights) if names is None else list(names)
    return {n: pathway_health(weights[n], masks[n], *bounds[n]) for n in names}


def diversity(assignments, n_classes: int) -> dict:
    """Representational diversity of the E population from its label assignment.

    assignments: (n_neurons,) class per neuron, negative = unassigned (never fired).
    Returns: classes_represented (distinct preferred classes), n_unassigned,
    per_class (neurons per class, list of n_classes ints), entropy_norm (entropy of
    per_class over log2(n_classes), in [0, 1]; 0 when nobody is assigned).
    """
    a = np.asarray(assignments, dtype=np.int64)
    assigned = a[a >= 0]
    per_class = np.bincount(assigned, minlength=n_classes)[:n_classes]
    ent = 0.0
    if assigned.size and n_classes > 1:
        p = per_class[per_class > 0] / assigned.size
        ent = float(-np.sum(p * np.log2(p)) / math.log2(n_classes))
    return {
        "classes_represented": int(np.count_nonzero(per_class)),
        "n_unassigned": int(np.sum(a < 0)),
        "per_class": [int(c) for c in per_class],
        "entropy_norm": ent,
    }
