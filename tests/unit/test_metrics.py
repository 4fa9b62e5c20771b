"""phi, weight health and diversity on constructed inputs with hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lava_sleep import params as P
from lava_sleep.metrics import (
    ENTROPY_BINS,
    diversity,
    entropy_bits,
    pathway_bounds,
    pathway_health,
    phi,
    weight_health,
)


def test_phi_one_dimensional_clusters_by_hand():
    # class 0 at 0 and 2 (mean 1), class 1 at 10 and 12 (mean 11); overall mean 6.
    # S_B = 2*(1-6)^2 + 2*(11-6)^2 = 100;  S_W = 4 * 1^2 = 4  ->  phi = 25
    x = np.array([[0.0], [2.0], [10.0], [12.0]])
    assert phi(x, np.array([0, 0, 1, 1])) == pytest.approx(25.0)


def test_phi_two_dimensional_unequal_classes_by_hand():
    # class 0: (0,0), (2,0), (1,3)  mean (1,1);  class 1: (5,5)  mean (5,5); overall mean (2,2)
    # S_B = 3*((1-2)^2+(1-2)^2) + 1*((5-2)^2+(5-2)^2) = 6 + 18 = 24
    # S_W = (1+1) + (1+1) + (0+4) + 0 = 8  ->  phi = 3
    x = np.array([[0, 0], [2, 0], [1, 3], [5, 5]], dtype=float)
    assert phi(x, np.array([0, 0, 0, 1])) == pytest.approx(3.0)


def test_phi_is_invariant_to_label_values_and_row_order():
    x = np.array([[0, 0], [2, 0], [1, 3], [5, 5]], dtype=float)
    perm = [3, 1, 0, 2]
    assert phi(x[perm], np.array([4, 4, 4, 9])[perm]) == pytest.approx(3.0)


def test_phi_degenerate_cases():
    assert math.isnan(phi(np.ones((3, 2)), np.zeros(3, dtype=int)))  # one class
    assert math.isinf(phi(np.array([[0.0], [0.0], [1.0]]), np.array([0, 0, 1])))  # no within scatter
    assert math.isnan(phi(np.zeros((4, 2)), np.array([0, 0, 1, 1])))  # nothing at all


def test_entropy_by_hand():
    assert entropy_bits([], 0, 1) == 0.0
    assert entropy_bits([0.1] * 5, 0, 1) == 0.0  # one bin
    assert entropy_bits([0.01, 0.99], 0, 1) == pytest.approx(1.0)  # two equally full bins
    uniform = (np.arange(ENTROPY_BINS) + 0.5) / ENTROPY_BINS  # one value in every bin
    assert entropy_bits(uniform, 0, 1) == pytest.approx(math.log2(ENTROPY_BINS))
    # the top edge belongs to the last bin, values outside are clipped into the range
    assert entropy_bits([1.0, 1.5], 0, 1) == 0.0


def test_pathway_health_by_hand():
    m = np.array([
        [0.0, 1.0, 0.5, 0.7],
        [1.0, 0.25, 0.0, 0.9],
    ])
    mask = np.array([
        [True, True, True, False],  # 0.7 is structurally absent: ignored everywhere
        [True, True, True, True],
    ])
    h = pathway_health(m, mask, w_min=0.0, w_max=1.0)
    vals = np.array([0.0, 1.0, 0.5, 1.0, 0.25, 0.0, 0.9])
    assert h["n_synapses"] == 7
    assert h["total"] == pytest.approx(vals.sum())
    assert h["mean"] == pytest.approx(vals.mean())
    assert h["std"] == pytest.approx(vals.std())
    assert h["at_min"] == pytest.approx(2 / 7)
    assert h["at_max"] == pytest.approx(2 / 7)
    assert h["saturation"] == pytest.approx(4 / 7)
    # incoming totals per post neuron: 1.5 and 2.15
    assert h["in_mean"] == pytest.approx((1.5 + 2.15) / 2)
    assert h["in_min"] == pytest.approx(1.5) and h["in_max"] == pytest.approx(2.15)
    assert h["in_cv"] == pytest.approx(np.std([1.5, 2.15]) / np.mean([1.5, 2.15]))
    # histogram over 32 bins of [0, 1]: bins 0 (x2), 31 (x2: 1.0 and 1.0), 16 (0.5), 8 (0.25), 28 (0.9)
    p = np.array([2, 2, 1, 1, 1]) / 7
    assert h["entropy"] == pytest.approx(-np.sum(p * np.log2(p)))
    assert h["entropy_norm"] == pytest.approx(h["entropy"] / 5.0)


def test_saturation_uses_the_given_bounds_and_signs_do_not_matter():
    m = -np.array([[0.2, 1.5, 0.2, 0.9]])  # inhibitory weights come signed
    h = pathway_health(m, np.ones_like(m, dtype=bool), w_min=0.2, w_max=1.5)
    assert h["at_min"] == pytest.approx(0.5) and h["at_max"] == pytest.approx(0.25)


def test_weight_health_covers_every_pathway_and_empty_pathways():
    w = {"XE": np.full((2, 3), 0.15), "IE": np.zeros((2, 1))}
    masks = {"XE": np.ones((2, 3), bool), "IE": np.zeros((2, 1), bool)}
    h = weight_health(w, masks, {"XE": (0.0, 1.0), "IE": (0.0, 1.5)})
    assert set(h) == {"XE", "IE"}
    assert h["XE"]["saturation"] == 0.0 and h["XE"]["entropy"] == 0.0
    assert h["IE"]["n_synapses"] == 0 and h["IE"]["total"] == 0.0 and h["IE"]["saturation"] == 0.0


def test_pathway_bounds_float_and_fixed():
    p = P.paper()
    fb = pathway_bounds(p, "float")
    assert fb["XE"] == (0.0, 1.0) and fb["IE"] == (0.0, 1.5)
    from lava_sleep.fixed import to_fixed

    fc = to_fixed(p)
    xb = pathway_bounds(p, "fixed")
    assert xb["EE"] == (fc.pathways["EE"].m_min * fc.pathways["EE"].lsb,
                        fc.pathways["EE"].m_max * fc.pathways["EE"].lsb)
    assert xb["EE"][1] <= 1.0 + 1e-12


def test_diversity_by_hand():
    d = diversity(np.array([0, 0, 2, -1, 2, 2]), 4)
    assert d["classes_represented"] == 2
    assert d["n_unassigned"] == 1
    assert d["per_class"] == [2, 0, 3, 0]
    p = np.array([2, 3]) / 5
    assert d["entropy_norm"] == pytest.approx(-np.sum(p * np.log2(p)) / 2.0)
    none = diversity(np.array([-1, -1]), 10)
    assert none["classes_represented"] == 0 and none["entropy_norm"] == 0.0
