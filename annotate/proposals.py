"""Head proposals from a model's density map, for model-assisted annotation."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter, uniform_filter

from pipeline.geometry import STRIDE
from pipeline.peaks import fidt_peaks

MIN_MASS = 0.5  # a proposal's 3x3-cell neighbourhood must hold at least half a head


def propose_points(density: np.ndarray, shape: tuple[int, int], min_mass: float = MIN_MASS) -> np.ndarray:
    """The points of `propose`."""
    return propose(density, shape, min_mass)[0]


def model_proposals(output: np.ndarray, shape: tuple[int, int], target: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(points, confidence, the model's count) of one model output, by what the model learnt: a density
    map's `propose` and its sum, or a FIDT map's LMDS peaks, each as sure as its height, and their number."""
    if target == "fidt":
        points = fidt_peaks(output)
        cells = (points // STRIDE).astype(int)
        return points, np.asarray(output, np.float64)[cells[:, 1], cells[:, 0]], float(len(points))
    points, scores = propose(output, shape)
    return points, scores, float(output.sum())


def propose(density: np.ndarray, shape: tuple[int, int], min_mass: float = MIN_MASS) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of a 1/8-resolution density whose neighbourhood sums to about one head or more:
    (points, confidence).

    Each proposal sits at the mass-weighted centre of its 3x3-cell window, in
    image pixels (x, y); at most round(total count) are returned, strongest first.
    Its confidence is that window's mass (1.0: the model sees one whole head
    there), which the page's threshold filters on.
    """
    d = np.clip(np.asarray(density, np.float64), 0, None)
    if d.size == 0 or d.sum() <= 0:
        return np.zeros((0, 2)), np.zeros(0)
    mass = uniform_filter(d, size=3, mode="constant") * 9
    peaks = (d == maximum_filter(d, size=3, mode="constant")) & (mass >= min_mass) & (d > 0)
    rows, cols = np.nonzero(peaks)
    order = np.argsort(-d[rows, cols], kind="stable")
    padded = np.pad(d, 1)
    out, taken, score = [], [], []
    for r, c in zip(rows[order], cols[order], strict=True):
        if len(out) >= round(d.sum()):
            break
        if any(abs(r - tr) <= 1 and abs(c - tc) <= 1 for tr, tc in taken):
            continue  # adjacent maxima are a plateau: one head
        taken.append((r, c))
        win = padded[r : r + 3, c : c + 3]
        dy, dx = np.mgrid[-1:2, -1:2]
        cy = r + float((win * dy).sum() / win.sum())
        cx = c + float((win * dx).sum() / win.sum())
        out.append(((cx + 0.5) * STRIDE, (cy + 0.5) * STRIDE))
        score.append(float(mass[r, c]))
    pts = np.array(out, dtype=np.float64).reshape(-1, 2)
    h, w = shape
    clipped = np.column_stack([np.clip(pts[:, 0], 0, w - 1e-3), np.clip(pts[:, 1], 0, h - 1e-3)])
    return clipped, np.asarray(score, np.float64)
