"""The annotation tool's point file, ``points/<stem>.json`` (DESIGN.md section 7).

``{"format": "headcount-points", "version": 3, "image": "images/<name>",
"width": W, "height": H, "revision": R, "status": "todo" | "done" | "reviewed",
"tiles": {"cols": C, "rows": R, "done": [i, ...]} | null, "points": [[x, y], ...]}``

Version 2 added the per-image workflow `status`, so progress counts images an
annotator declared done, not images merely saved or converted. Version 3 adds
per-tile progress: the image cut into a ``cols`` x ``rows`` grid, and the tiles
(row-major index ``row * cols + col``) an annotator declared complete, which is
how a dense image of thousands of heads gets done piece by piece. Versions 1
and 2 are still read (``todo``, no tiles).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import strictjson
from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.points import as_points, inside

FORMAT = "headcount-points"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
MAX_TILES = 64  # per side
MAX_POINTS = 200_000  # per image; NWPU's densest has about 20,000 heads
STATUSES = ("todo", "done", "reviewed")


@dataclass(frozen=True)
class PointFile:
    image: str
    width: int
    height: int
    revision: int
    points: np.ndarray
    status: str = "todo"
    tiles: Tiles | None = None


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
    status = doc.get("status", "todo") if doc["version"] >= 2 else "todo"
    if status not in STATUSES:
        raise DataError(path, f"status must be one of {', '.join(STATUSES)}, got {status!r}")
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
    return PointFile(image, width, height, revision, as_points(raw, path), status, tiles)


def write_point_file(path: Path, pf: PointFile) -> None:
    """Write atomically (temp, fsync, rename); refuses points outside the image."""
    pts = as_points(pf.points, path)
    if pf.status not in STATUSES:
        raise DataError(path, f"status must be one of {', '.join(STATUSES)}, got {pf.status!r}")
    if not inside(pts, (pf.height, pf.width)).all():
        raise DataError(path, "points outside the image")
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
    }
    write_bytes(path, (json.dumps(doc) + "\n").encode("utf-8"))
