"""The images of an annotation folder, by id (the file stem).

Ids are looked up in this table, never joined into paths: a request for
``../../etc/passwd`` finds no entry instead of a file.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import KW_ONLY, dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.image import image_size
from pipeline.paths import contained
from pipeline.point_arrays import as_points, inside
from pipeline.pointfile import MAX_POINTS, PointFile, Tiles, read_point_file, write_point_file
from pipeline.readers.layout import list_images
from pipeline.work import Review


@dataclass(frozen=True)
class Entry:
    id: str
    path: Path
    _: KW_ONLY  # width and height by name: never swapped
    width: int
    height: int


CHANGES_KEPT = 10_000  # saves remembered for /api/changes; a tab further behind reloads the listing


class Forbidden(Exception):
    """A workflow step that this user may not take (the server answers 403): the review's rules."""


class StaleRevision(Exception):
    """The client's revision is not the saved one: another tab saved first."""

    def __init__(self, current: int, broken: str | None = None) -> None:
        super().__init__(broken or f"stale revision; current is {current}")
        self.current = current
        self.broken = broken  # the saved file is broken: what is wrong with it (a save from revision 0 replaces it)


@dataclass(frozen=True)
class Move:
    """Head `id` moved by a tab from ``(x0, y0)`` (where that tab last saw it) to ``(x, y)``."""

    id: int
    x0: float
    y0: float
    x: float
    y: float


@dataclass(frozen=True)
class Edit:
    """What one tab changed since revision `base`, head by head: heads `added` (coordinates), `removed`
    and `moved` (by id). `status` and the tile changes are None/empty when this tab did not change them.

    It is applied to whatever is saved now (`merge_heads`), so edits that two tabs made from
    one revision are both kept.
    """

    base: int
    added: np.ndarray
    removed: tuple[int, ...] = ()
    moved: tuple[Move, ...] = ()
    status: str | None = None
    grid: tuple[int, int] | None = None  # (cols, rows) of the tiles below
    tiles_done: frozenset[int] = frozenset()
    tiles_undone: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Conflict:
    """Where two tabs edited one head: `kind` "deleted" (this tab moved a head another tab had deleted:
    it stays deleted) or "moved" (both moved it: this later move wins)."""

    id: int
    kind: str

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind}


@dataclass(frozen=True)
class Heads:
    """An image's heads with their identities: points (N, 2), ids (N,), who added each, the next free id."""

    points: np.ndarray
    ids: np.ndarray
    by: tuple[str | None, ...]
    next_id: int

    @classmethod
    def of(cls, pf: PointFile | None) -> Heads:
        if pf is None:
            return cls(np.zeros((0, 2)), np.zeros(0, np.int64), (), 0)
        return cls(np.asarray(pf.points, float).reshape(-1, 2), pf.head_ids(), pf.head_by(), pf.first_free_id())

    def same_as(self, pf: PointFile | None) -> bool:
        """The same heads, at the same places, as `pf` holds."""
        old = Heads.of(pf)
        return np.array_equal(self.ids, old.ids) and np.array_equal(self.points, old.points)


def merge_heads(current: Heads, edit: Edit, user: str | None) -> tuple[Heads, list[int], list[Conflict]]:
    """`edit` applied to the heads saved now: (heads, the ids given to `edit.added`, conflicts).

    The rule, which the page shows the user: a delete always wins (a head one tab deleted
    stays deleted, even if another tab moves it later); of two moves of one head, the later
    save wins; adds from every tab are all kept. A head removed here that is already gone
    was wanted gone by both tabs.
    """
    where = {int(i): k for k, i in enumerate(current.ids.tolist())}
    points = current.points.copy()
    conflicts = []
    for m in edit.moved:
        k = where.get(m.id)
        if k is None:
            conflicts.append(Conflict(m.id, "deleted"))
            continue
        if points[k, 0] != m.x0 or points[k, 1] != m.y0:
            conflicts.append(Conflict(m.id, "moved"))
        points[k] = (m.x, m.y)
    keep = ~np.isin(current.ids, np.asarray(edit.removed, np.int64))
    added = np.asarray(edit.added, float).reshape(-1, 2)
    new_ids = list(range(current.next_id, current.next_id + len(added)))
    by = tuple(b for b, k in zip(current.by, keep, strict=True) if k) + (user,) * len(added)
    heads = Heads(
        np.concatenate([points[keep], added]).reshape(-1, 2),
        np.concatenate([current.ids[keep], np.asarray(new_ids, np.int64)]),
        by,
        current.next_id + len(added),
    )
    return heads, new_ids, conflicts


