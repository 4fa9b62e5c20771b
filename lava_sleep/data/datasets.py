"""Dataset registry and :func:`load_dataset`.

Names (see :data:`DATASETS`):

``digits``
    scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), embedded,
    never downloaded. Values 0-16 are scaled to 0-255 by ``(v * 255 + 8) // 16``
    (exact, round half up; 16 -> 255, 8 -> 128). Callers resize to the model's input
    size (15x15 by default) with :func:`~lava_sleep.data.resize_images`.
``mnist``, ``fashion-mnist``, ``kmnist``
    the canonical IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``
    (60,000 images) and ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (10,000),
    28x28, gzip-compressed (``.gz``) or raw.
``notmnist``
    notMNIST small (letters A-J, 28x28), see :mod:`lava_sleep.data.notmnist`.

Where files are read from:

* ``data_dir`` given: that folder (or its subfolder named after the dataset), read-only,
  no download and no checksum check (files are still validated structurally).
* otherwise the cache folder :func:`~lava_sleep.data.download.cache_dir` (``$LAVA_SLEEP_DATA/<name>``
  or ``~/.cache/lava-sleep/<name>``); missing files are downloaded there when
  ``download=True`` and every canonical ``.gz`` file found or downloaded there is
  checked against its SHA-256. A raw (unpacked) file in the cache is used as is.

Subsets:

* IDX datasets: ``"train"`` = the train files, ``"test"`` = the t10k files, ``"all"`` =
  train followed by test, of those present (so a folder holding only the t10k files,
  like the shared MNIST test set, gives its 10,000 images for ``"all"`` and ``"test"``,
  and a DataError naming the missing train file for ``"train"``). In the cache with
  ``download=True``, ``"all"`` downloads both.
* datasets without an official split (``digits``, ``notmnist``, ``.npz`` files): a fixed,
  documented split: ``"test"`` = every 5th image (indices 4, 9, 14, ...), ``"train"`` = the
  other 80 %, ``"all"`` = everything in file order. For ``digits`` this gives 1,438 / 359.
  For seeded splits of any size use :func:`~lava_sleep.data.split_dataset`.

``name_or_path`` may also be a path: a ``.npz`` file holding ``images`` (N x H x W
uint8, or N x H*W with H = W) and ``labels`` (N integers >= 0, optional ``classes``
names), a folder of IDX files, or a folder with letter subfolders A/ .. J/.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lava_sleep.data import notmnist
from lava_sleep.data.core import DataError, Dataset
from lava_sleep.data.download import Resource, cache_dir, fetch, verify
from lava_sleep.data.idx import read_idx

SUBSETS = ("train", "test", "all")
HOLDOUT_EVERY = 5  # fixed split of datasets without an official one: index % 5 == 4 is "test"
DIGIT_CLASSES = tuple(str(d) for d in range(10))
#: Most classes a dataset may have (labels 0..MAX_CLASSES-1): the readouts and class lists
#: are sized by the class count, so a stray huge label must not size them.
MAX_CLASSES = 1000
SPLIT_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class IdxSpec:
    """A named IDX dataset: classes, mirror base URLs and SHA-256/MD5 of the four ``.gz`` files."""

    name: str
    description: str
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]
    checksums: dict  # stem -> (sha256, md5) of "<stem>.gz"

    def resource(self, stem: str) -> Resource:
        sha, md5 = self.checksums[stem]
        fn = f"{stem}.gz"
        return Resource(filename=fn, urls=tuple(m + fn for m in self.mirrors), sha256=sha, md5=md5)


IDX_SPECS = {
    "mnist": IdxSpec(
        name="mnist",
        description="MNIST handwritten digits, 28x28, 60,000 train + 10,000 test (IDX, downloaded)",
        classes=DIGIT_CLASSES,
        # yann.lecun.com is the original home; the others are long-standing mirrors of the same files.
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        checksums={
            "train-images-idx3-ubyte": (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            ),
            "train-labels-idx1-ubyte": (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "d53e105ee54ea40749a09fcbcd1e9432",
            ),
            "t10k-images-idx3-ubyte": (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "9fb629c4189551a2d022fa330f9573f3",
            ),
            "t10k-labels-idx1-ubyte": (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                "ec29112dd5afa0611ce80d1b7f02629c",
            ),
        },
    ),
    "fashion-mnist": IdxSpec(
        name="fashion-mnist",
        description="Fashion-MNIST clothing images, 28x28, 60,000 train + 10,000 test (IDX, downloaded)",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        checksums={
            "train-images-idx3-ubyte": (
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            ),
            "train-labels-idx1-ubyte": (
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "25c81989df183df01b3e8a0aad5dffbe",
            ),
            "t10k-images-idx3-ubyte": (
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "bef4ecab320f06d8554ea6380940ec79",
            ),
            "t10k-labels-idx1-ubyte": (
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ),
        },
    ),
    "kmnist": IdxSpec(
        name="kmnist",
        description="Kuzushiji-MNIST cursive Japanese characters, 28x28, 60,000 train + 10,000 test "
        "(IDX, downloaded)",
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        mirrors=(
            "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
            "https://storage.googleapis.com/kuzushiji-mnist/",
        ),
        checksums={
            "train-images-idx3-ubyte": (
                "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
                "bdb82020997e1d708af4cf47b453dcf7",
            ),
            "train-labels-idx1-ubyte": (
                "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
                "e144d726b3acfaa3e44228e80efcd344",
            ),
            "t10k-images-idx3-ubyte": (
                "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
                "5c965bf0a639b31b8f53240b1b52f4d7",
            ),
            "t10k-labels-idx1-ubyte": (
                "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
                "7320c461ea6c1c855c0b718fb2a4b134",
            ),
        },
    ),
}

#: Known dataset names -> one-line description.
DATASETS = {
    "digits": "scikit-learn 8x8 handwritten digits, 1,797 images, embedded (default, no download)",
    **{name: spec.description for name, spec in IDX_SPECS.items()},
    "notmnist": "notMNIST small, letters A-J in many fonts, 28x28, about 18,700 images "
    "(PNG archive, downloaded)",
}


# ----------------------------------------------------------------------------- helpers
def _fixed_split(n: int, subset: str) -> np.ndarray | slice:
    if subset == "all":
        return slice(None)
    test = np.arange(n) % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
    return np.flatnonzero(test if subset == "test" else ~test)


def _check_subset(subset: str) -> None:
    if subset not in SUBSETS:
        raise DataError(f"unknown subset {subset!r}; choose one of {', '.join(SUBSETS)}")


def _find_idx(folder: Path, stem: str) -> Path | None:
    """``folder/<stem>.gz`` or ``folder/<stem>`` (also the ``*.idx3-ubyte`` spelling), if present."""
    alt = stem.replace("-idx", ".idx")
    for fn in (f"{stem}.gz", stem, f"{alt}.gz", alt):
        p = folder / fn
        if p.is_file():
            return p
    return None


def _has_idx(folder: Path) -> bool:
    return any(_find_idx(folder, s) for stems in SPLIT_STEMS.values() for s in stems)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check an images file (uint8, N x H x W) and a labels file (N integers)."""
    images = read_idx(images_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(
            f"{images_path}: expected uint8 images of shape (N, H, W), found {images.dtype} {images.shape}"
        )
    labels = read_idx(labels_path)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{labels_path}: expected 1-D integer labels, found {labels.dtype} {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path}: {labels.shape[0]} labels but {images_path.name} holds {images.shape[0]} images"
        )
    if labels.size and labels.min() < 0:
        raise DataError(f"{labels_path}: negative label {int(labels.min())}")
    return images, labels.astype(np.int64)


