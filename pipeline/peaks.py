"""Head points (and counts) from a model's output: the decoders behind `evaluate`, validation and `count`.

`decode` picks by what the model was trained on: a density map counts by its
sum and localizes with `density_peaks`; a FIDT map counts and localizes by its
peaks (`fidt_peaks`, the paper's LMDS).

Density maps:

Why this rule: a density map at 1/8 resolution has no sharp head positions,
and thresholding it floods precision with noise peaks. So a point is placed at
the centre of each of the ``round(count)`` highest local maxima (3x3, value >
0) of the output, where ``count`` is the map's own sum: the model localizes as
many heads as it counts, in the cells it is surest of. Where several heads
share a cell only one point can be placed there, which is the honest limit of
a stride-8 density map (a FIDT target localizes better).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter

from pipeline.numerics import exact_sum


def density_peaks(density: np.ndarray, stride: int = 8) -> np.ndarray:
    """(N, 2) image-pixel ``(x, y)`` points for a (h, w) model output at 1/`stride` resolution.

    >>> d = np.zeros((4, 4), np.float32); d[1, 2] = 0.9; d[3, 0] = 0.4
    >>> density_peaks(d).tolist()
    [[20.0, 12.0]]
    """
    d = np.asarray(density, np.float64)
    n = int(round(float(d.sum())))
    if n <= 0 or d.size == 0:
        return np.zeros((0, 2))
    peaks = (d == maximum_filter(d, size=3, mode="constant", cval=-np.inf)) & (d > 0)
    rows, cols = np.nonzero(peaks)
    order = np.lexsort((cols, rows, -d[rows, cols]))[:n]  # highest first; ties by position: deterministic
    return np.column_stack([(cols[order] + 0.5) * stride, (rows[order] + 0.5) * stride])


LMDS_RELATIVE = 100.0 / 255.0  # FIDTM's LMDS: a peak must reach this share of the map's maximum
LMDS_FLOOR = 0.1  # ... and a map whose maximum is below this has no heads


def fidt_peaks(fidt: np.ndarray, stride: int = 8) -> np.ndarray:
    """(N, 2) image-pixel points of a FIDT map: LMDS, the decoder of Liang et al. (FIDTM).

    Local maxima (3x3) that reach ``100/255`` of the map's maximum, at cell
    centres; none when the maximum is below 0.1 (an empty scene). The count is
    the number of points.

    >>> f = np.zeros((4, 4), np.float32); f[1, 2] = 0.9; f[3, 0] = 0.5; f[3, 3] = 0.2
    >>> fidt_peaks(f).tolist()
    [[20.0, 12.0], [4.0, 28.0]]
    """
    f = np.asarray(fidt, np.float64)
    if f.size == 0 or f.max() < LMDS_FLOOR:
        return np.zeros((0, 2))
    peaks = (f == maximum_filter(f, size=3, mode="constant", cval=-np.inf)) & (f >= LMDS_RELATIVE * f.max())
    rows, cols = np.nonzero(peaks)
    order = np.lexsort((cols, rows, -f[rows, cols]))
    return np.column_stack([(cols[order] + 0.5) * stride, (rows[order] + 0.5) * stride])


def decode(output: np.ndarray, target: str, stride: int = 8) -> tuple[float, np.ndarray]:
    """(count, points) of one model output, by the `target` it was trained on ("density" or "fidt")."""
    if target == "fidt":
        points = fidt_peaks(output, stride)
        return float(len(points)), points
    return exact_sum(np.asarray(output)), density_peaks(output, stride)
