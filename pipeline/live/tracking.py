"""Head points linked over frames into tracks, and the tracks' crossings of counting lines.

Each track is a constant-velocity Kalman filter on (x, y); each frame's heads are assigned to the
tracks' predictions one to one (the Hungarian method, `scipy.optimize.linear_sum_assignment`),
within `max_distance` pixels. A head no track takes starts a track; a track missed for more than
`max_misses` frames ends. This is SORT (Bewley et al. 2016) for points, which is what norfair
does for points too; norfair itself needs numpy < 2, which the pinned numerics cannot take.

A track's crossings count once it has been seen more than `min_hits` times (a spurious peak that
lives for a frame or two crosses nothing); those it made before are held and counted when it is
confirmed, so a head that crosses just after its track starts is not lost. A crossing is the step of
the filtered position from one matched frame to the next, so a head decoded a pixel either side of
the line in turn is not a stream of crossings.

The tracks are arrays (states, covariances, ...), each step of the filter one array operation over
all of them: a dense crowd holds hundreds of tracks, and a frame must take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

if TYPE_CHECKING:
    from pipeline.live.lines import Line

F = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]], np.float64)  # x += vx, y += vy


@dataclass(frozen=True)
class TrackerConfig:
    max_distance: float = 12.0  # pixels between a prediction and a head it may take
    max_misses: int = 5  # frames a track survives without a head
    min_hits: int = 2  # heads before a track counts on lines
    motion_noise: float = 1.0  # pixels per frame: how much a walker's velocity may change
    point_noise: float = 2.0  # pixels: how far a decoded head lies from the true one


def _predicted_cov(cov: np.ndarray) -> np.ndarray:
    """``F @ cov @ F.T`` for every track: with cov in 2 x 2 blocks [[A, B], [C, D]] (position, velocity),
    [[A + B + C + D, B + D], [C + D, D]]."""
    a, b, c, d = cov[:, :2, :2], cov[:, :2, 2:], cov[:, 2:, :2], cov[:, 2:, 2:]
    out = np.empty_like(cov)
    out[:, :2, :2] = a + b + c + d
    out[:, :2, 2:] = b + d
    out[:, 2:, :2] = c + d
    out[:, 2:, 2:] = d
    return out


class PointTracker:
    """Tracks of head points, frame by frame, with per-line in/out totals.

    Track i is ``ids[i]`` with filter state ``state[i]`` (x, y, vx, vy) and covariance ``cov[i]``,
    ``last[i]`` its filtered position when a head was last matched to it, ``hits[i]`` heads so far,
    ``misses[i]`` frames since the last and ``pending[i, l]`` its (in, out) on line l before it was
    confirmed.
    """

    def __init__(self, lines: list[Line] = (), config: TrackerConfig = TrackerConfig()) -> None:
        self.config, self.lines = config, list(lines)
        self.ids = np.zeros(0, np.int64)
        self.state = np.zeros((0, 4))
        self.cov = np.zeros((0, 4, 4))
        self.last = np.zeros((0, 2))
        self.hits = np.zeros(0, np.int64)
        self.misses = np.zeros(0, np.int64)
        self.pending = np.zeros((0, len(self.lines), 2), np.int64)
        self.next_id = 1
        self.totals = {line.name: [0, 0] for line in self.lines}
        q = config.motion_noise**2
        self.Q = np.diag([q / 4, q / 4, q, q])
        self.R = np.eye(2) * config.point_noise**2

    def update(self, points: np.ndarray) -> dict[str, tuple[int, int]]:
        """Take one frame's (K, 2) heads; returns each line's (in, out) crossings in this frame."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        self.state = self.state @ F.T  # predict
        self.cov = _predicted_cov(self.cov) + self.Q
        taken = np.zeros(len(points), bool)
        rows = cols = np.zeros(0, np.int64)
        if len(self.ids) and len(points):
            cost = np.hypot(self.state[:, None, 0] - points[None, :, 0], self.state[:, None, 1] - points[None, :, 1])
            rows, cols = linear_sum_assignment(cost)
            keep = cost[rows, cols] <= self.config.max_distance
            rows, cols = rows[keep], cols[keep]
            taken[cols] = True
        crossed = {line.name: [0, 0] for line in self.lines}
        if len(rows):
            p = self.cov[rows]
            s = p[:, :2, :2] + self.R  # innovation covariance, 2 x 2: inverted in closed form
            det = s[:, 0, 0] * s[:, 1, 1] - s[:, 0, 1] * s[:, 1, 0]
            s_inv = np.stack([s[:, 1, 1], -s[:, 0, 1], -s[:, 1, 0], s[:, 0, 0]], axis=1).reshape(-1, 2, 2)
            gain = p[:, :, :2] @ (s_inv / det[:, None, None])
            innovation = points[cols] - self.state[rows, :2]
            self.state[rows] += (gain @ innovation[:, :, None])[:, :, 0]
            self.cov[rows] = p - gain @ p[:, :2, :]
            self.hits[rows] += 1
            self.misses[rows] = 0
            here = self.state[rows, :2].copy()  # filtered: a head decoded a pixel either side crosses nothing
            confirmed = self.hits[rows] > self.config.min_hits
            now = self.hits[rows] == self.config.min_hits + 1  # confirmed in this frame: its held crossings count
            for li, line in enumerate(self.lines):
                c = line.crossings(self.last[rows], here)
                steps = np.stack([c > 0, c < 0], axis=1).astype(np.int64)
                held = self.pending[rows[now], li].sum(axis=0)
                self.pending[rows[~confirmed], li] += steps[~confirmed]
                self.pending[rows[now], li] = 0
                crossed[line.name] = [int(v) for v in steps[confirmed].sum(axis=0) + held]
            self.last[rows] = here
        missed = np.ones(len(self.ids), bool)
        missed[rows] = False
        self.misses[missed] += 1
        alive = self.misses <= self.config.max_misses
        new = points[~taken]
        n = len(new)
        cov = np.diag([self.config.point_noise**2] * 2 + [25.0, 25.0])
        self.ids = np.concatenate([self.ids[alive], np.arange(self.next_id, self.next_id + n)])
        self.state = np.concatenate([self.state[alive], np.hstack([new, np.zeros((n, 2))])])
        self.cov = np.concatenate([self.cov[alive], np.broadcast_to(cov, (n, 4, 4))])
        self.last = np.concatenate([self.last[alive], new])
        self.hits = np.concatenate([self.hits[alive], np.ones(n, np.int64)])
        self.misses = np.concatenate([self.misses[alive], np.zeros(n, np.int64)])
        self.pending = np.concatenate([self.pending[alive], np.zeros((n, len(self.lines), 2), np.int64)])
        self.next_id += n
        for name, (i, o) in crossed.items():
            self.totals[name][0] += i
            self.totals[name][1] += o
        return {name: (i, o) for name, (i, o) in crossed.items()}

    def active(self) -> list[tuple[int, np.ndarray]]:
        """(id, (x, y)) of the tracks matched in this frame."""
        return [(int(i), p) for i, p in zip(self.ids[self.misses == 0], self.last[self.misses == 0], strict=True)]