def _check_label_range(labels: np.ndarray, n_classes: int, where) -> None:
    if labels.size and labels.max() >= n_classes:
        raise DataError(f"{where}: label {int(labels.max())} out of range for {n_classes} classes")


def classes_from_labels(labels: np.ndarray, where) -> tuple[str, ...]:
    """Class names "0".."K-1" for labels that are class indices 0..K-1 with K <= MAX_CLASSES.

    Labels far beyond that (e.g. 10**9) would build a class list of that size: a one-line
    DataError instead, as for negative labels.
    """
    if not labels.size:
        return ("0",)
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0:
        raise DataError(f"{where}: negative label {lo}; labels must be class indices 0..K-1")
    if hi >= MAX_CLASSES:
        n = int(np.unique(labels).size)
        raise DataError(f"{where}: labels must be class indices 0..K-1 with K at most {MAX_CLASSES}, found "
                        f"label {hi} ({n} distinct values); renumber them 0..{n - 1}")
    return tuple(str(i) for i in range(hi + 1))


def _combine(parts, name: str, classes, sources) -> Dataset:
    if len({p[0].shape[1:] for p in parts}) > 1:
        raise DataError(
            f"{name}: train and test images differ in size ({parts[0][0].shape[1:]} vs "
            f"{parts[1][0].shape[1:]})"
        )
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    if classes is None:
        classes = classes_from_labels(labels, name)
    return Dataset(images=images, labels=labels, name=name, classes=classes, source=tuple(sources))


