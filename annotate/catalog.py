"""The images of an annotation folder, by id (the file stem).

Ids are looked up in this table, never joined into paths: a request for
``../../etc/passwd`` finds no entry instead of a file.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.pointfile import MAX_POINTS, PointFile, Tiles, read_point_file, write_point_file
from pipeline.points import as_points, inside
from pipeline.readers.layout import list_images
from pipeline.sample import image_size


@dataclass(frozen=True)
class Entry:
    id: str
    path: Path
    width: int
    height: int


CHANGES_KEPT = 10_000  # saves remembered for /api/changes; a tab further behind reloads the listing


class StaleRevision(Exception):
    """The client's revision is not the saved one: another tab saved first."""

    def __init__(self, current: int) -> None:
        super().__init__(f"stale revision; current is {current}")
        self.current = current


@dataclass(frozen=True)
class Edit:
    """What one tab changed since revision `base`: the heads it added and removed (exact coordinates).

    Applied to whatever is saved now, so edits that two tabs made from one revision
    are both kept (a point-level three-way merge against `base`). `status` and the
    tile changes are None/empty when this tab did not change them.
    """

    base: int
    added: np.ndarray
    removed: np.ndarray
    status: str | None = None
    grid: tuple[int, int] | None = None  # (cols, rows) of the tiles below
    tiles_done: frozenset[int] = frozenset()
    tiles_undone: frozenset[int] = frozenset()


