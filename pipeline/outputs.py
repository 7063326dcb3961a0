"""What a command may write: the one output policy of every command.

Why: an output path is a user's typing, and a slip (``--out GT_IMG_1.mat``,
``--overlay v.mp4`` for the input video) must never cost them a file. The rules:

* an output never replaces one of the command's inputs;
* an existing file is replaced (or appended to) only if it is of the kind the
  command writes, as the predicates below tell from its content;
* a path is checked before anything is opened, so a refusal writes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from pipeline.atomic import refuse_foreign
from pipeline.errors import ConfigError

OVERLAY_TAG = "headcount overlay"  # the container comment every overlay video carries


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (symlinks and hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def claim(
    target: str | Path,
    is_ours: Callable[[Path], bool],
    what: str,
    inputs: Iterable[str | Path] = (),
) -> Path:
    """Check that the command may write `target`; a `ConfigError` naming it says why not."""
    target = Path(target)
    for src in inputs:
        if same_file(target, src):
            raise ConfigError(target, "is an input of this command; not replacing it (choose another output)")
    refuse_foreign(target, is_ours, what)
    return target


def _head(path: Path, size: int = 4096) -> str:
    with open(path, "rb") as f:
        return f.read(size).decode("utf-8", errors="replace")


def _first_json_line(path: Path) -> dict | None:
    line = _head(path).split("\n", 1)[0].strip()
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def is_empty(path: Path) -> bool:
    return path.stat().st_size == 0


def is_png(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def csv_with_header(*columns: str) -> Callable[[Path], bool]:
    """A predicate: a CSV file whose first line starts with these columns (or an empty file)."""
    prefix = ",".join(columns)

    def is_ours(path: Path) -> bool:
        return is_empty(path) or _head(path).split("\n", 1)[0].startswith(prefix)

    return is_ours


def json_lines_with(*keys: str) -> Callable[[Path], bool]:
    """A predicate: JSON lines whose first object has these keys (or an empty file)."""

    def is_ours(path: Path) -> bool:
        if is_empty(path):
            return True
        doc = _first_json_line(path)
        return doc is not None and all(k in doc for k in keys)

    return is_ours


def json_object_with(*keys: str) -> Callable[[Path], bool]:
    """A predicate: one JSON object with these keys."""

    def is_ours(path: Path) -> bool:
        try:
            doc = json.loads(path.read_bytes()[: 64 << 20])
        except (ValueError, RecursionError):
            return False
        return isinstance(doc, dict) and all(k in doc for k in keys)

    return is_ours


def is_records(path: Path) -> bool:
    """Per-frame records written by ``count`` (CSV or JSON lines)."""
    return csv_with_header("frame", "t", "count")(path) or json_lines_with("frame", "t", "count")(path)


is_alert_log = json_lines_with("event", "zone", "frame")


def is_overlay_video(path: Path) -> bool:
    """A video that ``count --overlay`` wrote: its container says so."""
    if is_empty(path):
        return True
    try:
        import av

        with av.open(str(path)) as container:
            return container.metadata.get("comment") == OVERLAY_TAG
    except Exception:  # noqa: BLE001 - whatever PyAV cannot open is not one of ours
        return False
