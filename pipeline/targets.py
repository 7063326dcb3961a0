"""Training targets at the model's output resolution, made from a crop's density map and head points.

- ``density``: the map sum-pooled ``d x d`` (`sum_pool`): a target sums to its crop's density sum.
- ``points``: heads per ``d x d`` cell (`head_count_map`), DM-Count's discrete map: sum = count.
- ``fidt``: the focal inverse distance transform of Liang et al. 2021, "Focal Inverse Distance
  Transform Maps for Crowd Localization" (`fidt_map`): ``I = 1 / (P ** (alpha P + beta) + C)``,
  with P the distance to the nearest head. A head's own cell has P = 0, so I = 1 / C (1 by
  default) there, and it falls off fast with no overlap between neighbours to blur them, unlike a
  density map: its peaks are the heads (decoded by `pipeline.decoder.fidt_peaks`). The paper's
  constants are the defaults.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt

from pipeline.geometry import STRIDE

TARGETS = ("density", "points", "fidt")
ALPHA, BETA, C = 0.02, 0.75, 1.0


def sum_pool(density: np.ndarray, factor: int = STRIDE) -> np.ndarray:
    """Sum ``factor x factor`` blocks; pads bottom/right with zeros. The total is unchanged.

    >>> sum_pool(np.ones((9, 16), np.float32)).tolist()
    [[64.0, 64.0], [8.0, 8.0]]
    """
    h, w = density.shape
    ph, pw = -h % factor, -w % factor
    d = np.pad(density.astype(np.float64), ((0, ph), (0, pw)))
    return d.reshape(d.shape[0] // factor, factor, d.shape[1] // factor, factor).sum(axis=(1, 3)).astype(np.float32)


def head_count_map(points: np.ndarray, shape: tuple[int, int], downsample: int = STRIDE) -> np.ndarray:
    """Heads per ``d x d`` cell, float32 ``ceil(H/d) x ceil(W/d)``: DM-Count's discrete map, sum = count."""
    h, w = (-(-int(s) // downsample) for s in shape)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    out = np.zeros((h, w), np.float32)
    cols = np.clip((pts[:, 0] // downsample).astype(np.int64), 0, w - 1)
    rows = np.clip((pts[:, 1] // downsample).astype(np.int64), 0, h - 1)
    np.add.at(out, (rows, cols), 1.0)
    return out


def fidt_map(
    points: np.ndarray,
    shape: tuple[int, int],
    downsample: int = 1,
    alpha: float = ALPHA,
    beta: float = BETA,
    c: float = C,
) -> np.ndarray:
    """float32 FIDT map of ``ceil(H/d) x ceil(W/d)`` cells for in-image `points` (x, y) of an ``(H, W)`` image.

    Each head marks the cell holding it (``floor(x/d), floor(y/d)``); P is the
    Euclidean distance between cells times `d`, in input pixels. At ``d = 1`` this is
    the paper's pixel map. No heads: P is infinite everywhere and the map is 0.
    """
    h, w = (-(-int(s) // downsample) for s in shape)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return np.zeros((h, w), np.float32)
    cols = np.clip((pts[:, 0] // downsample).astype(np.int64), 0, w - 1)
    rows = np.clip((pts[:, 1] // downsample).astype(np.int64), 0, h - 1)
    empty = np.ones((h, w), bool)
    empty[rows, cols] = False
    p = distance_transform_edt(empty) * downsample
    return (1.0 / (np.power(p, alpha * p + beta) + c)).astype(np.float32)


def target_map(
    kind: str, density: np.ndarray | None, points: np.ndarray, shape: tuple[int, int], downsample: int = STRIDE
) -> np.ndarray:
    """The `kind` target of one image or crop of `shape`; ``density`` needs its map, the others only points."""
    if kind == "density":
        return sum_pool(density, downsample)
    if kind == "points":
        return head_count_map(points, shape, downsample)
    if kind == "fidt":
        return fidt_map(points, shape, downsample)
    raise ValueError(f"unknown target {kind!r} (one of {', '.join(TARGETS)})")
