"""Counting metrics: MAE, RMSE and GAME on plain arrays.

True counts are annotated heads, never a density sum (the reference CSRNet code
compares with a resized density map's sum, which is not the annotation).
"""

from __future__ import annotations

import numpy as np

from pipeline.geometry import STRIDE


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute count error.

    >>> mae(np.array([10.0, 20.0]), np.array([12, 20]))
    1.0
    """
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - np.asarray(true, np.float64))))


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared count error (papers call it MSE).

    >>> rmse(np.array([10.0, 20.0]), np.array([12, 20]))
    1.4142135623730951
    """
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - np.asarray(true, np.float64)) ** 2)))


def region_index(coord: np.ndarray, size: int, cells: int) -> np.ndarray:
    """Which of `cells` equal bands along an axis of length `size` a coordinate falls in."""
    return np.clip(np.floor(np.asarray(coord, np.float64) * cells / size).astype(np.int64), 0, cells - 1)


def game_error(
    pred_map: np.ndarray, points: np.ndarray, shape: tuple[int, int], level: int, stride: int = STRIDE
) -> float:
    """GAME(L) of one image: sum over 4^L equal regions of |predicted - true| count.

    `pred_map` is the model output at 1/`stride` resolution; each output cell
    counts in the region holding its centre, so GAME(0) is exactly the absolute
    count error.
    """
    h, w = shape
    n = 2**level
    ph, pw = pred_map.shape
    rows = region_index((np.arange(ph) + 0.5) * stride, h, n)
    cols = region_index((np.arange(pw) + 0.5) * stride, w, n)
    pred = np.zeros((n, n))
    np.add.at(pred, (rows[:, None], cols[None, :]), np.asarray(pred_map, np.float64))
    true = np.zeros((n, n))
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    np.add.at(true, (region_index(pts[:, 1], h, n), region_index(pts[:, 0], w, n)), 1.0)
    return float(np.abs(pred - true).sum())
