"""Finding a dataset file: a path the user gives, the cache, or a download with a checksum.

The cache is ``~/.graphc/datasets`` unless ``GRAPHC_DATASETS_DIR`` or a ``cache_dir=`` argument
says otherwise; a copy already in Keras' own cache (``~/.keras/datasets``) is used as it is. Downloads go to a temporary file in the cache folder, are checked against the
SHA-256 published for Keras' copy, and only then renamed into place, so an interrupted download
never leaves a half file that looks complete.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass

DEFAULT_CACHE = os.path.join("~", ".graphc", "datasets")
ENV_VAR = "GRAPHC_DATASETS_DIR"


class DatasetUnavailableError(OSError):
    """The dataset is neither on disk nor downloadable; the message says where to put a copy."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as Keras downloads it."""

    fname: str
    url: str
    sha256: str | None = None
    keras_names: tuple = ()  # where Keras' own cache (~/.keras/datasets) keeps it, if elsewhere


def cache_dir(override: str | os.PathLike | None = None) -> str:
    """The folder holding downloaded datasets (created on demand)."""
    folder = override or os.environ.get(ENV_VAR) or DEFAULT_CACHE
    return os.path.abspath(os.path.expanduser(os.fspath(folder)))


def keras_cache_dir() -> str:
    """Keras' dataset cache (``$KERAS_HOME/datasets``, ``~/.keras/datasets``): reused when it holds the file."""
    return os.path.join(os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))), "datasets")


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _progress(done: int, total: int | None, name: str, start: float, stream) -> None:
    elapsed = max(time.monotonic() - start, 1e-6)
    speed = done / elapsed / 1e6
    if total:
        width = 30
        filled = int(width * done / total)
        bar = "=" * max(filled - 1, 0) + (">" if filled < width else "=") + "." * (width - filled)
        text = f"\rDownloading {name}: [{bar}] {done / 1e6:.1f}/{total / 1e6:.1f} MB {speed:.1f} MB/s"
    else:
        text = f"\rDownloading {name}: {done / 1e6:.1f} MB {speed:.1f} MB/s"
    stream.write(text)
    stream.flush()


def download(remote: RemoteFile, dest: str, timeout: float = 30.0, verbose: bool = True) -> None:
    """Fetches ``remote.url`` to ``dest`` with a progress bar, checking the SHA-256 before the rename."""
    folder = os.path.dirname(dest)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{remote.fname}.", suffix=".part")
    stream = sys.stderr
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=timeout) as response:
            total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(total) if total and str(total).isdigit() else None
            h, done, start, last = hashlib.sha256(), 0, time.monotonic(), 0.0
            while True:
                block = response.read(1 << 16)
                if not block:
                    break
                out.write(block)
                h.update(block)
                done += len(block)
                now = time.monotonic()
                if verbose and (now - last > 0.1 or done == total):
                    _progress(done, total, remote.fname, start, stream)
                    last = now
        if verbose:
            _progress(done, total, remote.fname, start, stream)
            stream.write("\n")
        if remote.sha256 and h.hexdigest() != remote.sha256:
            raise DatasetUnavailableError(
                f"Downloaded {remote.url} but its SHA-256 is {h.hexdigest()}, expected {remote.sha256}: the download "
                "is corrupted or the file changed. Nothing was saved; try again, or download it yourself and pass "
                "path=.")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def get_file(remote: RemoteFile, dataset: str, path=None, cache_dir_override=None, verbose: bool = True) -> str:
    """The local path of ``remote``: ``path`` if it exists, else the cached copy, else a download.

    Args:
        remote: what Keras downloads (file name, URL, SHA-256).
        dataset: the dataset's name for messages.
        path: a file the user supplies (absolute, or relative to the cache folder as in Keras).
        cache_dir_override: the cache folder (``cache_dir=``).
    """
    folder = cache_dir(cache_dir_override)
    if path is not None:
        path = os.path.expanduser(os.fspath(path))
        for candidate in (path, os.path.join(folder, path), os.path.join(keras_cache_dir(), path)):
            if os.path.isfile(candidate) or os.path.isdir(candidate):
                return os.path.abspath(candidate)
        dest = os.path.join(folder, path) if not os.path.isabs(path) else path
    else:
        dest = os.path.join(folder, remote.fname)
        if not os.path.exists(dest):
            for name in (remote.fname,) + tuple(remote.keras_names):
                candidate = os.path.join(keras_cache_dir(), name)
                if os.path.exists(candidate):
                    return candidate
        if os.path.isfile(dest):
            if remote.sha256 and sha256_of(dest) != remote.sha256:
                warnings.warn(f"{dataset}: {dest} does not have the SHA-256 of Keras' published file "
                              f"({remote.sha256}); using it anyway. Delete it to download a fresh copy.",
                              RuntimeWarning, stacklevel=3)
            return dest
    try:
        download(remote, dest, verbose=verbose)
    except (urllib.error.URLError, OSError, ValueError) as e:
        if isinstance(e, DatasetUnavailableError):
            raise
        raise DatasetUnavailableError(
            f"{dataset}: the data is not on this machine and could not be downloaded ({type(e).__name__}: "
            f"{getattr(e, 'reason', e)}).\n"
            f"  Download it elsewhere from {remote.url}\n"
            f"  (file {remote.fname}" + (f", SHA-256 {remote.sha256}" if remote.sha256 else "") + ")\n"
            f"  and put it at {dest}\n"
            f"  or pass its location: load_data(path='/where/it/is/{remote.fname}'); the cache folder can be changed "
            f"with cache_dir= or the {ENV_VAR} environment variable.") from None
    return dest

