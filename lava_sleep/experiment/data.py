"""Data for one run: load, seeded split, resize to the model's input size, flatten."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from lava_sleep.data import DataError, Dataset, load_dataset, resize_images, split_dataset

#: Default split sizes when --n-train / --n-test are not given (capped by the dataset size).
DEFAULT_N_TRAIN = 8000
DEFAULT_N_TEST = 2000


@dataclass
class RunData:
    """Training and held-out images of one run, flattened to the model's input size.

    train_x, test_x: uint8 (n, image_size**2); train_y, test_y: int64 (n,).
    classes: class names; name: dataset name or path; original_size: (H, W) before resizing;
    source: the files the images were read from.
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]
    name: str
    original_size: tuple[int, int]
    image_size: int
    source: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def digest(self) -> str:
        """Hash of the images and labels (identifies the data in checkpoints)."""
        h = hashlib.sha256()
        for a in (self.train_x, self.train_y, self.test_x, self.test_y):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def info(self) -> dict:
        return {"name": self.name, "n_train": int(len(self.train_y)), "n_test": int(len(self.test_y)),
                "classes": list(self.classes), "original_size": list(self.original_size),
                "image_size": self.image_size, "digest": self.digest(), "source": list(self.source)}


def flatten_resized(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, H, W) -> uint8 (N, size*size), area-resampled when H, W != size."""
    return resize_images(images, size).reshape(len(images), size * size)


def default_sizes(n_total: int, n_train: int | None, n_test: int | None) -> tuple[int, int]:
    """Split sizes: given values, else 80 % / 20 % of the pool capped at 8,000 / 2,000."""
    if n_train is None:
        n_train = min(DEFAULT_N_TRAIN, n_total * 4 // 5 if n_test is None else n_total - n_test)
    if n_test is None:
        n_test = min(DEFAULT_N_TEST, n_total - n_train)
    for what, v in (("--n-train", n_train), ("--n-test", n_test)):
        if v < 1:
            raise DataError(f"{what} must be >= 1, got {v}")
    return int(n_train), int(n_test)


class DataCache:
    """Loads every dataset once per process (a sweep splits it per seed)."""

    def __init__(self):
        self._ds: dict = {}
        self._runs: dict = {}

    def dataset(self, name: str, data_dir=None, subset: str = "all") -> Dataset:
        key = (str(name), None if data_dir is None else str(data_dir), subset)
        if key not in self._ds:
            self._ds[key] = load_dataset(name, data_dir=data_dir, subset=subset)
        return self._ds[key]

    def run_data(self, name: str, image_size: int, seed: int, n_train: int | None = None,
                 n_test: int | None = None, data_dir=None, subset: str = "all") -> RunData:
        """Seeded split (stratified, lava_sleep.data.split_dataset) of ``name``, resized.

        The same arguments return the same RunData object (batch members then share it).
        """
        key = (str(name), image_size, seed, n_train, n_test,
               None if data_dir is None else str(data_dir), subset)
        if key not in self._runs:
            ds = self.dataset(name, data_dir, subset)
            n_tr, n_te = default_sizes(len(ds), n_train, n_test)
            train, test = split_dataset(ds, n_tr, n_te, seed)
            self._runs[key] = RunData(
                flatten_resized(train.images, image_size), train.labels.astype(np.int64),
                flatten_resized(test.images, image_size), test.labels.astype(np.int64),
                tuple(ds.classes), ds.name, ds.shape, image_size, tuple(ds.source))
        return self._runs[key]
