"""Image resampling and seeded train/held-out splits.

:func:`resize_images` - exact area (box-filter) resampling, integer arithmetic.
    Each output pixel is the mean of the input image over the output pixel's
    footprint, every input pixel weighted by the area it shares with that footprint.
    Downsampling (28x28 -> 15x15, the paper's input size) therefore averages without
    aliasing; upsampling (8x8 digits -> 15x15) replicates pixels and blends the ones
    that straddle an output pixel boundary. The weighted sum is computed exactly (the
    overlaps are integers in units of 1/size pixel and every partial sum is an
    integer below 2**53, so float64 matrix products are exact whatever the BLAS
    summation order) and rounded half up: ``out = floor(sum / (H*W) + 1/2)`` with the
    weights scaled so that they sum to ``H*W``. The result is bit-identical on every
    machine.

:func:`split_dataset` - seeded, disjoint train/held-out subsets drawn with the
    counter-based stream ``lava_sleep.rng.Stream.SPLIT`` (counter 0): image ``i``
    gets the 32-bit hash ``uniform_u32(key(seed, SPLIT, 0), i)`` and images are
    visited in increasing hash order (ties by index). The order of an image thus
    depends only on ``(seed, i)``, not on which classes are selected.
"""

from __future__ import annotations

import numpy as np

from lava_sleep import rng
from lava_sleep.data.core import DataError, Dataset

_RESIZE_CHUNK = 4096  # images per matrix product (bounds the float64 temporaries to ~30 MB at 28x28)


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """Integer overlaps (n_out, n_in): output pixel i covers [i*n_in, (i+1)*n_in) and input
    pixel j covers [j*n_out, (j+1)*n_out), both in units of 1/n_out input pixel. Each row
    sums to n_in."""
    i = np.arange(n_out, dtype=np.int64)[:, None]
    j = np.arange(n_in, dtype=np.int64)[None, :]
    lo = np.maximum(i * n_in, j * n_out)
    hi = np.minimum((i + 1) * n_in, (j + 1) * n_out)
    return np.clip(hi - lo, 0, None)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resample ``uint8`` images (N, H, W) to (N, size, size) by exact area averaging.

    Args:
        images: ``uint8`` array (N, H, W), any H, W >= 1 (need not be square).
        size: output side length in pixels, >= 1.

    Returns:
        A new ``uint8`` array (N, size, size). Equal sizes return an unchanged copy;
        a 4x4 -> 2x2 resize gives the rounded mean of each 2x2 block; a 2x2 -> 4x4
        resize repeats each pixel as a 2x2 block (see the module docstring).

    Raises:
        DataError: ``images`` is not a uint8 (N, H, W) array, or ``size`` < 1.
    """
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 3:
        desc = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise DataError(f"resize_images needs a uint8 array (N, H, W), got {desc}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise DataError(f"resize_images: size must be an integer >= 1, got {size!r}")
    size = int(size)
    n, h, w = images.shape
    if h == size and w == size:
        return images.copy()
    wh = _area_weights(h, size).astype(np.float64)  # (size, h)
    wwt = _area_weights(w, size).astype(np.float64).T  # (w, size)
    den = h * w  # sum of all 2-D weights of one output pixel
    out = np.empty((n, size, size), dtype=np.uint8)
    for s in range(0, n, _RESIZE_CHUNK):
        block = images[s : s + _RESIZE_CHUNK].astype(np.float64)
        num = np.rint((wh @ block) @ wwt).astype(np.int64)  # exact integers (see module doc)
        out[s : s + _RESIZE_CHUNK] = (2 * num + den) // (2 * den)
    return out


def _apportion(n: int, counts: np.ndarray) -> np.ndarray:
    """Split ``n`` items over groups proportionally to ``counts`` (largest remainder method).

    Each group gets ``floor(n * c / total)``; the items left over go one each to the
    groups with the largest remainders (ties: lower group index). Exact integers.
    The result never exceeds ``counts`` when ``n <= counts.sum()``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros_like(counts)
    base = n * counts // total
    rem = n * counts % total
    left = n - int(base.sum())
    order = np.argsort(-rem, kind="stable")
    base[order[:left]] += 1
    return base


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise DataError(f"split_dataset: {name} must be an integer >= 0, got {value!r}")
    return int(value)


def split_dataset(
    ds: Dataset,
    n_train: int,
    n_test: int,
    seed: int,
    classes: list[int] | None = None,
    stratified: bool = True,
) -> tuple[Dataset, Dataset]:
    """Draw disjoint training and held-out subsets of ``ds``, reproducibly from ``seed``.

    Args:
        ds: the dataset to draw from.
        n_train: number of training images (>= 0).
        n_test: number of held-out images (>= 0).
        seed: run seed, 0 <= seed < 2**32 (stream ``Stream.SPLIT``, counter 0).
        classes: keep only images with these labels (labels keep their original values
            and ``classes`` names); ``None`` keeps every class.
        stratified: when True, each class gets a share of ``n_train`` (and then of
            ``n_test``) proportional to its number of images in the pool (largest
            remainder rounding, so a balanced pool and ``n`` divisible by the number of
            classes give exactly equal counts); when False, the first ``n_train``
            images in seeded order form the training set and the next ``n_test`` the
            held-out set.

    Returns:
        ``(train, test)``, each in seeded (shuffled) order, no image in both.

    Raises:
        DataError: negative counts, a seed out of range, unknown classes, or fewer
            images than ``n_train + n_test`` in the pool.
    """
    n_train = _check_count("n_train", n_train)
    n_test = _check_count("n_test", n_test)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= rng.MASK32:
        raise DataError(f"split_dataset: seed must be an integer in [0, 2**32), got {seed!r}")
    n_classes = len(ds.classes)
    pool = np.arange(len(ds), dtype=np.int64)
    note = ""
    if classes is not None:
        wanted = [int(c) for c in classes]
        bad = [c for c in wanted if not 0 <= c < n_classes]
        if bad:
            raise DataError(f"{ds.name}: classes {bad} do not exist (labels are 0..{n_classes - 1})")
        if len(set(wanted)) != len(wanted) or not wanted:
            raise DataError(f"{ds.name}: classes must be a non-empty list without repeats, got {wanted}")
        pool = pool[np.isin(ds.labels, wanted)]
        note = f" of classes {wanted}"
    else:
        wanted = list(range(n_classes))
    if n_train + n_test > pool.size:
        raise DataError(
            f"{ds.name}: cannot take {n_train} training + {n_test} held-out images, "
            f"only {pool.size} images{note} available"
        )
    k = rng.key(int(seed), rng.Stream.SPLIT, 0)
    order = pool[np.argsort(rng.uniform_u32(k, pool), kind="stable")]
    if not stratified:
        return ds.subset(order[:n_train]), ds.subset(order[n_train : n_train + n_test])

    lab = ds.labels[order]
    counts = np.bincount(lab, minlength=n_classes)
    q_train = np.zeros(n_classes, dtype=np.int64)
    q_test = np.zeros(n_classes, dtype=np.int64)
    q_train[wanted] = _apportion(n_train, counts[wanted])
    q_test[wanted] = _apportion(n_test, counts[wanted] - q_train[wanted])
    # rank of each image among the images of its class, in seeded order
    by_class = np.argsort(lab, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty_like(by_class)
    rank[by_class] = np.arange(lab.size) - np.repeat(starts, counts)
    train_mask = rank < q_train[lab]
    test_mask = ~train_mask & (rank < (q_train + q_test)[lab])
    return ds.subset(order[train_mask]), ds.subset(order[test_mask])