# ----------------------------------------------------------------------------- IDX folders
def _load_idx_folder(folder: Path, subset: str, name: str, classes, hint: str = "") -> Dataset:
    """Read whatever train/t10k pairs ``folder`` holds (see the module docstring for subsets)."""
    wanted = ("train", "test") if subset == "all" else (subset,)
    parts, sources, missing = [], [], []
    for split in wanted:
        stems = SPLIT_STEMS[split]
        paths = [_find_idx(folder, stem) for stem in stems]
        if None in paths:
            missing.append(
                (split, [folder / f"{s}[.gz]" for s, p in zip(stems, paths, strict=True) if p is None])
            )
            continue
        images, labels = read_idx_pair(*paths)
        if classes is not None:
            _check_label_range(labels, len(classes), paths[1])
        parts.append((images, labels))
        sources.extend(str(p) for p in paths)
    if missing and (subset != "all" or not parts):
        split, files = missing[0]
        what = "no IDX files found" if not _has_idx(folder) else f"subset {split!r} missing"
        raise DataError(f"{files[0]}: file not found ({name}: {what}{hint})")
    return _combine(parts, name, classes, sources)


def _load_idx_named(spec: IdxSpec, data_dir, subset: str, download: bool) -> Dataset:
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"{folder}: data folder not found")
        if not _has_idx(folder) and (folder / spec.name).is_dir():
            folder = folder / spec.name
        return _load_idx_folder(folder, subset, spec.name, spec.classes)

    folder = cache_dir(spec.name)
    wanted = ("train", "test") if subset == "all" else (subset,)
    for split in wanted:
        for stem in SPLIT_STEMS[split]:
            res = spec.resource(stem)
            gz = folder / res.filename
            if gz.is_file():
                verify(res, gz)
            elif not (folder / stem).is_file() and download:
                fetch(res, folder)
    hint = "" if download else "; download is off"
    if not folder.is_dir():
        raise DataError(f"{folder}: cache folder not found ({spec.name}{hint})")
    return _load_idx_folder(folder, subset, spec.name, spec.classes, hint)


