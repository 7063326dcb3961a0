"""Atomic file writes: temp file in the same folder, fsync, rename.

A reader (or DVC) sees the old file or the complete new one, never half of one;
an exception or Ctrl-C removes the temp file, and a temp file left by a killed
process is cleaned up by the next write to the same target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def fsync_path(path: str | Path, *, directory: bool = False) -> None:
    """Flush a file (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `target` atomically.

    >>> with atomic_path(tmp / "a.txt") as p:  # doctest: +SKIP
    ...     p.write_text("hello")
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(_temp_prefix(target) + "*"):
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent, directory=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(target: str | Path, data: bytes) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
