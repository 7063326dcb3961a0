"""HOTA for head tracks: detection, association and localization accuracy in one score.

HOTA (Luiten et al., IJCV 2021, the metric of MOTChallenge's HT21 head-tracking benchmark) averages,
over localization thresholds alpha = 0.05 ... 0.95, ``sqrt(DetA * AssA)``: DetA counts the frames'
matched heads against misses and false heads, AssA how much of each matched pair's life the two
tracks share. It is computed here as TrackEval's `HOTA` metric computes it, on points instead of
boxes: the similarity of a true head and a tracked one is ``max(0, 1 - distance / radius)``, so a
head within `radius` px matches at the thresholds its distance allows, and one on the spot at all.

A frame is ``(ids, points)``: the heads' identities (ints) and their ``(N, 2)`` positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

ALPHAS = np.arange(0.05, 0.951, 0.05)  # TrackEval's 19 thresholds
Frame = tuple[Sequence[int], np.ndarray]


@dataclass(frozen=True)
class Hota:
    hota: float  # the mean over ALPHAS of sqrt(DetA * AssA)
    det_a: float
    ass_a: float
    loc_a: float


def _similarity(truth: np.ndarray, tracked: np.ndarray, radius: float) -> np.ndarray:
    d = np.sqrt(((truth[:, None, :] - tracked[None, :, :]) ** 2).sum(axis=-1))
    return np.clip(1.0 - d / radius, 0.0, None)


def hota(truth: Sequence[Frame], tracks: Sequence[Frame], radius: float = 8.0) -> Hota:
    """HOTA of `tracks` against `truth`, frame by frame (the two sequences have one entry a frame)."""
    if len(truth) != len(tracks):
        raise ValueError(f"{len(truth)} true frames but {len(tracks)} tracked ones")
    frames = []
    for (gi, gp), (ti, tp) in zip(truth, tracks, strict=True):
        gi, ti = np.asarray(gi, np.int64), np.asarray(ti, np.int64)
        gp, tp = np.asarray(gp, np.float64).reshape(-1, 2), np.asarray(tp, np.float64).reshape(-1, 2)
        frames.append((gi, ti, _similarity(gp, tp, radius)))
    g_ids = np.unique(np.concatenate([f[0] for f in frames] or [np.zeros(0, np.int64)]))
    t_ids = np.unique(np.concatenate([f[1] for f in frames] or [np.zeros(0, np.int64)]))
    g_of, t_of = {int(v): i for i, v in enumerate(g_ids)}, {int(v): i for i, v in enumerate(t_ids)}
    frames = [
        (np.array([g_of[int(v)] for v in gi], np.int64), np.array([t_of[int(v)] for v in ti], np.int64), s)
        for gi, ti, s in frames
    ]

    # the global alignment: how often each pair could match, over how often either exists
    potential = np.zeros((len(g_ids), len(t_ids)))
    g_count, t_count = np.zeros(len(g_ids)), np.zeros(len(t_ids))
    for gi, ti, sim in frames:
        g_count[gi] += 1
        t_count[ti] += 1
        if len(gi) and len(ti):
            union = sim.sum(axis=0)[None, :] + sim.sum(axis=1)[:, None] - sim
            potential[gi[:, None], ti[None, :]] += np.divide(sim, union, out=np.zeros_like(sim), where=union > 0)
    alignment = potential / np.maximum(1e-12, g_count[:, None] + t_count[None, :] - potential)

    tp, fn, fp = np.zeros(len(ALPHAS)), np.zeros(len(ALPHAS)), np.zeros(len(ALPHAS))
    loc = np.zeros(len(ALPHAS))
    matches = np.zeros((len(ALPHAS), len(g_ids), len(t_ids)))
    for gi, ti, sim in frames:
        if not len(gi) or not len(ti):
            fn += len(gi)
            fp += len(ti)
            continue
        rows, cols = linear_sum_assignment(-(alignment[gi[:, None], ti[None, :]] * sim))
        for a, alpha in enumerate(ALPHAS):
            ok = sim[rows, cols] >= alpha - np.finfo(float).eps
            r, c = rows[ok], cols[ok]
            tp[a] += len(r)
            fn[a] += len(gi) - len(r)
            fp[a] += len(ti) - len(r)
            loc[a] += sim[r, c].sum()
            matches[a, gi[r], ti[c]] += 1

    det_a = tp / np.maximum(1.0, tp + fn + fp)
    pair = matches / np.maximum(1.0, g_count[None, :, None] + t_count[None, None, :] - matches)
    ass_a = (matches * pair).sum(axis=(1, 2)) / np.maximum(1.0, tp)
    loc_a = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    return Hota(float(np.sqrt(det_a * ass_a).mean()), float(det_a.mean()), float(ass_a.mean()), float(loc_a.mean()))
