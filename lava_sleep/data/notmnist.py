"""notMNIST (small): glyphs of the letters A-J in many fonts, 28x28 grayscale PNGs.

The canonical distribution is ``notMNIST_small.tar.gz`` (8,458,043 bytes, MD5
``c9890a473a9769fda4bdf314aaf500dd``; no SHA-256 is published) holding
``notMNIST_small/A/*.png`` ... ``notMNIST_small/J/*.png``, about 1,870 images per
letter; a few files in it are empty or not decodable. Readable sources:

* a folder with letter subfolders ``A/`` ... ``J/`` (or a folder holding
  ``notMNIST_small/`` with them),
* the ``.tar.gz`` archive itself (read without unpacking),
* the decoded cache ``notmnist_small.npz`` this module writes beside a downloaded
  archive, so the PNGs are decoded only once.

Files that cannot be decoded, and images whose size differs from the first readable
image (in sorted file order), are skipped; the count is reported in
``Dataset.skipped`` and as a warning. Labels: A=0 ... J=9. Pixels are used as stored
(light glyph on dark background, like MNIST); colour images are converted to
luminance (ITU-R 601-2, Pillow's ``"L"`` mode).
"""

from __future__ import annotations

import io
import os
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lava_sleep.data.core import DataError
from lava_sleep.data.download import Resource

LETTERS = tuple("ABCDEFGHIJ")
ARCHIVE = Resource(
    filename="notMNIST_small.tar.gz",
    urls=("http://yaroslavvb.com/upload/notMNIST/notMNIST_small.tar.gz",),
    md5="c9890a473a9769fda4bdf314aaf500dd",
    size=8458043,
)
CACHE_NPZ = "notmnist_small.npz"
CACHE_VERSION = 1  # bump when decoding changes, so old caches are rebuilt


def decode_image(data: bytes) -> np.ndarray | None:
    """Decode one image file (PNG or any format Pillow reads) to ``uint8`` (H, W); None if unreadable."""
    from PIL import Image

    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    except (OSError, ValueError, SyntaxError, EOFError, zlib.error):
        return None


def _stack(entries, origin: str):
    """Decode sorted ``(label, key, bytes)`` entries into (images, labels, skipped)."""
    images, labels, skipped, shape = [], [], 0, None
    for label, _key, data in sorted(entries, key=lambda e: (e[0], e[1])):
        img = decode_image(data)
        if img is None or (shape is not None and img.shape != shape):
            skipped += 1
            continue
        shape = img.shape
        images.append(img)
        labels.append(label)
    if not images:
        raise DataError(f"{origin}: no readable images among {skipped} files in the letter folders A..J")
    if skipped:
        warnings.warn(f"{origin}: skipped {skipped} unreadable image files", stacklevel=3)
    return np.stack(images), np.asarray(labels, dtype=np.int64), skipped


def letter_root(folder: Path) -> Path | None:
    """``folder`` or ``folder/notMNIST_small`` when it holds letter subfolders A..J, else None."""
    for cand in (folder, folder / "notMNIST_small"):
        if any((cand / letter).is_dir() for letter in LETTERS):
            return cand
    return None


def read_folder(folder: str | os.PathLike):
    """Read a folder with letter subfolders ``A/`` ... ``J/``; returns (images, labels, skipped)."""
    folder = Path(folder)
    root = letter_root(folder)
    if root is None:
        raise DataError(f"{folder}: no letter subfolders A/ .. J/ found (notMNIST layout)")
    entries = []
    for label, letter in enumerate(LETTERS):
        sub = root / letter
        if not sub.is_dir():
            continue
        for f in sub.iterdir():
            if f.is_file() and not f.name.startswith("."):
                try:
                    entries.append((label, f.name, f.read_bytes()))
                except OSError:
                    entries.append((label, f.name, b""))
    return _stack(entries, str(root))


def read_archive(path: str | os.PathLike):
    """Read a (gzip-compressed) tar archive of letter folders; returns (images, labels, skipped)."""
    path = Path(path)
    entries = []
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = member.name.replace("\\", "/").split("/")
                if not member.isfile() or len(parts) < 2 or parts[-2] not in LETTERS:
                    continue
                if parts[-1].startswith("."):
                    continue
                fh = tar.extractfile(member)
                entries.append((LETTERS.index(parts[-2]), member.name, fh.read() if fh else b""))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: corrupted or unreadable tar archive ({exc})") from None
    if not entries:
        raise DataError(f"{path}: archive holds no images in letter folders A/ .. J/")
    return _stack(entries, str(path))


def save_cache(path: Path, images: np.ndarray, labels: np.ndarray, skipped: int) -> None:
    """Write the decoded cache atomically."""
    from lava_sleep.io import atomic_savez

    atomic_savez(
        path, images=images, labels=labels, skipped=np.int64(skipped), version=np.int64(CACHE_VERSION)
    )


def load_cache(path: Path):
    """Read the decoded cache; None when it is missing, unreadable or of another version."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != CACHE_VERSION:
                return None
            return z["images"], z["labels"].astype(np.int64), int(z["skipped"])
    except (OSError, ValueError, KeyError, EOFError, zlib.error, zipfile.BadZipFile):
        return None
