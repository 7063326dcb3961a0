"""Counting lines: named segments with a direction, and which way a moving head crosses one.

A line file is YAML or JSON, in the same strict form as a zone file::

    lines:
      - name: gate
        points: [[320, 40], [320, 320]]   # from a to b, x, y in image pixels
        in: right                         # moving to this side of a -> b counts as "in"
        occupancy_threshold: 200          # optional: alert when in - out reaches this
        rate_threshold: 60                # optional: alert at this many crossings a minute

Sides are as seen on the screen, walking from `a` to `b`: with a line drawn top to bottom,
``right`` is the image's left (y grows downwards). A step from one frame's position to the
next crosses the line when it passes from one side to the other within the segment; a point
exactly on the line counts as on its left, so a crossing is counted once, never twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from pipeline.errors import DataError
from pipeline.live.itemfile import read_items
from pipeline.schema import Closed, Name, Number, Pair


@dataclass(frozen=True)
class Line:
    name: str
    a: np.ndarray  # (2,) float64 x, y
    b: np.ndarray
    in_side: str = "right"  # the side an "in" crossing moves to
    occupancy_threshold: float | None = None  # alert when in - out (smoothed) reaches this
    rate_threshold: float | None = None  # alert when crossings a minute, both ways (smoothed), reach this

    @property
    def normal(self) -> np.ndarray:
        """The unit normal pointing to the "in" side."""
        d = (self.b - self.a) / np.linalg.norm(self.b - self.a)
        right = np.array([-d[1], d[0]])  # y down: rotating a -> b by +90 degrees on screen points right
        return right if self.in_side == "right" else -right

    def side(self, points: np.ndarray) -> np.ndarray:
        """+1 for points on the "in" side of the line through a and b, -1 for the other (and on the line)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        d = self.b - self.a
        cross = d[0] * (points[:, 1] - self.a[1]) - d[1] * (points[:, 0] - self.a[0])  # > 0: right, on screen
        right = cross > 0
        return np.where(right == (self.in_side == "right"), 1, -1)

    def crossings(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Per step ``before[i] -> after[i]``: +1 crossing in, -1 crossing out, 0 neither (NaN: no step)."""
        before, after = (np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in (before, after))
        ok = np.isfinite(before).all(axis=1) & np.isfinite(after).all(axis=1)
        s0, s1 = self.side(np.where(ok[:, None], before, 0)), self.side(np.where(ok[:, None], after, 0))
        changed = ok & (s0 != s1)
        d = self.b - self.a
        c0 = d[0] * (before[:, 1] - self.a[1]) - d[1] * (before[:, 0] - self.a[0])
        c1 = d[0] * (after[:, 1] - self.a[1]) - d[1] * (after[:, 0] - self.a[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(changed, c0 / (c0 - c1), 0.0)  # where the step meets the line
        hit = before + u[:, None] * (after - before)
        t = ((hit - self.a) @ d) / (d @ d)  # where along a -> b
        within = changed & (t >= 0) & (t <= 1)
        return np.where(within, s1, 0).astype(np.int64)


class LineItem(Closed):
    name: Name
    points: Annotated[list[Pair], Field(min_length=2, max_length=2)]  # a, b in image pixels
    in_side: Literal["left", "right"] = Field("right", alias="in")
    occupancy_threshold: Number | None = None
    rate_threshold: Number | None = None


def load_lines(path: str | Path) -> list[Line]:
    """Lines from a YAML or JSON file; a bad file is a `DataError` naming it and the problem."""
    lines = []
    for item in read_items(path, "lines", "line file", LineItem, "line"):
        a, b = (np.asarray(p, dtype=np.float64) for p in item.points)
        if np.array_equal(a, b):
            raise DataError(path, f"line {item.name!r}: its two points are the same")
        lines.append(Line(item.name, a, b, item.in_side, item.occupancy_threshold, item.rate_threshold))
    return lines
