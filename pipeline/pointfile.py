"""The annotation tool's point file, ``points/<stem>.json`` (DESIGN.md section 7).

``{"format": "headcount-points", "version": 2, "image": "images/<name>",
"width": W, "height": H, "revision": R, "status": "todo" | "done" | "reviewed",
"points": [[x, y], ...]}``

Version 2 adds the per-image workflow `status`, so progress counts images an
annotator declared done, not images merely saved or converted. Version 1 files
(no status) are still read, as ``todo``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.points import as_points, inside

FORMAT = "headcount-points"
VERSION = 2
READABLE_VERSIONS = (1, 2)
STATUSES = ("todo", "done", "reviewed")


@dataclass(frozen=True)
class PointFile:
    image: str
    width: int
    height: int
    revision: int
    points: np.ndarray
    status: str = "todo"


def read_point_file(path: Path) -> PointFile:
    """Parse and validate a point file; `DataError` names what is wrong."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "point file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not a readable JSON point file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(path, f'not a headcount point file (expected "format": "{FORMAT}")')
    if doc.get("version") not in READABLE_VERSIONS:
        versions = " or ".join(map(str, READABLE_VERSIONS))
        raise DataError(path, f"unsupported point-file version {doc.get('version')!r} (expected {versions})")
    status = doc.get("status", "todo") if doc["version"] >= 2 else "todo"
    if status not in STATUSES:
        raise DataError(path, f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    try:
        width, height, revision = int(doc["width"]), int(doc["height"]), int(doc["revision"])
        image = str(doc["image"])
        raw = doc["points"]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(path, f"missing or malformed field ({exc})") from None
    return PointFile(image, width, height, revision, as_points(raw, path), status)


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
        "points": pts.tolist(),
    }
    write_bytes(path, (json.dumps(doc) + "\n").encode("utf-8"))
