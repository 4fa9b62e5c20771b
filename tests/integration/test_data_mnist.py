"""The real MNIST test set (shared folder ../shared/data/mnist, t10k files only) through the
IDX loader, the checksummed cache path, resizing and splitting."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lava_sleep.data import DataError, load_dataset, resize_images, split_dataset

MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
# Published per-class counts of the MNIST test set (digits 0..9) and its first ten labels.
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]

pytestmark = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"MNIST test files not found in {MNIST_DIR} (shared/data/mnist beside the repo holds them in CI)",
)


def test_mnist_test_set_from_data_dir():
    ds = load_dataset("mnist", data_dir=MNIST_DIR, subset="test")
    assert ds.images.shape == (10000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.min() == 0 and ds.labels.max() == 9
    np.testing.assert_array_equal(ds.class_counts(), TEST_COUNTS)
    np.testing.assert_array_equal(ds.labels[:10], FIRST_LABELS)
    assert 30.0 < ds.images.mean() < 38.0  # MNIST mean intensity is about 0.1325 * 255 = 33.8
    assert ds.images[:, 0, :].max() == 0  # top row is blank: digits are centred with a margin
    # 'all' gives whatever exists (only t10k here); 'train' names the missing file
    assert len(load_dataset(MNIST_DIR)) == 10000
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", data_dir=MNIST_DIR, subset="train")


def test_mnist_cache_checksums_match_real_files(tmp_path, monkeypatch):
    cache = tmp_path / "mnist"
    cache.mkdir()
    for f in MNIST_DIR.glob("t10k-*.gz"):
        shutil.copy(f, cache / f.name)
    monkeypatch.setenv("LAVA_SLEEP_DATA", str(tmp_path))
    ds = load_dataset("mnist", subset="test", download=False)  # verifies the registry's SHA-256
    assert len(ds) == 10000 and all(s.startswith(str(cache)) for s in ds.source)


def test_mnist_resize_and_split():
    ds = load_dataset(MNIST_DIR, subset="test")
    small = resize_images(ds.images, 15)
    assert small.shape == (10000, 15, 15) and small.dtype == np.uint8
    # area resampling weights every input pixel equally (15/28), so only rounding moves the mean
    assert abs(small.astype(float).mean() - ds.images.astype(float).mean()) < 0.5
    train, test = split_dataset(ds, 1000, 500, seed=0)
    assert len(train) == 1000 and len(test) == 500
    assert np.all(np.abs(train.class_counts() - np.asarray(TEST_COUNTS) / 10) <= 1)
