"""Crossings as flux: the density on a line times the crowd's motion across it, per frame pair.

Why: where heads are too close to tell apart, no tracker can follow them, but the density map still
says how many people stand on each stretch of the line, and dense optical flow says how far the
picture there moved. People crossing in one frame step, on a line of length L, are the integral
over the line of density (people per pixel²) times the motion's component along the line's normal
(pixels per frame): a fractional count that holds however dense the crowd. The positive part is
"in", the negative part "out", each summed over the line (so two streams in opposite directions
are both counted).

Motion is OpenCV's Farnebäck flow between consecutive greyscale frames; the density is the model's
map of the later frame, its cells' share spread over their pixels. Where only lines need it, the flow
is computed in the box around them, `MARGIN` px wider on each side, and is zero elsewhere: the lines'
crossings move by a tenth of a person or less against the whole frame's flow (benchmarks/README.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pipeline.live.lines import Line


MARGIN = 32  # px around the lines' box where flow is computed for them alone


def optical_flow(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(H, W, 2) motion in pixels from RGB frame `before` to `after` (dense, Farnebäck)."""
    import cv2

    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (before, after)]
    return cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)


def lines_box(lines: list[Line], shape: tuple[int, int], margin: int = MARGIN) -> tuple[slice, slice]:
    """(rows, cols) of the box around `lines` in an image of `shape` (H, W), `margin` px wider each side."""
    ends = np.array([p for line in lines for p in (line.a, line.b)], np.float64).reshape(-1, 2)
    h, w = shape
    x0, y0 = np.floor(ends.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(ends.max(axis=0)).astype(int) + margin + 1
    return slice(max(0, min(y0, h)), max(0, min(y1, h))), slice(max(0, min(x0, w)), max(0, min(x1, w)))


class Motion:
    """The optical flow from the previous frame to each new one (None for the first, or after a size change).

    With `lines`, only the box around them (`lines_box`) gets flow, zero elsewhere: all that `flux` reads.
    """

    def __init__(self, lines: list[Line] | None = None) -> None:
        self.previous: np.ndarray | None = None
        self.lines = list(lines) if lines else None

    def step(self, image: np.ndarray) -> np.ndarray | None:
        flow = None
        if self.previous is not None and self.previous.shape == image.shape:
            if self.lines is None:
                flow = optical_flow(self.previous, image)
            else:
                rows, cols = lines_box(self.lines, image.shape[:2])
                flow = np.zeros((*image.shape[:2], 2), np.float32)
                if rows.stop - rows.start >= 2 and cols.stop - cols.start >= 2:
                    flow[rows, cols] = optical_flow(self.previous[rows, cols], image[rows, cols])
        self.previous = image
        return flow


def line_samples(line: Line, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """(S, 2) points at most 1 px apart along the segment, inside an image of `shape` (H, W), and the
    length of line each stands for."""
    length = float(np.linalg.norm(line.b - line.a))
    n = max(int(np.ceil(length)), 1)
    t = (np.arange(n) + 0.5) / n
    points = line.a + t[:, None] * (line.b - line.a)
    h, w = shape
    inside = (points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)
    return (points[inside] if length >= 1 else points[:0]), length / n


def flux(density: np.ndarray, stride: int, flow: np.ndarray, line: Line) -> tuple[float, float]:
    """(in, out): people crossing `line` in one frame step, from the model's `density` (cells of
    `stride` px) and the frame pair's `flow`."""
    points, step = line_samples(line, flow.shape[:2])
    if not len(points):
        return 0.0, 0.0
    cols, rows = points[:, 0].astype(int), points[:, 1].astype(int)
    per_pixel = density[rows // stride, cols // stride] / float(stride * stride)
    across = flow[rows, cols] @ line.normal  # pixels per frame towards the "in" side
    crossing = per_pixel * across * step
    return float(crossing[crossing > 0].sum()), float(-crossing[crossing < 0].sum())
