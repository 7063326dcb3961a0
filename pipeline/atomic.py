"""Atomic file writes: temp file in the same folder, fsync, rename.

A reader (or DVC) sees the old file or the complete new one, never half of one;
an exception or Ctrl-C removes the temp file, and a temp file left by a killed
process is cleaned up by the next write to the same target. The new file gets
the mode the old one had, or else what the umask gives a new file (mkstemp's
0600 would lock teammates out of a shared dataset).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import DataError

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


class Guard:
    """A folder a command writes into (`pipeline.outputs.claim_folder`). Inside it, an existing file
    may be replaced only if it is `ours` (other runs', unchanged: a shared file may be added to),
    `replaceable` (this split's previous run's, unchanged: replaced, never added to) or this run wrote it."""

    def __init__(self, root: Path, ours: set[Path], replaceable: set[Path]) -> None:
        self.root, self.ours, self.replaceable = root.resolve(), ours, replaceable
        self.written: set[Path] = set()

    def resolved(self, target: Path) -> Path:
        return target.parent.resolve() / target.name  # the file itself unresolved: a link is refused below

    def check(self, target: Path) -> None:
        path = self.resolved(target)
        if not path.is_relative_to(self.root):
            return
        if target.is_symlink():
            raise DataError(target, "is a symbolic link; not writing through it")
        allowed = path in self.ours or path in self.replaceable or path in self.written
        if target.exists() and not allowed:
            raise DataError(target, "was not written by headcount; not replacing it (write into another folder)")


def extendable(path: Path) -> bool:
    """Whether a writer that adds to a file (one annotations file for many images) may read `path` and
    add to it: it exists and, in a guarded folder, this run or another split's run wrote it (a re-run
    starts its own files afresh)."""
    if not path.is_file():
        return False
    guard = _GUARD.get()
    if guard is None:
        return True
    p = guard.resolved(path)
    return not p.is_relative_to(guard.root) or p in guard.written or p in guard.ours


def replaced(path: Path) -> bool:
    """Whether `path` is a file of this split's previous run that this run has not written yet."""
    guard = _GUARD.get()
    if guard is None:
        return False
    p = guard.resolved(path)
    return p in guard.replaceable and p not in guard.written


def keep(path: Path) -> None:
    """Count an earlier run's file, already as this run would write it, as written by this run."""
    guard = _GUARD.get()
    if guard is not None:
        p = guard.resolved(path)
        if p in guard.replaceable or p in guard.ours:
            guard.written.add(p)


_GUARD: contextvars.ContextVar[Guard | None] = contextvars.ContextVar("headcount_output_guard", default=None)


@contextlib.contextmanager
def guarded(guard: Guard) -> Iterator[Guard]:
    """Every `atomic_path` write in this context (this thread) is checked against `guard`."""
    token = _GUARD.set(guard)
    try:
        yield guard
    finally:
        _GUARD.reset(token)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `target` atomically.

    >>> with atomic_path(tmp / "a.txt") as p:  # doctest: +SKIP
    ...     p.write_text("hello")
    """
    target = Path(target)
    guard = _GUARD.get()
    if guard is not None:
        guard.check(target)
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
        if guard is not None:
            guard.written.add(guard.resolved(target))
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


def write_bytes(target: str | Path, data: bytes) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp, _writing(target):
        tmp.write_bytes(data)
