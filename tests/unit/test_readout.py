"""Label assignment (Diehl & Cook) and the logistic readout on hand-made count matrices."""

from __future__ import annotations

import numpy as np
import pytest

from lava_sleep.readout import (
    NO_PREDICTION,
    UNASSIGNED,
    LinearReadout,
    accuracy,
    assign_labels,
    assignment_scores,
    class_rates,
    predict_assignment,
)

# 6 training images, 3 classes (labels 0,0,1,1,2,2), 5 neurons.
COUNTS = np.array([
    [4, 0, 1, 0, 2],
    [2, 0, 1, 0, 2],
    [0, 5, 1, 0, 2],
    [0, 3, 1, 0, 2],
    [1, 0, 6, 0, 2],
    [1, 0, 2, 0, 2],
])
LABELS = np.array([0, 0, 1, 1, 2, 2])


def test_class_rates_are_per_class_means():
    r = class_rates(COUNTS, LABELS, 4)  # class 3 has no images: zeros
    expected = np.array([
        [3, 0, 1, 0, 2],
        [0, 4, 1, 0, 2],
        [1, 0, 4, 0, 2],
        [0, 0, 0, 0, 0],
    ], dtype=float)
    np.testing.assert_array_equal(r, expected)


def test_assignment_known_answer_with_unassigned_and_tie():
    a = assign_labels(COUNTS, LABELS, 3)
    # neuron 3 never fires -> unassigned; neuron 4 fires equally for all classes -> lowest class 0
    np.testing.assert_array_equal(a, [0, 1, 2, UNASSIGNED, 0])


def test_assignment_scores_and_predictions_by_hand():
    assign = np.array([0, 1, 2, UNASSIGNED, 0])
    test = np.array([
        [6, 0, 0, 9, 0],  # class 0 neurons: (6 + 0) / 2 = 3 -> 0 (neuron 3 is ignored)
        [0, 2, 1, 0, 0],  # scores 0, 2, 1 -> 1
        [0, 0, 0, 7, 0],  # only the unassigned neuron fires -> no evidence
        [1, 0, 1, 0, 1],  # scores 1, 0, 1 -> tie, lowest class 0
    ])
    np.testing.assert_allclose(assignment_scores(test, assign, 3),
                               [[3, 0, 0], [0, 2, 1], [0, 0, 0], [1, 0, 1]])
    pred = predict_assignment(test, assign, 3)
    np.testing.assert_array_equal(pred, [0, 1, NO_PREDICTION, 0])
    assert accuracy(pred, np.array([0, 1, 2, 0])) == pytest.approx(0.75)  # no evidence counts as wrong


def test_class_without_assigned_neurons_never_wins_over_evidence():
    assign = np.array([0, 0, 1])  # class 2 has no neuron
    pred = predict_assignment(np.array([[0, 0, 1]]), assign, 3)
    assert pred.tolist() == [1]


def test_accuracy_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        accuracy(np.zeros(3), np.zeros(4))
    assert np.isnan(accuracy(np.zeros(0), np.zeros(0)))


def _separable(seed=3):
    """Three classes, each driving its own neuron; a fourth neuron is constant."""
    g = np.random.default_rng(seed)  # test data only
    labels = np.repeat(np.arange(3), 20)
    counts = g.integers(0, 3, size=(60, 4))
    counts[np.arange(60), labels] += 10
    counts[:, 3] = 5
    return counts, labels


def test_linear_readout_separates_separable_counts_and_ignores_constant_neuron():
    counts, labels = _separable()
    ro = LinearReadout.fit(counts, labels)
    assert ro.scale[3] == 1.0 and ro.mean[3] == 5.0  # constant feature: unit scale, no NaN
    assert accuracy(ro.predict(counts), labels) == 1.0
    test, tl = _separable(seed=4)
    assert accuracy(ro.predict(test), tl) == 1.0


def test_linear_readout_matches_sklearn_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    g = np.random.default_rng(7)  # test data only
    counts = g.poisson(3.0, size=(80, 6))
    labels = g.integers(0, 4, size=80)
    ro = LinearReadout.fit(counts, labels)
    ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(counts, labels)
    test = g.poisson(3.0, size=(40, 6))
    np.testing.assert_array_equal(ro.predict(test), ref.predict(test))
    np.testing.assert_allclose(ro.decision(test), ref.decision_function(test), rtol=1e-10, atol=1e-10)


def test_binary_readout_expands_to_two_rows_with_same_predictions():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    g = np.random.default_rng(11)  # test data only
    counts = g.poisson(2.0, size=(50, 3))
    labels = np.where(counts[:, 0] + g.integers(0, 2, 50) > 2, 5, 7)  # labels need not start at 0
    ro = LinearReadout.fit(counts, labels)
    assert ro.coef.shape == (2, 3) and ro.classes.tolist() == [5, 7]
    ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(counts, labels)
    np.testing.assert_array_equal(ro.predict(counts), ref.predict(counts))


def test_single_class_gives_constant_predictor():
    ro = LinearReadout.fit(np.ones((4, 2)), np.array([3, 3, 3, 3]))
    assert ro.predict(np.zeros((2, 2))).tolist() == [3, 3]


def test_readout_round_trips_through_arrays():
    counts, labels = _separable()
    ro = LinearReadout.fit(counts, labels, c=0.5)
    back = LinearReadout.from_arrays(ro.to_arrays())
    assert back.c == 0.5
    np.testing.assert_array_equal(back.predict(counts), ro.predict(counts))
    np.testing.assert_array_equal(back.coef, ro.coef)


def test_fit_is_deterministic():
    counts, labels = _separable()
    a, b = LinearReadout.fit(counts, labels), LinearReadout.fit(counts, labels)
    np.testing.assert_array_equal(a.coef, b.coef)
