"""Training images decoded once, shared by every loader worker through memory-mapped files.

Why: decoding a large JPEG costs more than the rest of a training crop's work. A cache
per worker decodes each image once per worker, holds every image in each worker's RAM,
and dies with the workers. Here the first process that needs an image writes its arrays
as ``.npy`` files (atomically, so racing workers are harmless); every process maps them
read-only. The pages are shared between workers and the OS evicts them under memory
pressure, so a dataset larger than RAM trains at disk speed instead of failing.

Entries are keyed by the store file and the image file (path, size, mtime), so
a persistent cache (``run.cache_dir``) never serves an image that has changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def file_identity(path: str | Path) -> str:
    """Path, size and modification time: what changes when a file is replaced or edited."""
    st = Path(path).stat()
    return f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"


class DecodedCache:
    """A folder of decoded arrays; picklable (it is only a path), so it crosses into workers."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def get(self, key: str, make: Callable[[], tuple[np.ndarray, ...]], parts: int) -> tuple[np.ndarray, ...]:
        """The `parts` arrays stored under `key`, read-only memory maps; `make()` builds them on a miss."""
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        paths = [self.root / f"{name}.{i}.npy" for i in range(parts)]
        try:
            return tuple(np.load(p, mmap_mode="r", allow_pickle=False) for p in paths)
        except (FileNotFoundError, ValueError):  # a miss, or an entry of an older layout
            pass
        arrays = make()
        self.root.mkdir(parents=True, exist_ok=True)
        for p, a in zip(paths, arrays, strict=True):
            _save(p, a)
        return arrays


def _save(path: Path, array: np.ndarray) -> None:
    """Write-then-rename, so a reader never maps half a file. Unlike `pipeline.atomic` there is no
    fsync (a cache entry lost in a crash is decoded again) and no sweep of other temp files
    (they are other workers' writes in flight)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def decoded_cache(cache_dir: str | Path | None) -> Iterator[DecodedCache]:
    """`cache_dir` as a persistent cache, or (None) a temporary one removed when the run ends.

    The temporary one lives in the system's temp folder (``TMPDIR``); where that
    is a RAM disk, set ``run.cache_dir`` to a folder on disk for large datasets.
    """
    if cache_dir is not None:
        yield DecodedCache(cache_dir)
        return
    tmp = tempfile.mkdtemp(prefix="headcount-cache-")
    try:
        yield DecodedCache(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
