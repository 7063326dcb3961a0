"""Head-point arrays: validation, the in-image test and pixel snapping.

Points are float64 ``(N, 2)`` arrays of ``(x, y)`` with the origin at the top-left
corner of the top-left pixel, so a point lies in pixel ``[floor(y), floor(x)]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import DataError


def as_points(points: object, source: str | Path | None = None) -> np.ndarray:
    """Return `points` as a float64 ``(N, 2)`` array, or raise `DataError`.

    Validated once here so every later step can trust its input; `source` names
    the file in the message.

    >>> as_points([[1, 2]]).dtype
    dtype('float64')
    """
    if isinstance(points, list | tuple) and any(
        not isinstance(v, int | float) or isinstance(v, bool) for p in points if isinstance(p, list | tuple) for v in p
    ):  # parsed JSON: "12" or true is not a coordinate, whatever numpy would make of it
        raise DataError(source, "points must be numbers, not text or true/false")
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(source, f"points are not numeric ({exc})") from None
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DataError(source, f"points must be an (N, 2) array of x, y; got shape {arr.shape}")
    arr = np.ascontiguousarray(arr)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            source,
            f"{int(bad.sum())} point(s) have non-finite coordinates (first: #{i} = {arr[i].tolist()})",
        )
    return arr


def inside(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of points with ``0 <= x < W`` and ``0 <= y < H``."""
    h, w = shape
    x, y = points[:, 0], points[:, 1]
    return (x >= 0) & (x < w) & (y >= 0) & (y < h)


def split_inside(
    points: np.ndarray, shape: tuple[int, int], sizes: np.ndarray | None = None
) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Keep the in-image points (and their `sizes`, one per point); return them and how many were dropped.

    Out-of-image points are counted, never clipped or wrapped: clipping moves a
    head, and the classic ``int()`` indexing wraps negative ones to the far edge.
    """
    mask = inside(points, shape)
    return points[mask], int(len(points) - mask.sum()), None if sizes is None else sizes[mask]


def snap(points: np.ndarray) -> np.ndarray:
    """Integer pixel ``(col, row)`` of each in-image point, as int64 ``(N, 2)``."""
    return np.floor(points).astype(np.int64)
