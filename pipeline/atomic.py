"""Atomic file writes: temp file in the same folder, fsync, rename.

A reader (or DVC) sees the old file or the complete new one, never half of one;
an exception or Ctrl-C removes the temp file, and a temp file left by a killed
process is cleaned up by the next write to the same target. The new file gets
the mode the old one had, or else what the umask gives a new file (mkstemp's
0600 would lock teammates out of a shared dataset).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline.errors import ConfigError, DataError

_TOKEN = re.compile(r"[a-z0-9_]+")


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _stale_temps(target: Path) -> list[Path]:
    """Temp files of `target` only: names compared literally, never as glob patterns
    (an image called ``*.jpg`` or ``[1].jpg`` must not match other images' temps)."""
    prefix = _temp_prefix(target)
    with os.scandir(target.parent) as entries:
        # the rest is mkstemp's random token: no dot, so ".a.tmp-b.tmp-x1" (target "a.tmp-b") is not ours
        return [Path(e.path) for e in entries if e.name.startswith(prefix) and _TOKEN.fullmatch(e.name[len(prefix) :])]


def umask() -> int:
    """The process umask, read without changing it (os.umask can only set it, racing other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def new_file_mode(target: Path) -> int:
    """The mode `target` keeps (its own, if it exists) or gets (0666 less the umask)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~umask()


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
    with _writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in _stale_temps(target):
            stale.unlink(missing_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), dir=target.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with _writing(target):
            os.chmod(tmp, new_file_mode(target))
            fsync_path(tmp)
            os.replace(tmp, target)
            fsync_path(target.parent, directory=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _writing(target: Path) -> Iterator[None]:
    """The machine refusing an output (a read-only folder, a full disk) as a `DataError` naming it."""
    try:
        yield
    except OSError as exc:
        raise DataError(target, f"cannot write ({exc.strerror or exc})") from None


def refuse_foreign(target: str | Path, is_ours: Callable[[Path], bool], what: str) -> None:
    """Raise `ConfigError` if `target` exists and is not a `what` (as `is_ours` tells).

    A command replaces only what it writes: ``--out GT_IMG_1.mat`` must not turn
    a dataset's ground truth into an HDF5 store.
    """
    target = Path(target)
    if not (target.exists() or target.is_symlink()):
        return
    if not target.is_file() or not is_ours(target):
        raise ConfigError(target, f"exists and is not {what}; not replacing it (choose another output or remove it)")


def write_bytes(target: str | Path, data: bytes) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp, _writing(target):
        tmp.write_bytes(data)
