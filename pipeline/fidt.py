"""The focal inverse distance transform (FIDT) map of Liang et al. 2021, "Focal Inverse Distance
Transform Maps for Crowd Localization": a localization target whose peaks are the heads.

``I(x) = 1 / (P(x) ** (alpha * P(x) + beta) + C)``, with P the distance from x to
the nearest head. A head's own cell has P = 0, so I = 1 / C (1 by default) there and falls
off quickly, with no overlap between neighbours to blur them together, unlike a
density map. The paper's constants are the defaults.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt

ALPHA, BETA, C = 0.02, 0.75, 1.0


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
