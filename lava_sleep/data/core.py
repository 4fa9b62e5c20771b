"""The in-memory dataset type and the data error.

A :class:`Dataset` is a stack of grayscale ``uint8`` images (N, H, W), pixel
values 0 (background) to 255 (ink), with ``int64`` labels in ``[0, len(classes))``.
It is validated on construction, so every loader returns the same, checked shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_sleep.errors import UserError


class DataError(UserError, ValueError):
    """Bad data input: unknown dataset, missing folder or file, corrupted or mis-shaped file.

    The message is one line that names the file (or dataset) and the problem.
    """


@dataclass(eq=False)
class Dataset:
    """Images and labels of one dataset (or one part of it).

    Attributes:
        images: ``uint8`` array (N, H, W); 0 = background, 255 = full ink.
        labels: ``int64`` array (N,), each in ``[0, len(classes))``.
        name: dataset name (a registry name such as ``"mnist"`` or a file/folder path).
        classes: class names; ``classes[k]`` names label ``k``.
        source: the files (or built-in source) the images were read from, for reports.
        skipped: number of unreadable image files skipped while loading (notMNIST folders).
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    classes: tuple[str, ...]
    source: tuple[str, ...] = ()
    skipped: int = 0

    def __post_init__(self):
        images = self.images
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 3:
            desc = (
                f"{images.dtype} array of shape {images.shape}"
                if isinstance(images, np.ndarray)
                else type(images).__name__
            )
            raise DataError(f"{self.name}: images must be a uint8 array (N, H, W), got {desc}")
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or not (labels.size == 0 or np.issubdtype(labels.dtype, np.integer)):
            raise DataError(
                f"{self.name}: labels must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}"
            )
        if labels.shape[0] != images.shape[0]:
            raise DataError(f"{self.name}: {images.shape[0]} images but {labels.shape[0]} labels")
        self.labels = labels.astype(np.int64, copy=False)
        self.classes = tuple(str(c) for c in self.classes)
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise DataError(
                f"{self.name}: labels must lie in [0, {len(self.classes)}) for {len(self.classes)} classes, "
                f"found {int(self.labels.min())}..{int(self.labels.max())}"
            )
        self.source = tuple(str(s) for s in self.source)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return f"Dataset({self.summary()})"

    @property
    def shape(self) -> tuple[int, int]:
        """Image size (H, W) in pixels."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def subset(self, idx) -> Dataset:
        """A new Dataset of the selected images (``idx``: integer indices, boolean mask or slice)."""
        if isinstance(idx, slice):
            sel = idx
        else:
            sel = np.asarray(idx)
            if sel.dtype != bool:
                sel = sel.astype(np.int64, copy=False).reshape(-1)
        return Dataset(
            images=self.images[sel],
            labels=self.labels[sel],
            name=self.name,
            classes=self.classes,
            source=self.source,
            skipped=self.skipped,
        )

    def flat(self) -> np.ndarray:
        """Images as ``uint8`` rows (N, H*W), row-major pixel order (pixel index = y * W + x)."""
        n, h, w = self.images.shape
        return self.images.reshape(n, h * w)

    def class_counts(self) -> np.ndarray:
        """Number of images per class, ``int64`` (len(classes),)."""
        return np.bincount(self.labels, minlength=len(self.classes)).astype(np.int64)

    def summary(self) -> str:
        """One line: name, count, size, classes and source files."""
        h, w = self.shape
        src = f" from {', '.join(self.source)}" if self.source else ""
        skip = f" ({self.skipped} unreadable files skipped)" if self.skipped else ""
        return f"{self.name}: {len(self)} images {h}x{w}, {len(self.classes)} classes{src}{skip}"
