"""The prediction and ground-truth files `headcount score` reads: NWPU-Crowd's text files and CSV.

NWPU's localization files hold ``id num x y ...`` per line (5 values a head in
ground truth: ``x y sigma_s sigma_l level``; 2 in predictions). The CSV holds
``image_id,count`` or ``image_id,x,y`` rows. Every malformed line is a
`DataError` naming the file and the line, never a traceback.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TypeVar

import numpy as np

from pipeline.errors import DataError
from pipeline.score import LEVELS, Truth

# bounds on what a file may hold, checked as it is read, so that no later square or distance overflows
MAX_COORDINATE = 1e6  # px from the image's corner, either way: no image is a million pixels across
T = TypeVar("T")
MAX_COUNT = 1e7  # heads in one image (NWPU-Crowd's densest has about 20,000)


def _numbers(line: str, path: Path, lineno: int) -> list[float]:
    try:
        values = [float(v) for v in line.split()]
    except ValueError:
        raise DataError(path, f"line {lineno}: expected numbers separated by spaces") from None
    if not all(math.isfinite(v) for v in values):
        raise DataError(path, f"line {lineno}: a value is not finite")
    if any(abs(v) > MAX_COORDINATE for v in values):
        raise DataError(path, f"line {lineno}: a value beyond {MAX_COORDINATE:g} (ids, counts and pixels are smaller)")
    return values


def _image_id(value: float, path: Path, lineno: int) -> str:
    if value != int(value) or value < 0:
        raise DataError(path, f"line {lineno}: the image id must be a whole number")
    return str(int(value))


def _lines(path: Path):
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc})") from None
    for lineno, line in enumerate(text.splitlines(), 1):  # CRLF in the released files
        if line.strip():
            yield lineno, line


def _nwpu_lines(path: Path, per_head: int, also: int | None = None):
    """``(lineno, image id, (num, w) values)`` of each ``id num v v ...`` line of an NWPU file, with
    ``w = per_head`` values a head (or `also`: a prediction file may be a ground-truth file, 5 a head)."""
    seen: set[str] = set()
    for lineno, line in _lines(path):
        v = _numbers(line, path, lineno)
        n = int(v[1]) if len(v) >= 2 and int(v[1]) == v[1] and v[1] >= 0 else None
        width = next((k for k in (per_head, also) if k and n is not None and len(v) == 2 + k * n), None)
        if width is None:
            got = (len(v) - 2) / per_head if len(v) >= 2 else 0
            raise DataError(
                path,
                f"line {lineno}: says {v[1] if len(v) > 1 else '?'} points but holds {got:g} ({per_head} values each)",
            )
        image_id = _image_id(v[0], path, lineno)
        if image_id in seen:
            raise DataError(path, f"line {lineno}: image {image_id} appears twice")
        seen.add(image_id)
        yield lineno, image_id, np.asarray(v[2:], np.float64).reshape(-1, width)


def read_nwpu_gt(path: str | Path) -> dict[str, Truth]:
    """NWPU's localization ground truth: ``id num x y sigma_s sigma_l level ...`` per line."""
    path, out = Path(path), {}
    for lineno, image_id, rows in _nwpu_lines(path, 5):
        level = rows[:, 4]
        if ((level < 0) | (level >= LEVELS) | (level != np.floor(level))).any():
            raise DataError(path, f"line {lineno}: a head level outside 0..{LEVELS - 1}")
        out[image_id] = Truth(float(len(rows)), rows[:, :2], rows[:, 2:4], level.astype(np.int64))
    if not out:
        raise DataError(path, "no images in the ground-truth file")
    return out


def by_nwpu_id(truth: dict[str, T], where: str | Path) -> dict[str, T]:
    """`truth` keyed as NWPU files key images: by the integer id the NWPU writers give each image
    (`pipeline.score.nwpu_ids`: ``IMG_12`` is ``12``). An NWPU prediction of a ShanghaiTech store then
    meets its images instead of missing every one."""
    if all(k.isdigit() and str(int(k)) == k for k in truth):
        return truth
    from pipeline.score import nwpu_ids

    ids = nwpu_ids(list(truth), Path(where))
    return {str(ids[k]): v for k, v in truth.items()}


def read_nwpu_pred(path: str | Path) -> dict[str, np.ndarray]:
    """NWPU's localization predictions: ``id num x y x y ...`` per line (a ground-truth file's heads also do)."""
    return {image_id: rows[:, :2] for _, image_id, rows in _nwpu_lines(Path(path), 2, also=5)}


def read_csv_pred(path: str | Path) -> tuple[dict[str, np.ndarray] | None, dict[str, float]]:
    """A CSV of ``image_id,count`` (counts only) or ``image_id,x,y`` (a row per head; ``image_id,,`` for an
    image with none): (points or None, counts)."""
    path = Path(path)
    rows = [(lineno, next(csv.reader([line]))) for lineno, line in _lines(path)]  # the file's own line numbers
    if not rows:
        raise DataError(path, "empty prediction file")
    header = [c.strip().lower() for c in rows[0][1]]
    if header not in (["image_id", "count"], ["image_id", "x", "y"]):
        raise DataError(path, "line 1: expected the header image_id,count or image_id,x,y")
    points: dict[str, list] = {}
    counts: dict[str, float] = {}
    for lineno, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(path, f"line {lineno}: expected {len(header)} columns")
        if len(header) == 3 and not row[1].strip() and not row[2].strip():  # ``id,,``: an image with no heads
            points.setdefault(row[0].strip(), [])
            continue
        try:
            values = [float(c) for c in row[1:]]
        except ValueError:
            raise DataError(path, f"line {lineno}: expected numbers after the image id") from None
        if not all(math.isfinite(v) for v in values):
            raise DataError(path, f"line {lineno}: a value is not finite")
        image_id = row[0].strip()
        if len(header) == 2 and not 0 <= values[0] <= MAX_COUNT:
            raise DataError(path, f"line {lineno}: a count must be in 0..{MAX_COUNT:g}, got {values[0]:g}")
        if len(header) == 3 and any(abs(v) > MAX_COORDINATE for v in values):
            raise DataError(path, f"line {lineno}: a coordinate beyond {MAX_COORDINATE:g} px")
        if len(header) == 2:
            if image_id in counts:
                raise DataError(path, f"line {lineno}: image {image_id} appears twice")
            counts[image_id] = values[0]
        else:
            points.setdefault(image_id, []).append(values)
    if len(header) == 2:
        return None, counts
    pts = {k: np.asarray(v, np.float64).reshape(-1, 2) for k, v in points.items()}
    return pts, {k: float(len(v)) for k, v in pts.items()}
