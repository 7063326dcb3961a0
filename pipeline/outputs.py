"""What a command may write: the one output policy of every command.

Why: an output path is a user's typing, and a slip (``--out GT_IMG_1.mat``,
``--overlay v.mp4`` for the input video) must never cost them a file. The rules:

* an output never replaces one of the command's inputs;
* an existing file is replaced (or appended to) only if the command wrote it:
  a single output (`claim`) by its content, as the predicates below tell; a
  folder of outputs (`claim_folder`: exports, annotation formats) by its
  manifest, which lists every file a run wrote with its digest;
* a re-run into a folder replaces exactly what the previous run of the same
  split wrote, and removes what it wrote that this run did not (no stale files);
* nothing is written through a symbolic link;
* a path is checked before anything is opened, so a refusal writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pipeline import strictjson
from pipeline.atomic import Guard, guarded, write_bytes
from pipeline.errors import ConfigError

MANIFEST = ".headcount-output"  # in a folder of outputs: what each run wrote, with digests
MANIFEST_FORMAT = "headcount-output"

OVERLAY_TAG = "headcount overlay"  # the container comment every overlay video carries


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (symlinks and hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def refuse_foreign(target: str | Path, is_ours: Callable[[Path], bool], what: str) -> None:
    """Raise `ConfigError` if `target` exists and is not a `what` (as `is_ours` tells), or is a link.

    A command replaces only what it writes: ``--out GT_IMG_1.mat`` must not turn
    a dataset's ground truth into an HDF5 store.
    """
    target = Path(target)
    if target.is_symlink():
        raise ConfigError(target, "is a symbolic link; not writing through it (choose another output)")
    if not target.exists():
        return
    if not target.is_file() or not is_ours(target):
        raise ConfigError(target, f"exists and is not {what}; not replacing it (choose another output or remove it)")


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


def is_mot_tracks(path: Path) -> bool:
    """Tracks written by ``count --tracks``: empty, or MOTChallenge rows of ten numbers ending ``1,-1,-1,-1``."""
    first = _head(path).split("\n", 1)[0].strip()
    return first == "" or (first.count(",") == 9 and first.endswith(",1,-1,-1,-1"))


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


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(path: Path, out: Path) -> dict:
    """The manifest's runs, ``{key: {relative path: sha256}}``; a `ConfigError` when it is not one."""
    try:
        doc = json.loads(path.read_bytes())
        runs = doc["runs"] if doc.get("format") == MANIFEST_FORMAT else None
        ok = isinstance(doc.get("kind"), str) and isinstance(runs, dict)
        ok = ok and all(
            isinstance(files, dict) and all(isinstance(r, str) and isinstance(d, str) for r, d in files.items())
            for files in runs.values()
        )
    except (OSError, ValueError, AttributeError, KeyError, TypeError, RecursionError):
        ok = False
    if not ok:
        raise ConfigError(out, f"holds a broken {MANIFEST}; not writing into it (remove the folder or choose another)")
    return doc


class FolderRun:
    """One run's writes into a folder of outputs (`claim_folder`): use `writing()` around them."""

    def __init__(self, out: Path, kind: str, key: str, runs: dict[str, dict[str, str]]) -> None:
        self.out, self.kind, self.key, self.runs = out, kind, key, runs

    @contextlib.contextmanager
    def writing(self) -> Iterator[FolderRun]:
        """Guard every write (`pipeline.atomic.guarded`), then record what was written. On success the
        files this split's previous run wrote and this one did not are removed (no stale file); a
        failed run keeps them and records what it wrote beside them."""
        root = self.out.resolve()
        mine = set(self.runs.get(self.key, {}))
        others = {rel for key, files in self.runs.items() if key != self.key for rel in files}
        guard = Guard(root, {root / rel for rel in others}, {root / rel for rel in mine - others})
        ok = False
        try:
            with guarded(guard):
                yield self
            ok = True
        finally:
            self._record(guard, root, ok)

    def _record(self, guard: Guard, root: Path, ok: bool) -> None:
        new = {p.relative_to(root).as_posix(): _digest(p) for p in sorted(guard.written) if p.is_file()}
        old = self.runs.get(self.key, {})
        if not new and not (self.out / MANIFEST).exists():
            return  # nothing written (a refusal on the first input): nothing to record
        for key, files in self.runs.items():  # a file another split's run wrote too (one annotations file)
            if key != self.key:
                files.update({rel: digest for rel, digest in new.items() if rel in files})
        if ok:
            for path in sorted(guard.replaceable - guard.written):
                path.unlink(missing_ok=True)
            self.runs[self.key] = new
        else:
            self.runs[self.key] = {**old, **new}
        doc = {"format": MANIFEST_FORMAT, "kind": self.kind, "runs": self.runs}
        write_bytes(self.out / MANIFEST, (strictjson.dumps(doc) + "\n").encode())


def claim_folder(out: str | Path, kind: str, key: str) -> FolderRun:
    """Check, before any work, that this command may write a `kind` output (an export or annotation
    format) for split `key` into folder `out`; a `ConfigError` naming the folder says why not.

    The folder must be absent, empty, or hold earlier `kind` runs (its manifest) whose files are as
    they were written. A file the manifest does not list is never replaced (`pipeline.atomic.Guard`).
    """
    out = Path(out)
    if out.is_symlink():
        raise ConfigError(out, "is a symbolic link; not writing through it (choose another output)")
    if out.exists() and not out.is_dir():
        raise ConfigError(out, "exists and is not a folder; not replacing it")
    manifest = out / MANIFEST
    present = sorted(p for p in out.rglob("*") if p != manifest) if out.is_dir() else []
    for p in present:
        if p.is_symlink():
            raise ConfigError(p, "is a symbolic link inside the output folder; not writing through it")
    runs: dict[str, dict[str, str]] = {}
    if manifest.exists() or manifest.is_symlink():
        doc = _read_manifest(manifest, out)
        if doc["kind"] != kind:
            raise ConfigError(out, f"holds a headcount {doc['kind']} output, not {kind}; not writing into it")
        runs = doc["runs"]
        for files in runs.values():
            for rel, digest in files.items():
                path = out / rel
                if path.exists() and (not path.is_file() or _digest(path) != digest):
                    raise ConfigError(path, "changed since headcount wrote it; not replacing it (use another folder)")
    elif any(p.is_file() for p in present):
        raise ConfigError(out, f"is not empty and holds no earlier headcount {kind} output; not writing into it")
    return FolderRun(out, kind, key, runs)
