"""Head points, their confidence and the count from a model's output: the one decoder behind `evaluate`,
validation, `count --points` and the annotation tool's proposals.

`decode` picks by what the model was trained on:

* a FIDT map (Liang et al., FIDTM) counts and localizes by its peaks: local
  maxima (3x3) that reach ``100/255`` of the map's maximum, the paper's LMDS.
  Each is as sure as its height (1.0 at a head's own cell of an ideal map).
* a density map counts by its sum and localizes at the centres of the
  ``round(count)`` highest local maxima (3x3, value > 0): the model localizes as
  many heads as it counts, in the cells it is surest of. Each is as sure as the
  mass of its 3x3-cell window (1.0: one whole head there). Thresholding the map
  instead would flood precision with noise peaks.

Points sit at the centre of their output cell, ``(col + 0.5, row + 0.5) x
stride`` image pixels. Where several heads share a cell only one point can be
placed there: at CSRNet's stride 8 that loses about a fifth of the heads of the
densest ShanghaiTech A photos even from an ideal map, which is why dense
localization trains a FIDT map at output stride 4 or 2 (`pipeline.model`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter, uniform_filter

from pipeline.geometry import STRIDE
from pipeline.numerics import exact_sum

LMDS_RELATIVE = 100.0 / 255.0  # FIDTM's LMDS: a peak must reach this share of the map's maximum
LMDS_FLOOR = 0.1  # ... and a map whose maximum is below this has no heads


@dataclass(frozen=True)
class Heads:
    """One decoded output: the count, (N, 2) image-pixel ``(x, y)`` points, strongest first, and their confidence."""

    count: float
    points: np.ndarray
    scores: np.ndarray


def _maxima(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the 3x3 local maxima of `m`, highest first; ties by position, so the order is deterministic."""
    peaks = m == maximum_filter(m, size=3, mode="constant", cval=-np.inf)
    rows, cols = np.nonzero(peaks)
    order = np.lexsort((cols, rows, -m[rows, cols]))
    return rows[order], cols[order]


def _centres(rows: np.ndarray, cols: np.ndarray, stride: int) -> np.ndarray:
    return np.column_stack([(cols + 0.5) * stride, (rows + 0.5) * stride]).astype(np.float64).reshape(-1, 2)


def fidt_heads(fidt: np.ndarray, stride: int = STRIDE, relative: float | None = None) -> Heads:
    """The LMDS heads of a FIDT map at 1/`stride` resolution; none when its maximum is below 0.1 (an empty scene).

    A peak must reach `relative` of the map's maximum (None: FIDTM's `LMDS_RELATIVE`; a shipped model
    carries the share tuned on its validation split, `pipeline.checkpoint.trained_output`).

    >>> f = np.zeros((4, 4), np.float32); f[1, 2] = 0.9; f[3, 0] = 0.5; f[3, 3] = 0.2
    >>> fidt_heads(f).points.tolist()
    [[20.0, 12.0], [4.0, 28.0]]
    """
    f = np.asarray(fidt, np.float64)
    if f.size == 0 or f.max() < LMDS_FLOOR:
        return Heads(0.0, np.zeros((0, 2)), np.zeros(0))
    rows, cols = _maxima(f)
    keep = f[rows, cols] >= (LMDS_RELATIVE if relative is None else relative) * f.max()
    rows, cols = rows[keep], cols[keep]
    return Heads(float(len(rows)), _centres(rows, cols, stride), f[rows, cols])


def density_heads(density: np.ndarray, stride: int = STRIDE) -> Heads:
    """The count (the map's exact sum) and the ``round(count)`` strongest local maxima of a density map.

    >>> d = np.zeros((4, 4), np.float32); d[1, 2] = 0.9; d[3, 0] = 0.4
    >>> h = density_heads(d); h.points.tolist(), round(h.count, 6)
    ([[20.0, 12.0]], 1.3)
    """
    d = np.asarray(density, np.float64)
    count = exact_sum(d) if d.size else 0.0
    n = int(round(count))
    if n <= 0:
        return Heads(count, np.zeros((0, 2)), np.zeros(0))
    rows, cols = _maxima(d)
    keep = d[rows, cols] > 0
    rows, cols = rows[keep][:n], cols[keep][:n]
    mass = uniform_filter(d, size=3, mode="constant") * 9
    return Heads(count, _centres(rows, cols, stride), mass[rows, cols])


def decode(output: np.ndarray, target: str, stride: int = STRIDE, relative: float | None = None) -> Heads:
    """The `Heads` of one model output at 1/`stride` resolution, by the `target` it was trained on
    (`relative`: a FIDT peak's least share of the map's maximum, see `fidt_heads`)."""
    if target == "fidt":
        return fidt_heads(output, stride, relative)
    if target == "density":
        return density_heads(output, stride)
    raise ValueError(f"unknown target {target!r} (density or fidt)")
