"""The annotation tool's point file, ``points/<stem>.json`` (docs/architecture.md, "The point file").

``{"format": "headcount-points", "version": 4, "image": "images/<name>",
"width": W, "height": H, "revision": R, "status": "todo" | "done" | "reviewed",
"tiles": {"cols": C, "rows": R, "done": [i, ...]} | null, "points": [[x, y], ...],
"ids": [i, ...], "next_id": N, "by": [name | null, ...], "status_by": name | null,
"review": {"verdict": "accepted" | "rejected", "by": name | null, "comment": text} | null}``

Version 2 added the per-image workflow `status`, so progress counts images an
annotator declared done, not images merely saved or converted. Version 3 adds
per-tile progress: the image cut into a ``cols`` x ``rows`` grid, and the tiles
(row-major index ``row * cols + col``) an annotator declared complete, which is
how a dense image of thousands of heads gets done piece by piece. Version 4
gives each head an identity: ``ids`` (one per point, unique, never reused:
``next_id`` is the next one to give), so a move is a move and concurrent edits
merge head by head; ``by`` says who added each head, ``status_by`` who set the
status, and ``review`` the last review's verdict. Versions 1-3 are still read
(``todo``, no tiles, ids 0..N-1, nobody).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import numpy as np

from pipeline import strictjson
from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.points import as_points, inside
from pipeline.work import Review, parse_name, parse_review, parse_status

FORMAT = "headcount-points"
VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
MAX_TILES = 64  # per side
MAX_POINTS = 200_000  # per image; NWPU's densest has about 20,000 heads


@dataclass(frozen=True)
class PointFile:
    """A point file's contents. `ids` and `by` are per point (None: the ids 0..N-1 and nobody,
    as a file written before version 4 reads); `next_id` None is one past the largest id."""

    image: str
    _: KW_ONLY  # width and height by name: never swapped
    width: int
    height: int
    revision: int
    points: np.ndarray
    status: str = "todo"
    tiles: Tiles | None = None
    ids: np.ndarray | None = None
    by: tuple[str | None, ...] | None = None
    next_id: int | None = None
    status_by: str | None = None
    review: Review | None = None

    def head_ids(self) -> np.ndarray:
        n = len(np.asarray(self.points).reshape(-1, 2))
        return np.arange(n, dtype=np.int64) if self.ids is None else np.asarray(self.ids, np.int64).reshape(-1)

    def head_by(self) -> tuple[str | None, ...]:
        n = len(np.asarray(self.points).reshape(-1, 2))
        return (None,) * n if self.by is None else tuple(self.by)

    def first_free_id(self) -> int:
        ids = self.head_ids()
        top = int(ids.max()) + 1 if len(ids) else 0
        return max(top, self.next_id or 0)


@dataclass(frozen=True)
class Tiles:
    """Per-tile progress: a ``cols`` x ``rows`` grid over the image and the indices of the tiles done."""

    cols: int
    rows: int
    done: frozenset[int] = frozenset()

    def as_json(self) -> dict:
        return {"cols": self.cols, "rows": self.rows, "done": sorted(self.done)}


def parse_tiles(doc: object, source: str | Path) -> Tiles | None:
    """`Tiles` from their JSON form (None stays None); `DataError` for a malformed grid."""
    if doc is None:
        return None
    try:
        cols, rows, done = doc["cols"], doc["rows"], doc["done"]
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (cols, rows, *done))
    except (KeyError, TypeError):
        ok = False
    if not ok or not (1 <= cols <= MAX_TILES and 1 <= rows <= MAX_TILES):
        shape = f'{{"cols": 1..{MAX_TILES}, "rows": 1..{MAX_TILES}, "done": [index, ...]}}'
        raise DataError(source, f"tiles must be {shape}")
    if any(not 0 <= i < cols * rows for i in done):
        raise DataError(source, f"a done tile index is outside the {cols}x{rows} grid")
    return Tiles(cols, rows, frozenset(done))


def read_point_file(path: Path) -> PointFile:
    """Parse and validate a point file; `DataError` names what is wrong."""
    if not path.exists():
        raise DataError(path, "point file not found")
    try:
        doc = strictjson.read(path)
    except DataError as exc:
        raise DataError(path, f"not a readable JSON point file ({exc.problem})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(path, f'not a headcount point file (expected "format": "{FORMAT}")')
    if doc.get("version") not in READABLE_VERSIONS:
        versions = " or ".join(map(str, READABLE_VERSIONS))
        raise DataError(path, f"unsupported point-file version {doc.get('version')!r} (expected {versions})")
    status = parse_status(doc.get("status", "todo") if doc["version"] >= 2 else "todo", path)
    try:
        width, height, revision = (doc[k] for k in ("width", "height", "revision"))
        image, raw = doc["image"], doc["points"]
    except KeyError as exc:
        raise DataError(path, f"missing field {exc}") from None
    for key, value in (("width", width), ("height", height), ("revision", revision)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DataError(path, f"{key} must be a non-negative integer, got {str(value)[:40]!r}")
    if not isinstance(image, str) or not isinstance(raw, list):
        raise DataError(path, "image must be text and points a list of [x, y]")
    tiles = parse_tiles(doc.get("tiles"), path) if doc["version"] >= 3 else None
    points = as_points(raw, path)
    if not inside(points, (height, width)).all():  # the rule the writer keeps: no head outside its image
        raise DataError(path, f"a point outside the {width}x{height} image")
    if doc["version"] < 4:
        return PointFile(
            image, width=width, height=height, revision=revision, points=points, status=status, tiles=tiles
        )
    ids, by, next_id = _identities(doc, len(points), path)
    status_by = parse_name(doc.get("status_by"), path, "status_by")
    review = parse_review(doc.get("review"), path)
    return PointFile(
        image,
        width=width,
        height=height,
        revision=revision,
        points=points,
        status=status,
        tiles=tiles,
        ids=ids,
        by=by,
        next_id=next_id,
        status_by=status_by,
        review=review,
    )


def _identities(doc: dict, n: int, source: str | Path) -> tuple[np.ndarray, tuple[str | None, ...], int]:
    """(ids, by, next_id) of a version-4 file, checked: one unique id and one name (or null) per head."""
    ids, by, next_id = doc.get("ids"), doc.get("by"), doc.get("next_id")
    whole = isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids)
    if not whole or len(ids) != n or len(set(ids)) != n:
        raise DataError(source, "ids must be one unique non-negative integer per point")
    if not isinstance(next_id, int) or isinstance(next_id, bool) or (ids and next_id <= max(ids)):
        raise DataError(source, "next_id must be an integer above every id")
    if not isinstance(by, list) or len(by) != n:
        raise DataError(source, "by must hold one user name (or null) per point")
    names = tuple(parse_name(b, source, "by") for b in by)
    return np.asarray(ids, np.int64), names, next_id


def write_point_file(path: Path, pf: PointFile) -> None:
    """Write atomically (temp, fsync, rename); refuses points outside the image."""
    pts = as_points(pf.points, path)
    parse_status(pf.status, path)
    if not inside(pts, (pf.height, pf.width)).all():
        raise DataError(path, "points outside the image")
    ids, by = pf.head_ids(), pf.head_by()
    if len(ids) != len(pts) or len(set(ids.tolist())) != len(ids) or len(by) != len(pts):
        raise DataError(path, "one unique id and one name per point")
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "image": pf.image,
        "width": pf.width,
        "height": pf.height,
        "revision": pf.revision,
        "status": pf.status,
        "tiles": pf.tiles.as_json() if pf.tiles is not None else None,
        "points": pts.tolist(),
        "ids": ids.tolist(),
        "next_id": pf.first_free_id(),
        "by": list(by),
        "status_by": pf.status_by,
        "review": pf.review.as_json() if pf.review is not None else None,
    }
    write_bytes(path, (strictjson.dumps(doc) + "\n").encode("utf-8"))
