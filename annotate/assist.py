"""What a model's proposals save an annotator: the actions it takes to turn them into the ground truth.

The annotator uses the tool's own operations: set the confidence threshold (one action), accept every
proposal shown (A, one action; its confirmation above 50 is one more), then fix what is left. A proposal
within `EXACT_PX` of a true head is that head. One within `MOVE_PX` of a head nobody took is dragged
onto it (one action). Any other proposal is deleted (one right-click), and every head still missing is
clicked (one action). Heads and proposals pair one to one, as `headcount score` pairs them
(`pipeline.score.matching`). Clicking every head from an empty image is 1.0 action a head; fewer means
the model helped.

`simulate` tries each threshold the proposals' own scores offer and keeps the cheapest, as an annotator
who moves the slider until the shown proposals look right; `at_threshold` is one fixed slider value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.score import matching

EXACT_PX = 4.0  # a proposal this close to a true head needs nothing
MOVE_PX = 12.0  # one this close to a head nobody took is dragged there (a delete and a click cost two)
CONFIRM_ABOVE = 50  # the page's A asks first above this many (annotate/static/sync.js CONFIRM_ACCEPT)


@dataclass(frozen=True)
class Actions:
    """One image's annotation by proposals at `threshold`: what each kind of action cost."""

    heads: int
    threshold: float
    accepted: int
    setup: int  # threshold, accept all, and its confirmation
    moves: int
    deletes: int
    clicks: int

    @property
    def total(self) -> int:
        return self.setup + self.moves + self.deletes + self.clicks

    @property
    def per_head(self) -> float:
        return self.total / self.heads if self.heads else float(self.total)


def _pairs(a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """For each point of `b`, its one-to-one partner in `a` within `radius`, or -1."""
    return matching(a, b, np.full(len(b), radius))


def at_threshold(points: np.ndarray, scores: np.ndarray, truth: np.ndarray, threshold: float) -> Actions:
    """The actions of accepting the proposals at or above `threshold` and fixing the rest by hand."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    truth = np.asarray(truth, np.float64).reshape(-1, 2)
    shown = points[np.asarray(scores) >= threshold]
    if len(shown) == 0:
        return Actions(len(truth), threshold, 0, 0, 0, 0, len(truth))
    exact = _pairs(shown, truth, EXACT_PX)
    left_heads = exact < 0
    left_shown = np.ones(len(shown), bool)
    left_shown[exact[exact >= 0]] = False
    near = _pairs(shown[left_shown], truth[left_heads], MOVE_PX)
    moves = int((near >= 0).sum())
    setup = 2 + (len(shown) > CONFIRM_ABOVE)
    deletes = int(left_shown.sum()) - moves
    clicks = int(left_heads.sum()) - moves
    return Actions(len(truth), threshold, len(shown), setup, moves, deletes, clicks)


def simulate(points: np.ndarray, scores: np.ndarray, truth: np.ndarray) -> Actions:
    """The cheapest of `at_threshold` over the thresholds the scores offer (and clicking every head by hand)."""
    scores = np.asarray(scores, np.float64)
    candidates = np.unique(scores)
    if len(candidates) > 64:  # a slider has no more positions than that worth trying
        candidates = np.unique(np.quantile(scores, np.linspace(0, 1, 64)))
    options = [at_threshold(points, scores, truth, float(t)) for t in candidates]
    options.append(at_threshold(points, scores, truth, np.inf))  # no proposal: every head by hand
    return min(options, key=lambda a: (a.total, -a.threshold))
