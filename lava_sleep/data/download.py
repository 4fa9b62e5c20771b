"""Checksummed downloads into the dataset cache.

Cache folder: ``$LAVA_SLEEP_DATA/<name>`` when the environment variable
``LAVA_SLEEP_DATA`` is set, else ``$XDG_CACHE_HOME/lava-sleep/<name>`` (by default
``~/.cache/lava-sleep/<name>``).

:func:`fetch` downloads one :class:`Resource`: it tries each mirror URL in turn,
streams the body into a temporary file beside the target while hashing it, checks
the SHA-256 (and MD5 and size, where known) and only then renames the temporary
file to its final name, so an interrupted or corrupted download never leaves a
file that looks complete. Every failure becomes one :class:`DataError` line that
names the file and says what happened at each mirror.

Any URL scheme that :func:`urllib.request.urlopen` supports works, ``file://``
included (the tests use it; it also serves a local mirror).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lava_sleep.data.core import DataError

ENV_VAR = "LAVA_SLEEP_DATA"
TIMEOUT_S = 60.0  # per connection attempt
_CHUNK = 1 << 20

# The function that opens a URL; tests may replace it (monkeypatch) to simulate a network.
_urlopen = urllib.request.urlopen


@dataclass(frozen=True)
class Resource:
    """One downloadable file.

    Attributes:
        filename: name of the file in the cache folder.
        urls: mirror URLs, tried in order.
        sha256: expected SHA-256 hex digest (checked when given).
        md5: expected MD5 hex digest (checked when given).
        size: expected size in bytes (checked when given).
    """

    filename: str
    urls: tuple[str, ...]
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    def __post_init__(self):
        if not (self.sha256 or self.md5):
            raise ValueError(f"resource {self.filename} needs a sha256 or md5 checksum")


def cache_root() -> Path:
    """The root of the dataset cache (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "lava-sleep"


def cache_dir(name: str) -> Path:
    """The cache folder of dataset ``name``."""
    return cache_root() / name


def _digests(path: Path) -> tuple[str, str, int]:
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), md5.hexdigest(), size


def checksum_problem(res: Resource, path: Path) -> str | None:
    """``None`` when ``path`` has the expected size and digests, else what differs (short text)."""
    sha, md5, size = _digests(path)
    if res.size is not None and size != res.size:
        return f"size {size} bytes, expected {res.size}"
    if res.sha256 and sha != res.sha256.lower():
        return f"checksum mismatch: sha256 {sha}, expected {res.sha256}"
    if res.md5 and md5 != res.md5.lower():
        return f"checksum mismatch: md5 {md5}, expected {res.md5}"
    return None


def verify(res: Resource, path: str | os.PathLike) -> Path:
    """Check a file already on disk against ``res``; DataError on a mismatch."""
    path = Path(path)
    problem = checksum_problem(res, path)
    if problem:
        raise DataError(f"{path}: {problem} (corrupted or different file; delete it to download it again)")
    return path


def _download_once(url: str, res: Resource, folder: Path, quiet: bool) -> Path:
    """Download ``url`` into ``folder/res.filename``; raise OSError/ValueError on failure."""
    target = folder / res.filename
    fd, tmp = tempfile.mkstemp(prefix=f".{res.filename}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, _urlopen(url, timeout=TIMEOUT_S) as resp:
            if not quiet:
                total = resp.headers.get("Content-Length") if getattr(resp, "headers", None) else None
                size = f" ({int(total) / 1e6:.1f} MB)" if total and total.isdigit() else ""
                print(f"downloading {url}{size} -> {target}", file=sys.stderr, flush=True)
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        problem = checksum_problem(res, Path(tmp))
        if problem:
            raise ValueError(problem)
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch(res: Resource, folder: str | os.PathLike, quiet: bool = False) -> Path:
    """Make sure ``folder/res.filename`` exists with the right checksum; download it if needed.

    A file already present is verified (DataError on a mismatch). Otherwise each
    mirror is tried in order; the first download that passes the checksum check is
    renamed into place.

    Raises:
        DataError: the folder cannot be created, or every mirror failed (network
            error, HTTP error, checksum/size mismatch); the message lists each failure.
    """
    folder = Path(folder)
    target = folder / res.filename
    if target.exists():
        return verify(res, target)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the cache folder ({exc.strerror or exc})") from None
    failures = []
    for url in res.urls:
        try:
            return _download_once(url, res, folder, quiet)
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            failures.append(f"{url}: {exc.reason}")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failures.append(f"{url}: {exc or type(exc).__name__}")
    raise DataError(
        f"cannot download {res.filename}: "
        + "; ".join(failures)
        + f" (offline? put the file in {folder} or pass a local data folder)"
    )
