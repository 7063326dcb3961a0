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
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from pipeline import strictjson
from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.point_arrays import as_points, inside
from pipeline.schema import Strict, Whole, validated
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


class TilesDoc(Strict):
    cols: Annotated[int, Field(ge=1, le=MAX_TILES)]
    rows: Annotated[int, Field(ge=1, le=MAX_TILES)]
    done: list[Whole] = []


class PointDoc(Strict):
    """A point file as declared: each field's type and range, checked before any value is used. The
    heads go through `pipeline.point_arrays.as_points` (an (N, 2) array of plain numbers), the workflow
    fields through `pipeline.work`'s one definition of a status, a name and a review."""

    format: Literal["headcount-points"]
    version: Literal[READABLE_VERSIONS]
    image: Annotated[str, Field(min_length=1)]
    width: Whole
    height: Whole
    revision: Whole
    points: Annotated[list, Field(max_length=MAX_POINTS)]
    status: object = "todo"
    tiles: TilesDoc | None = None
    ids: list[Whole] | None = None
    next_id: Whole | None = None
    by: list[object] | None = None
    status_by: object = None
    review: object = None


def parse_tiles(doc: object, source: str | Path) -> Tiles | None:
    """`Tiles` from their JSON form (None stays None); `DataError` for a malformed grid."""
    if doc is None:
        return None
    t = doc if isinstance(doc, TilesDoc) else validated(TilesDoc, doc, source, "tiles.")
    if any(not i < t.cols * t.rows for i in t.done):
        raise DataError(source, f"a done tile index is outside the {t.cols}x{t.rows} grid")
    return Tiles(t.cols, t.rows, frozenset(t.done))


def read_point_file(path: Path) -> PointFile:
    """Parse and validate a point file against `PointDoc`; `DataError` names what is wrong."""
    if not path.exists():
        raise DataError(path, "point file not found")
    try:
        raw = strictjson.read(path)
    except DataError as exc:
        raise DataError(path, f"not a readable JSON point file ({exc.problem})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DataError(path, f'not a headcount point file (expected "format": "{FORMAT}")')
    if raw.get("version") not in READABLE_VERSIONS:
        versions = " or ".join(map(str, READABLE_VERSIONS))
        raise DataError(path, f"unsupported point-file version {raw.get('version')!r} (expected {versions})")
    doc = validated(PointDoc, raw, path)
    status = parse_status(doc.status if doc.version >= 2 else "todo", path)
    tiles = parse_tiles(doc.tiles, path) if doc.version >= 3 else None
    points = as_points(doc.points, path)
    if not inside(points, (doc.height, doc.width)).all():  # the rule the writer keeps: no head outside its image
        raise DataError(path, f"a point outside the {doc.width}x{doc.height} image")
    size = {"width": doc.width, "height": doc.height, "revision": doc.revision, "points": points}
    if doc.version < 4:
        return PointFile(doc.image, **size, status=status, tiles=tiles)
    ids, by, next_id = _identities(doc, len(points), path)
    status_by = parse_name(doc.status_by, path, "status_by")
    review = parse_review(doc.review, path)
    return PointFile(
        doc.image,
        **size,
        status=status,
        tiles=tiles,
        ids=ids,
        by=by,
        next_id=next_id,
        status_by=status_by,
        review=review,
    )


def _identities(doc: PointDoc, n: int, source: str | Path) -> tuple[np.ndarray, tuple[str | None, ...], int]:
    """(ids, by, next_id) of a version-4 file, checked: one unique id and one name (or null) per head."""
    ids, by, next_id = doc.ids, doc.by, doc.next_id
    if ids is None or len(ids) != n or len(set(ids)) != n:
        raise DataError(source, "ids must be one unique non-negative integer per point")
    if next_id is None or (ids and next_id <= max(ids)):
        raise DataError(source, "next_id must be an integer above every id")
    if by is None or len(by) != n:
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
