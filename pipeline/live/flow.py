"""In/out counts on lines, frame by frame, by tracks where heads can be told apart and by flux where not.

Each frame's density map gives the heads (`pipeline.decoder.decode`), which the tracker links
(`pipeline.live.tracking`); each frame pair's optical flow times the density gives the flux
(`pipeline.live.flux`). ``method`` picks per line:

- ``tracks``: whole crossings of confirmed tracks;
- ``flux``: fractional crossings from density and motion;
- ``auto``: per frame step, tracks where the heads near the line are at least `SEPARABLE` output
  cells apart on average (the model's points can be linked there), flux where they are closer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.decoder import decode
from pipeline.live.flux import flux, line_samples
from pipeline.live.tracking import PointTracker, TrackerConfig

if TYPE_CHECKING:
    from pipeline.live.lines import Line

METHODS = ("auto", "tracks", "flux")
SEPARABLE = 4.0  # output cells between heads, at least, for tracks to be trusted (benchmarks/flow.py)


@dataclass(frozen=True)
class LineCounting:
    """Which lines to count and how (`METHODS`)."""

    lines: tuple[Line, ...] = ()
    method: str = "auto"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")


class LineCounter:
    """Cumulative in/out per line over a video's frames."""

    def __init__(self, counting: LineCounting, tracker: TrackerConfig = TrackerConfig()) -> None:
        self.counting = counting
        self.tracker = PointTracker(list(counting.lines), tracker)
        self.totals = {line.name: [0.0, 0.0] for line in counting.lines}

    @property
    def needs_flow(self) -> bool:
        return self.counting.method != "tracks"

    def update(self, shape: tuple[int, int], density: np.ndarray, stride: int, flow: np.ndarray | None) -> dict:
        """One frame of `shape` (H, W): the model's density of it at `stride`, and the optical flow from the
        frame before (`pipeline.live.flux.Motion`; None for the first). Returns each line's cumulative
        ``in`` and ``out``, this step's ``step_in`` and ``step_out``, and the ``method`` this step used."""
        method = self.counting.method
        heads = decode(density, "density", stride).points if method != "flux" else np.zeros((0, 2))
        tracked = self.tracker.update(heads) if method != "flux" else {}
        out = {}
        for line in self.counting.lines:
            use = method
            if method == "auto":
                use = "tracks" if self._separable(line, density, stride, shape) else "flux"
            if use == "flux":
                step = flux(density, stride, flow, line) if flow is not None else (0.0, 0.0)
            else:
                step = tuple(float(v) for v in tracked[line.name])
            total = self.totals[line.name]
            total[0] += step[0]
            total[1] += step[1]
            out[line.name] = {
                "in": round(total[0], 3),
                "out": round(total[1], 3),
                "step_in": round(step[0], 3),
                "step_out": round(step[1], 3),
                "method": use,
            }
        return out

    @staticmethod
    def _separable(line: Line, density: np.ndarray, stride: int, shape: tuple[int, int]) -> bool:
        """Whether heads near `line` are `SEPARABLE` cells apart or more: their density per cell, averaged
        over the cells the line passes through and their neighbours, is at most 1 / SEPARABLE²."""
        points, _ = line_samples(line, shape)
        if not len(points):
            return True
        rows, cols = (points[:, 1] // stride).astype(int), (points[:, 0] // stride).astype(int)
        near = []
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                r, c = np.clip(rows + dr, 0, density.shape[0] - 1), np.clip(cols + dc, 0, density.shape[1] - 1)
                near.append(density[r, c])
        return float(np.mean(near)) <= 1.0 / SEPARABLE**2