def replaced_heads(current: Heads, points: np.ndarray, user: str | None) -> Heads:
    """The heads of a whole-list save (PUT): a head at exactly the coordinates of a saved one keeps its
    id and author (each saved head matched once); the others are new heads of `user`."""
    free: dict[tuple[float, float], list[int]] = {}
    for k, p in enumerate(map(tuple, current.points.tolist())):
        free.setdefault(p, []).append(k)
    ids, by, next_id = [], [], current.next_id
    for p in map(tuple, np.asarray(points, float).reshape(-1, 2).tolist()):
        if free.get(p):
            k = free[p].pop(0)
            ids.append(int(current.ids[k]))
            by.append(current.by[k])
        else:
            ids.append(next_id)
            by.append(user)
            next_id += 1
    return Heads(np.asarray(points, float).reshape(-1, 2), np.asarray(ids, np.int64), tuple(by), next_id)


def merge_tiles(current: Tiles | None, edit: Edit) -> Tiles | None:
    """The saved tile progress with this edit's tile changes applied (a new grid starts afresh)."""
    if edit.grid is None:
        return current
    done = current.done if current is not None and (current.cols, current.rows) == edit.grid else frozenset()
    return Tiles(*edit.grid, (done | edit.tiles_done) - edit.tiles_undone)


@dataclass(frozen=True)
class EditResult:
    saved: PointFile
    merged: bool  # other saves came in between: the page takes the saved heads
    new_ids: list[int]  # the ids given to the edit's added heads, in order
    conflicts: list[Conflict]


@dataclass(frozen=True)
class Summary:
    """What the image list shows of one image."""

    count: int
    revision: int
    status: str
    problem: str | None = None
    annotators: tuple[str, ...] = ()  # who added heads or set the status
    review: Review | None = None


def summary_of(pf: PointFile) -> Summary:
    names = {b for b in pf.head_by() if b} | ({pf.status_by} if pf.status_by else set())
    return Summary(len(pf.points), pf.revision, pf.status, None, tuple(sorted(names)), pf.review)


