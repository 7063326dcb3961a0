"""Head points linked over frames into tracks, and the tracks' crossings of counting lines.

Each track is a constant-velocity Kalman filter on (x, y); each frame's heads are assigned to the
tracks' predictions one to one (the Hungarian method, `scipy.optimize.linear_sum_assignment`),
within `max_distance` pixels. A head no track takes starts a track; a track missed for more than
`max_misses` frames ends. This is SORT (Bewley et al. 2016) for points, which is what norfair
does for points too; norfair itself needs numpy < 2, which the pinned numerics cannot take.

A track counts on a line once it has been seen `min_hits` times (a spurious peak that lives for
one frame crosses nothing), by the step of its filtered position from one matched frame to the
next, so a head decoded a pixel either side of the line in turn is not a stream of crossings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

if TYPE_CHECKING:
    from pipeline.live.lines import Line

F = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]], np.float64)  # x += vx, y += vy
H = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float64)


@dataclass
class Track:
    id: int
    state: np.ndarray  # x, y, vx, vy
    cov: np.ndarray
    last: np.ndarray  # its filtered position when a head was last matched to it
    hits: int = 1
    misses: int = 0
    counted: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class TrackerConfig:
    max_distance: float = 12.0  # pixels between a prediction and a head it may take
    max_misses: int = 5  # frames a track survives without a head
    min_hits: int = 2  # heads before a track counts on lines
    motion_noise: float = 1.0  # pixels per frame: how much a walker's velocity may change
    point_noise: float = 2.0  # pixels: how far a decoded head lies from the true one


class PointTracker:
    """Tracks of head points, frame by frame, with per-line in/out totals."""

    def __init__(self, lines: list[Line] = (), config: TrackerConfig = TrackerConfig()) -> None:
        self.config, self.lines = config, list(lines)
        self.tracks: list[Track] = []
        self.next_id = 1
        self.totals = {line.name: [0, 0] for line in self.lines}
        q = config.motion_noise**2
        self.Q = np.diag([q / 4, q / 4, q, q])
        self.R = np.eye(2) * config.point_noise**2

    def update(self, points: np.ndarray) -> dict[str, tuple[int, int]]:
        """Take one frame's (K, 2) heads; returns each line's (in, out) crossings in this frame."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        for t in self.tracks:  # predict
            t.state = F @ t.state
            t.cov = F @ t.cov @ F.T + self.Q
        taken = np.zeros(len(points), bool)
        matched: list[tuple[Track, np.ndarray]] = []
        if self.tracks and len(points):
            predicted = np.array([t.state[:2] for t in self.tracks])
            cost = np.linalg.norm(predicted[:, None] - points[None], axis=2)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] <= self.config.max_distance:
                    matched.append((self.tracks[r], points[c]))
                    taken[c] = True
        crossed = {line.name: [0, 0] for line in self.lines}
        seen = set()
        for t, p in matched:
            gain = t.cov @ H.T @ np.linalg.inv(H @ t.cov @ H.T + self.R)
            t.state = t.state + gain @ (p - H @ t.state)
            t.cov = (np.eye(4) - gain @ H) @ t.cov
            t.hits, t.misses = t.hits + 1, 0
            here = t.state[:2].copy()  # filtered: a head decoded a pixel either side of the line crosses nothing
            if t.hits > self.config.min_hits:
                for line in self.lines:
                    c = int(line.crossings(t.last, here)[0])
                    if c:
                        crossed[line.name][0 if c > 0 else 1] += 1
            t.last = here
            seen.add(id(t))
        for t in self.tracks:
            if id(t) not in seen:
                t.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.config.max_misses]
        for p in points[~taken]:
            cov = np.diag([self.config.point_noise**2] * 2 + [25.0, 25.0])
            self.tracks.append(Track(self.next_id, np.array([p[0], p[1], 0.0, 0.0]), cov, p))
            self.next_id += 1
        for name, (i, o) in crossed.items():
            self.totals[name][0] += i
            self.totals[name][1] += o
        return {name: (i, o) for name, (i, o) in crossed.items()}

    def active(self) -> list[tuple[int, np.ndarray]]:
        """(id, (x, y)) of the tracks matched in this frame."""
        return [(t.id, t.last) for t in self.tracks if t.misses == 0]
