"""Datasets for lava-sleep: embedded digits, MNIST-style IDX sets, notMNIST, ``.npz`` files.

Public API::

    from lava_sleep.data import Dataset, DataError, load_dataset, resize_images, split_dataset, DATASETS

    ds = load_dataset("digits")                  # 1,797 uint8 images 8x8, no download
    x = resize_images(ds.images, 15)             # exact area resampling to the model's 15x15 input
    train, test = split_dataset(ds, 1000, 500, seed=0)   # seeded, disjoint, stratified

* :class:`Dataset` - uint8 images (N, H, W), int64 labels (N,), name, class names.
* :func:`load_dataset` - by name (:data:`DATASETS`) or path (``.npz``, IDX folder,
  notMNIST letter folder); cache folder ``$LAVA_SLEEP_DATA/<name>`` or
  ``~/.cache/lava-sleep/<name>``, checksummed downloads (:mod:`.download`).
* :func:`resize_images` - area (box-filter) resampling in exact integer arithmetic.
* :func:`split_dataset` - seeded train/held-out split on ``rng.Stream.SPLIT``.
* :class:`DataError` - every data problem, one line naming the file and the defect.

Module map: :mod:`.core` (Dataset, DataError), :mod:`.idx` (IDX reader/writer),
:mod:`.download` (cache folder, checksummed downloads), :mod:`.notmnist` (PNG folders and
archives), :mod:`.datasets` (registry, loaders), :mod:`.transforms` (resize, split).
User documentation: ``docs/data.md``.
"""

from lava_sleep.data.core import DataError, Dataset
from lava_sleep.data.datasets import DATASETS, SUBSETS, load_dataset, load_npz, save_npz
from lava_sleep.data.idx import read_idx, write_idx
from lava_sleep.data.transforms import resize_images, split_dataset

__all__ = [
    "DATASETS",
    "SUBSETS",
    "DataError",
    "Dataset",
    "load_dataset",
    "load_npz",
    "read_idx",
    "resize_images",
    "save_npz",
    "split_dataset",
    "write_idx",
]