# ----------------------------------------------------------------------------- digits
def _load_digits(subset: str) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    raw = np.asarray(d.images)
    if raw.min() < 0 or raw.max() > 16:
        raise DataError(f"digits: unexpected pixel range {raw.min()}..{raw.max()} (expected 0..16)")
    images = ((raw.astype(np.int64) * 255 + 8) // 16).astype(np.uint8)
    ds = Dataset(
        images=images,
        labels=np.asarray(d.target, dtype=np.int64),
        name="digits",
        classes=DIGIT_CLASSES,
        source=("sklearn.datasets.load_digits",),
    )
    return ds.subset(_fixed_split(len(ds), subset))


# ----------------------------------------------------------------------------- notMNIST
def _notmnist_dataset(images, labels, skipped, source, subset) -> Dataset:
    ds = Dataset(
        images=images,
        labels=labels,
        name="notmnist",
        classes=notmnist.LETTERS,
        source=(str(source),),
        skipped=skipped,
    )
    return ds.subset(_fixed_split(len(ds), subset))


def _load_notmnist(data_dir, subset: str, download: bool) -> Dataset:
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"{folder}: data folder not found")
        for cand in (folder, folder / "notmnist"):
            root = notmnist.letter_root(cand)
            if root is not None:
                return _notmnist_dataset(*notmnist.read_folder(root), root, subset)
            if (cand / notmnist.ARCHIVE.filename).is_file():
                arc = cand / notmnist.ARCHIVE.filename
                return _notmnist_dataset(*notmnist.read_archive(arc), arc, subset)
        raise DataError(
            f"{folder}: no notMNIST data (letter folders A/ .. J/, notMNIST_small/ or "
            f"{notmnist.ARCHIVE.filename})"
        )
    folder = cache_dir("notmnist")
    npz = folder / notmnist.CACHE_NPZ
    cached = notmnist.load_cache(npz) if npz.is_file() else None
    if cached is not None:
        return _notmnist_dataset(*cached, npz, subset)
    arc = folder / notmnist.ARCHIVE.filename
    if arc.is_file():
        verify(notmnist.ARCHIVE, arc)
    elif download:
        fetch(notmnist.ARCHIVE, folder)
    else:
        raise DataError(f"{arc}: file not found (notmnist: not in the cache and download is off)")
    images, labels, skipped = notmnist.read_archive(arc)
    notmnist.save_cache(npz, images, labels, skipped)
    return _notmnist_dataset(images, labels, skipped, arc, subset)


# ----------------------------------------------------------------------------- .npz
def load_npz(path: str | os.PathLike, subset: str = "all") -> Dataset:
    """Read a ``.npz`` holding ``images`` (N x H x W uint8 or N x H*W with H = W) and
    ``labels`` (N non-negative integers), optionally ``classes`` (names, index = label).

    ``subset`` uses the fixed every-5th split (see the module docstring).
    """
    _check_subset(subset)
    path = Path(path).expanduser()
    try:
        z = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array, expected an .npz archive with 'images' and 'labels'")
    with z:
        missing = [k for k in ("images", "labels") if k not in z.files]
        if missing:
            raise DataError(f"{path}: missing array {missing[0]!r} (found: {', '.join(z.files) or 'none'})")
        try:
            images, labels = z["images"], z["labels"]
            names = z["classes"] if "classes" in z.files else None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(f"{path}: corrupted array data ({exc})") from None
    for what, arr in (("images", images), ("labels", labels), ("classes", names)):
        if arr is not None and not isinstance(arr, np.ndarray):  # a zip member that is no .npy
            raise DataError(f"{path}: corrupted array data ({what!r} is not a NumPy array)")
    if images.dtype != np.uint8:
        raise DataError(f"{path}: 'images' must be uint8 (0-255), found {images.dtype}")
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1] or side == 0:
            raise DataError(
                f"{path}: 'images' of shape {images.shape} are flat but {images.shape[1]} is not a square"
            )
        images = images.reshape(images.shape[0], side, side)
    elif images.ndim != 3:
        raise DataError(f"{path}: 'images' must have shape (N, H, W) or (N, H*W), found {images.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: 'labels' must be a 1-D integer array, found {labels.dtype} {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{path}: {images.shape[0]} images but {labels.shape[0]} labels")
    if images.shape[0] == 0:
        raise DataError(f"{path}: holds no images")
    if labels.min() < 0:
        raise DataError(f"{path}: negative label {int(labels.min())}")
    if names is not None:
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(
                f"{path}: 'classes' must be a 1-D array of names, found {names.dtype} {names.shape}"
            )
        classes = tuple(str(c) for c in names)
        if len(classes) > MAX_CLASSES:
            raise DataError(f"{path}: 'classes' names {len(classes)} classes, at most {MAX_CLASSES} "
                            "are supported")
        _check_label_range(labels, len(classes), path)
    else:
        classes = classes_from_labels(labels, path)
    ds = Dataset(
        images=np.ascontiguousarray(images),
        labels=labels.astype(np.int64),
        name=str(path),
        classes=classes,
        source=(str(path),),
    )
    return ds.subset(_fixed_split(len(ds), subset))


