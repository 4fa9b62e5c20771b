"""Readouts of the excitatory population (MODEL.md 5): label assignment and a linear readout.

Both readouts work on per-image spike counts of the E population, ``counts``
(n_images, n_exc), recorded with learning and sleep switched off. They are fit on
training images only and scored on held-out images (the authors' code fit its
readout on the last training batch and scored the last 200 test images; neither
is done here).

* :func:`assign_labels` / :func:`predict_assignment` - the unsupervised readout of
  Diehl & Cook (2015): every E neuron is assigned the class for which its mean
  count over the training images is highest; an image is classified as the class
  whose assigned neurons fire most on average.
* :class:`LinearReadout` - multinomial logistic regression (L2, scikit-learn's
  lbfgs solver) on z-scored counts. Fitting needs scikit-learn; prediction is plain
  NumPy on the stored coefficients, so a saved model needs nothing else.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: Assignment of a neuron that never fired on the training images.
UNASSIGNED = -1
#: Prediction for an image that gives no evidence (no assigned neuron fired): counted as wrong.
NO_PREDICTION = -1


def _check_counts(counts) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts must be (n_images, n_neurons), got shape {counts.shape}")
    return counts.astype(np.float64)


def class_rates(counts, labels, n_classes: int) -> np.ndarray:
    """Mean count of every neuron per class, (n_classes, n_neurons) float64.

    Classes without training images get a row of zeros.
    """
    counts = _check_counts(counts)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (counts.shape[0],):
        raise ValueError(f"labels must have shape ({counts.shape[0]},), got {labels.shape}")
    sums = np.zeros((n_classes, counts.shape[1]))
    np.add.at(sums, labels, counts)
    n = np.bincount(labels, minlength=n_classes)[:n_classes].astype(np.float64)
    return sums / np.maximum(n, 1.0)[:, None]


def assign_labels(counts, labels, n_classes: int) -> np.ndarray:
    """Diehl & Cook label assignment: per neuron, the class of its highest mean count.

    Returns int64 (n_neurons,), values in [0, n_classes) or :data:`UNASSIGNED` for
    neurons that never fired on the training images. Ties go to the lowest class index.
    """
    rates = class_rates(counts, labels, n_classes)
    out = np.argmax(rates, axis=0).astype(np.int64)
    out[rates.max(axis=0) <= 0] = UNASSIGNED
    return out


def assignment_scores(counts, assignments, n_classes: int) -> np.ndarray:
    """Per image and class, the mean count of the neurons assigned to that class,
    (n_images, n_classes); classes without assigned neurons score 0."""
    counts = _check_counts(counts)
    assignments = np.asarray(assignments, dtype=np.int64)
    onehot = (assignments[:, None] == np.arange(n_classes)[None, :]).astype(np.float64)
    n_assigned = onehot.sum(axis=0)
    return (counts @ onehot) / np.maximum(n_assigned, 1.0)[None, :]


def predict_assignment(counts, assignments, n_classes: int) -> np.ndarray:
    """Classify images by the class whose assigned neurons fire most on average.

    Returns int64 (n_images,); :data:`NO_PREDICTION` where every class scores 0
    (no assigned neuron fired), which :func:`accuracy` counts as wrong. Ties among
    positive scores go to the lowest class index.
    """
    scores = assignment_scores(counts, assignments, n_classes)
    pred = np.argmax(scores, axis=1).astype(np.int64)
    pred[scores.max(axis=1) <= 0] = NO_PREDICTION
    return pred


def accuracy(predictions, labels) -> float:
    """Share of correct predictions in [0, 1]; NaN for zero images."""
    predictions = np.asarray(predictions)
    labels = np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} differ in shape")
    if labels.size == 0:
        return float("nan")
    return float(np.mean(predictions == labels))


@dataclass
class LinearReadout:
    """Multinomial logistic regression on z-scored spike counts.

    ``features = (counts - mean) / scale`` (scale = standard deviation over the
    training images, 1 where a neuron's count is constant), then
    ``class = classes[argmax(features @ coef.T + intercept)]``.

    Attributes:
        mean, scale: (n_neurons,) float64 feature standardisation.
        coef: (n_classes_seen, n_neurons) float64; intercept: (n_classes_seen,).
        classes: int64 labels the rows of coef stand for (the classes present in training).
        c: inverse L2 regularisation strength used for the fit.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray
    c: float = 1.0

    @classmethod
    def fit(cls, counts, labels, c: float = 1.0, max_iter: int = 2000) -> LinearReadout:
        """Fit on training counts (n_images, n_neurons) and labels (n_images,).

        Deterministic (lbfgs, no random initialisation). A single training class
        gives a constant predictor.
        """
        x = _check_counts(counts)
        y = np.asarray(labels, dtype=np.int64)
        if y.shape != (x.shape[0],):
            raise ValueError(f"labels must have shape ({x.shape[0]},), got {y.shape}")
        if x.shape[0] == 0:
            raise ValueError("cannot fit a readout on zero images")
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale <= 0] = 1.0
        z = (x - mean) / scale
        classes = np.unique(y)
        n_feat = x.shape[1]
        if len(classes) == 1:
            return cls(mean, scale, np.zeros((1, n_feat)), np.zeros(1), classes, c)
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=c, max_iter=max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(z, y)
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if len(classes) == 2:  # sklearn stores one row for binary problems: expand to two
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        return cls(mean, scale, coef, intercept, classes.astype(np.int64), c)

    def decision(self, counts) -> np.ndarray:
        """Class scores (n_images, n_classes_seen)."""
        z = (_check_counts(counts) - self.mean) / self.scale
        return z @ self.coef.T + self.intercept

    def predict(self, counts) -> np.ndarray:
        """Predicted labels, int64 (n_images,)."""
        return self.classes[np.argmax(self.decision(counts), axis=1)]

    def to_arrays(self, prefix: str = "readout_") -> dict[str, np.ndarray]:
        return {f"{prefix}mean": self.mean, f"{prefix}scale": self.scale, f"{prefix}coef": self.coef,
                f"{prefix}intercept": self.intercept, f"{prefix}classes": self.classes,
                f"{prefix}c": np.array(self.c)}

    @classmethod
    def from_arrays(cls, d, prefix: str = "readout_") -> LinearReadout:
        return cls(*(np.asarray(d[f"{prefix}{k}"]) for k in ("mean", "scale", "coef", "intercept")),
                   np.asarray(d[f"{prefix}classes"]).astype(np.int64), float(d[f"{prefix}c"]))