def merge_points(current: np.ndarray, added: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """`current` without one exact occurrence of each `removed` point, then `added` appended.

    A removed point that is no longer there (another tab removed or moved it) is
    skipped: both tabs wanted it gone from where it was.
    """
    want: dict[tuple[float, float], int] = {}
    for p in map(tuple, removed.tolist()):
        want[p] = want.get(p, 0) + 1
    keep = np.ones(len(current), dtype=bool)
    if want:
        for i, p in enumerate(map(tuple, current.tolist())):
            if want.get(p):
                want[p] -= 1
                keep[i] = False
    return np.concatenate([current[keep], added]).reshape(-1, 2)


def merge_tiles(current: Tiles | None, edit: Edit) -> Tiles | None:
    """The saved tile progress with this edit's tile changes applied (a new grid starts afresh)."""
    if edit.grid is None:
        return current
    done = current.done if current is not None and (current.cols, current.rows) == edit.grid else frozenset()
    return Tiles(*edit.grid, (done | edit.tiles_done) - edit.tiles_undone)


class Catalog:
    """Images under ``root/images`` and their point files under ``root/points``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.points_dir = self.root / "points"
        self.entries: dict[str, Entry] = {}
        for path in list_images(self.root / "images"):
            if path.stem in self.entries:
                raise DataError(path, f"two images share the id {path.stem!r} (same file stem)")
            h, w = image_size(path)
            self.entries[path.stem] = Entry(path.stem, path, w, h)
        self._locks = {k: threading.Lock() for k in self.entries}
        # (mtime_ns, size) of each point file -> (count, revision, problem): the listing parses a file
        # only when it changed, and a save updates its own entry (an edit costs O(1), not O(images))
        self._summaries: dict[str, tuple[tuple[int, int], tuple[int, int, str, str | None]]] = {}
        # every save gets a sequence number: open tabs ask what changed since the last one they saw. One lock
        # for the whole folder: saves of different images run at once under their own locks, and must not
        # draw the same number
        self._seq_lock = threading.Lock()
        self.seq = 0
        self.instance = secrets.token_hex(6)  # a restarted server has other numbers: tabs reload the listing
        self._changes: deque[tuple[int, str]] = deque(maxlen=CHANGES_KEPT)

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.entries

    def point_path(self, image_id: str) -> Path:
        return self.points_dir / f"{self.entries[image_id].id}.json"

    def summary(self, image_id: str) -> tuple[int, int, str, str | None]:
        """(count, revision, status, problem) of an image's point file; `problem` names a broken file."""
        path = self.point_path(image_id)
        try:
            st = path.stat()
        except FileNotFoundError:
            return 0, 0, "todo", None
        key = (st.st_mtime_ns, st.st_size)
        cached = self._summaries.get(image_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            pf = read_point_file(path)
            value = (len(pf.points), pf.revision, pf.status, None)
        except DataError as exc:
            value = (0, 0, "todo", str(exc))
        self._summaries[image_id] = (key, value)
        return value

    def load(self, image_id: str) -> PointFile:
        """Saved points, or an empty revision 0 for an image not annotated yet (`DataError` for a broken file)."""
        e = self.entries[image_id]
        path = self.point_path(image_id)
        if not path.exists():
            return PointFile(f"images/{e.path.name}", e.width, e.height, 0, np.zeros((0, 2)))
        return read_point_file(path)

    def save(self, image_id: str, points: object, revision: int, status: str | None = None) -> PointFile:
        """Replace the points of `revision` (the contract's PUT): `StaleRevision` when another save came first.

        `status` None keeps the image's workflow status. Raises `DataError` for bad points (nothing written).
        """
        pts = self._checked(image_id, as_points(points, f"points for {image_id}"))
        with self._locks[image_id]:
            old, current = self._current(image_id, revision)
            if revision != current:
                raise StaleRevision(current)
            return self._write(image_id, old, pts, status)

    def edit(self, image_id: str, edit: Edit) -> tuple[PointFile, bool]:
        """Apply `edit` to what is saved now: ``(saved, merged)``, `merged` when other saves came in between.

        `StaleRevision` only for a base newer than the saved revision (the file went back in time).
        """
        added = self._checked(image_id, as_points(edit.added, f"added points for {image_id}"))
        removed = as_points(edit.removed, f"removed points for {image_id}")
        with self._locks[image_id]:
            old, current = self._current(image_id, edit.base)
            if edit.base > current:
                raise StaleRevision(current)
            base_points = old.points if old is not None else np.zeros((0, 2))
            pts = merge_points(base_points, added, removed)
            if len(pts) > MAX_POINTS:  # the bound holds for what is saved, not just for each request
                raise DataError(
                    f"edit of {image_id}", f"would save {len(pts):,} points; at most {MAX_POINTS:,} per image"
                )
            tiles = merge_tiles(old.tiles if old is not None else None, edit)
            return self._write(image_id, old, pts, edit.status, tiles), edit.base != current

    def changes(self, since: int) -> list[str] | None:
        """Ids saved after sequence number `since` (oldest first, each once), or None when that is too far back."""
        with self._seq_lock:
            seq, changes = self.seq, list(self._changes)
        if since > seq or (since < seq and changes[0][0] > since + 1):  # since < seq: a save was kept
            return None
        ids = [image_id for n, image_id in changes if n > since]
        return list(dict.fromkeys(ids))

    def _checked(self, image_id: str, pts: np.ndarray) -> np.ndarray:
        e = self.entries[image_id]
        if not inside(pts, (e.height, e.width)).all():
            raise DataError(f"points for {image_id}", f"points outside the {e.width}x{e.height} image")
        return pts

    def _current(self, image_id: str, revision: int) -> tuple[PointFile | None, int]:
        """The saved file (None when broken) and its revision; a broken file is moved aside by a save from 0."""
        try:
            old = self.load(image_id)
        except DataError:  # a broken file: it counts as revision 0, and is kept aside, never overwritten
            if revision == 0:
                backup(self.point_path(image_id))
            return None, 0
        return old, old.revision

    def _write(
        self, image_id: str, old: PointFile | None, pts: np.ndarray, status: str | None, tiles: Tiles | None = None
    ) -> PointFile:
        e = self.entries[image_id]
        revision = old.revision if old is not None else 0
        status = status or (old.status if old is not None else "todo")
        if tiles is None and old is not None:
            tiles = old.tiles
        pf = PointFile(f"images/{e.path.name}", e.width, e.height, revision + 1, pts, status, tiles)
        path = self.point_path(image_id)
        write_point_file(path, pf)
        st = path.stat()
        self._summaries[image_id] = ((st.st_mtime_ns, st.st_size), (len(pts), pf.revision, status, None))
        with self._seq_lock:
            self.seq += 1
            self._changes.append((self.seq, image_id))
        return pf


def backup(path: Path) -> Path:
    """Move a broken point file to ``<name>.broken-<n>`` (the first free n): kept for its owner, and no
    longer ``*.json``, so the `points` reader passes it over."""
    n = 1
    while (target := path.with_name(f"{path.name}.broken-{n}")).exists():
        n += 1
    path.rename(target)
    return target
