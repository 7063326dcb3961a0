"""The annotation page's density preview: the full map's picture at the screen's size."""

from __future__ import annotations

import numpy as np

from pipeline.density import head_kernels, render
from pipeline.kernels import DensityParams


def preview_map(
    points: object, shape: tuple[int, int], max_side: int, params: DensityParams, sizes: object = None
) -> np.ndarray:
    """The density map of `points` drawn at most `max_side` pixels on its long side, for a screen.

    Heads and sigmas are those of the full-size map with the kernel of
    `params`, scaled down: the picture and the count are the full map's,
    at a cost that follows the screen, not the photo (a 6000x4000 map with 5,000
    heads takes seconds at full size). Not for training: its pixels are not the
    stored map's.
    """
    h, w = (int(v) for v in shape)
    _, heads, sig, _ = head_kernels(points, (h, w), params, sizes)
    scale = min(1.0, max(1, int(max_side)) / max(h, w))
    small = (max(1, round(h * scale)), max(1, round(w * scale)))
    fy, fx = small[0] / h, small[1] / w
    cols = np.minimum(((heads[:, 0] + 0.5) * fx).astype(np.int64), small[1] - 1)
    rows = np.minimum(((heads[:, 1] + 0.5) * fy).astype(np.int64), small[0] - 1)
    return render(np.column_stack([cols, rows]), sig * min(fx, fy), small, params.border == "renormalize")