def save_npz(ds: Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` as an ``.npz`` that :func:`load_npz` reads back (atomic write)."""
    from lava_sleep.io import atomic_savez

    path = Path(path)
    atomic_savez(path, images=ds.images, labels=ds.labels, classes=np.asarray(ds.classes, dtype=str))
    return path


# ----------------------------------------------------------------------------- entry point
def _letters_dataset(read, path: Path, source: Path, subset: str) -> Dataset:
    """A notMNIST-style Dataset from ``(images, labels, skipped)``, with the fixed split applied."""
    images, labels, skipped = read
    ds = Dataset(images=images, labels=labels, name=str(path), classes=notmnist.LETTERS,
                 source=(str(source),), skipped=skipped)
    return ds.subset(_fixed_split(len(ds), subset))


def load_dataset(
    name_or_path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    subset: str = "all",
    download: bool = True,
) -> Dataset:
    """Load a dataset by registry name or from a path.

    Args:
        name_or_path: a name of :data:`DATASETS` (case-insensitive), a ``.npz`` file, a
            folder of IDX files or a folder with letter subfolders A/ .. J/.
        data_dir: folder holding a named dataset's files (``None``: the cache folder).
            Ignored for ``digits`` and for paths.
        subset: ``"train"``, ``"test"`` or ``"all"`` (see the module docstring).
        download: allow downloading missing files into the cache (only when ``data_dir``
            is None).

    Returns:
        A validated :class:`Dataset` (uint8 images (N, H, W), int64 labels).

    Raises:
        DataError: unknown name (the message lists the known ones), missing folder or
            file, failed download, checksum mismatch, corrupted or mis-shaped data.
    """
    _check_subset(subset)
    key = str(name_or_path).strip().lower()
    if key == "digits":
        return _load_digits(subset)
    if key == "notmnist":
        return _load_notmnist(data_dir, subset, download)
    if key in IDX_SPECS:
        return _load_idx_named(IDX_SPECS[key], data_dir, subset, download)

    path = Path(name_or_path).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return load_npz(path, subset)
        if path.name.endswith((".tar.gz", ".tgz", ".tar")):
            return _letters_dataset(notmnist.read_archive(path), path, path, subset)
        raise DataError(
            f"{path}: unsupported file type (expected .npz, a tar archive of letter "
            "folders, or a folder of IDX files)"
        )
    if path.is_dir():
        if _has_idx(path):
            return _load_idx_folder(path, subset, str(path), None)
        root = notmnist.letter_root(path)
        if root is not None:
            return _letters_dataset(notmnist.read_folder(root), path, root, subset)
        raise DataError(
            f"{path}: no IDX files (train-/t10k-images-idx3-ubyte[.gz]) or letter folders A/ .. J/ found"
        )
    looks_like_path = any(sep in str(name_or_path) for sep in ("/", "\\", os.sep)) or path.suffix
    if looks_like_path:
        raise DataError(f"{path}: no such file or folder")
    raise DataError(
        f"unknown dataset {str(name_or_path)!r}; known: {', '.join(DATASETS)} "
        "(or a path to a .npz file or an IDX folder)"
    )
