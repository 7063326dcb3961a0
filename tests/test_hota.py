"""HOTA on points (`pipeline.scoring.hota`), against cases whose value is known by hand. The
implementation was also checked against TrackEval 1.3.0's HOTA on 20 random scenes (equal to 6
decimals); TrackEval is not a dependency (it pulls opencv-python, matplotlib and pycocotools)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.scoring.hota import ALPHAS, hota


def _walk(frames: int, ids=(1, 2)) -> list:
    return [(list(ids), np.array([[10.0 + t, 20.0 + 30 * k] for k in range(len(ids))])) for t in range(frames)]


def test_a_perfect_tracker_scores_one_and_a_silent_one_zero():
    truth = _walk(10)
    assert hota(truth, truth).hota == pytest.approx(1.0)
    silent = hota(truth, [([], np.zeros((0, 2)))] * 10)
    assert silent.hota == 0.0 and silent.det_a == 0.0


def test_an_identity_swap_halfway_halves_association_and_leaves_detection_whole():
    """One head tracked exactly, under id 7 for the first half and id 8 after: DetA 1, AssA 1/2 (each of
    the two pairs shares half the head's life), HOTA sqrt(1/2)."""
    truth = _walk(10, ids=(1,))
    tracks = [([7 if t < 5 else 8], p) for t, (_, p) in enumerate(truth)]
    h = hota(truth, tracks)
    assert (h.det_a, h.ass_a, h.loc_a) == pytest.approx((1.0, 0.5, 1.0))
    assert h.hota == pytest.approx(np.sqrt(0.5))


def test_a_head_off_by_a_quarter_radius_matches_at_three_quarters_of_the_thresholds():
    """Similarity 1 - 2/8 = 0.75: matched at every alpha up to 0.75, missed and false above it."""
    truth = _walk(4, ids=(1,))
    off = [(ids, p + [2.0, 0.0]) for ids, p in truth]
    h = hota(truth, off, radius=8.0)
    matched = ALPHAS <= 0.75 + 1e-9
    det = np.where(matched, 1.0, 0.0)  # 4 TP of 4, or 0 TP, 4 FN and 4 FP
    assert h.det_a == pytest.approx(det.mean()) and h.hota == pytest.approx(det.mean())
    # LocA is the matched pairs' mean similarity, and 1 where nothing matched (TrackEval's convention)
    assert h.loc_a == pytest.approx((0.75 * matched.sum() + (~matched).sum()) / len(ALPHAS))