class Catalog:
    """Images under ``root/images`` and their point files under ``root/points``."""

    def __init__(self, root: str | Path, reviewers: tuple[str, ...] = ()) -> None:
        """`reviewers` may accept or reject images (`review`); nobody else can make an image reviewed."""
        self.root = Path(root)
        self.reviewers = frozenset(reviewers)
        self.points_dir = self.root / "points"
        self.entries: dict[str, Entry] = {}
        for path in list_images(self.root / "images"):
            if path.stem in self.entries:
                raise DataError(path, f"two images share the id {path.stem!r} (same file stem)")
            h, w = image_size(path)
            self.entries[path.stem] = Entry(path.stem, path, width=w, height=h)
        self._locks = {k: threading.Lock() for k in self.entries}
        self._plain_paths = {k: self.point_path(k) for k in self.entries}  # checked once; re-checked on reads
        # (mtime_ns, size) of each point file -> (count, revision, problem): the listing parses a file
        # only when it changed, and a save updates its own entry (an edit costs O(1), not O(images))
        self._summaries: dict[str, tuple[tuple[int, int], Summary]] = {}
        # every save gets a sequence number: open tabs ask what changed since the last one they saw. One lock
        # for the whole folder: saves of different images run at once under their own locks, and must not
        # draw the same number
        self._seq_lock = threading.Lock()
        self.seq = 0
        self.instance = secrets.token_hex(6)  # a restarted server has other numbers: tabs reload the listing
        self._changes: deque[tuple[int, str]] = deque(maxlen=CHANGES_KEPT)

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.entries

    def point_path(self, image_id: str, write: bool = False) -> Path:
        """Where an image's point file is; checked (`pipeline.paths.contained`) at every read of the file and,
        for `write`, that no link is on the way. The listing's summary checks only whether it changed."""
        return contained(self.points_dir, f"{self.entries[image_id].id}.json", write=write)

    def summary(self, image_id: str) -> Summary:
        """What the list shows of an image's point file; `problem` names a broken file."""
        path = self._plain_paths[image_id]
        try:
            st = path.stat()
        except FileNotFoundError:
            return Summary(0, 0, "todo")
        key = (st.st_mtime_ns, st.st_size)
        cached = self._summaries.get(image_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            value = summary_of(read_point_file(self.point_path(image_id)))  # changed: read, so checked
        except DataError as exc:
            value = Summary(0, 0, "todo", str(exc))
        self._summaries[image_id] = (key, value)
        return value

    def load(self, image_id: str) -> PointFile:
        """Saved points, or an empty revision 0 for an image not annotated yet (`DataError` for a broken file)."""
        e = self.entries[image_id]
        path = self.point_path(image_id)
        if not path.exists():
            return PointFile(
                f"images/{e.path.name}", width=e.width, height=e.height, revision=0, points=np.zeros((0, 2))
            )
        return read_point_file(path)

    def save(
        self, image_id: str, points: object, revision: int, status: str | None = None, user: str | None = None
    ) -> PointFile:
        """Replace the points of `revision` (the contract's PUT): `StaleRevision` when another save came first.

        `status` None keeps the image's workflow status. Heads left where they were keep their
        ids (`replaced_heads`). Raises `DataError` for bad points (nothing written).
        """
        pts = self._checked(image_id, as_points(points, f"points for {image_id}"))
        with self._locks[image_id]:
            old, current, broken = self._current(image_id, revision)
            if revision != current:
                raise StaleRevision(current, broken)
            return self._write(image_id, old, replaced_heads(Heads.of(old), pts, user), status, user=user)

    def edit(self, image_id: str, edit: Edit, user: str | None = None) -> EditResult:
        """Apply `edit` to what is saved now (`merge_heads`); `merged` when other saves came in between.

        `StaleRevision` only for a base newer than the saved revision (the file went back in time).
        """
        added = self._checked(image_id, as_points(edit.added, f"added points for {image_id}"))
        self._checked(image_id, np.asarray([(m.x, m.y) for m in edit.moved], float).reshape(-1, 2))
        with self._locks[image_id]:
            old, current, broken = self._current(image_id, edit.base)
            if edit.base > current:
                raise StaleRevision(current, broken)
            heads, new_ids, conflicts = merge_heads(Heads.of(old), replace(edit, added=added), user)
            if len(heads.points) > MAX_POINTS:  # the bound holds for what is saved, not just for each request
                raise DataError(
                    f"edit of {image_id}", f"would save {len(heads.points):,} points; at most {MAX_POINTS:,} per image"
                )
            tiles = merge_tiles(old.tiles if old is not None else None, edit)
            pf = self._write(image_id, old, heads, edit.status, tiles, user=user)
            return EditResult(pf, edit.base != current, new_ids, conflicts)

    def review(self, image_id: str, verdict: str, comment: str, user: str | None) -> PointFile:
        """Record a review: accepted -> status reviewed; rejected -> back to todo, with the comment.

        Only a reviewer reviews, and nobody accepts an image they added heads to (`Forbidden`). A broken
        point file is a `DataError` and stays as it is: a verdict on heads nobody can read means nothing.
        """
        if user is None or user not in self.reviewers:
            who = user or "this user"
            raise Forbidden(f"{who} is not a reviewer (start the server with --reviewer {user or 'NAME'})")
        with self._locks[image_id]:
            old = self.load(image_id)
            if verdict == "accepted" and user in old.head_by():
                raise Forbidden(f"{user} added heads to {image_id}: an annotator cannot accept their own work")
            status = "reviewed" if verdict == "accepted" else "todo"
            return self._write(image_id, old, Heads.of(old), status, user=user, review=Review(verdict, user, comment))

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

    def _current(self, image_id: str, revision: int) -> tuple[PointFile | None, int, str | None]:
        """The saved file (None when broken), its revision, and what is wrong with a broken one; a broken
        file is moved aside by a save from 0."""
        try:
            old = self.load(image_id)
        except DataError as exc:  # a broken file: it counts as revision 0, and is kept aside, never overwritten
            if revision == 0:
                backup(self.point_path(image_id, write=True))
            return None, 0, str(exc)
        return old, old.revision, None

    def _write(
        self,
        image_id: str,
        old: PointFile | None,
        heads: Heads,
        status: str | None,
        tiles: Tiles | None = None,
        *,
        user: str | None = None,
        review: Review | None = None,
    ) -> PointFile:
        e = self.entries[image_id]
        revision = old.revision if old is not None else 0
        before = old.status if old is not None else "todo"
        kept = None
        if review is None:  # a save or an edit: only `review` makes an image reviewed, and an edit undoes it
            if status == "reviewed" and before != "reviewed":
                raise Forbidden("only a reviewer's accept makes an image reviewed (the review button)")
            if before == "reviewed" and not heads.same_as(old):
                status = "done" if status in (None, "reviewed") else status  # back to review
                kept = old.review  # who accepted the earlier heads stays on record
        status = status or before
        status_by = user if status != before or review is not None else (old.status_by if old is not None else None)
        if review is None and old is not None and status == before:
            review = old.review  # the last verdict stays until the status moves on
        review = review or kept
        if tiles is None and old is not None:
            tiles = old.tiles
        pf = PointFile(
            f"images/{e.path.name}",
            width=e.width,
            height=e.height,
            revision=revision + 1,
            points=heads.points,
            status=status,
            tiles=tiles,
            ids=heads.ids,
            by=heads.by,
            next_id=heads.next_id,
            status_by=status_by,
            review=review,
        )
        path = self.point_path(image_id, write=True)
        write_point_file(path, pf)
        st = path.stat()
        self._summaries[image_id] = ((st.st_mtime_ns, st.st_size), summary_of(pf))
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
