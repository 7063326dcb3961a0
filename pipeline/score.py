"""Scoring anyone's predictions the way the benchmarks do: counts (MAE, MSE, NAE, per-bin) and localization.

Localization follows NWPU-Crowd's evaluation: a predicted point and an
annotated head match when their distance is at most the head's radius
(``sigma_s`` or ``sigma_l`` from its box, or a fixed radius such as 4 or 8
px); matching is a maximum one-to-one matching per image, found in the
order NWPU's code finds it (`kuhn_matching`), so even recall by level is theirs; precision, recall
and F1 come from TP, FP and FN summed over all images, and recall is also
split by NWPU's 6 head-size levels. NAE averages |error| / true count over
images with at least one head. Counts are the files' own ``num`` fields.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from pipeline.errors import DataError

LEVELS = 6  # NWPU's head-size levels 0..5
DEFAULT_BINS = (0.0, 10.0, 100.0, 500.0, 1000.0, math.inf)
EPS = 1e-20  # NWPU's guard against 0/0 in precision and recall


@dataclass
class Truth:
    """One image's annotated heads: points (N, 2), optional radii (N, 2: sigma_s, sigma_l) and levels (N,)."""

    count: float
    points: np.ndarray
    sigma: np.ndarray | None = None
    level: np.ndarray | None = None


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tp_level: np.ndarray = field(default_factory=lambda: np.zeros(LEVELS))
    fn_level: np.ndarray = field(default_factory=lambda: np.zeros(LEVELS))

    def summary(self, levels: bool) -> dict:
        p = self.tp / (self.tp + self.fp + EPS)
        r = self.tp / (self.tp + self.fn + EPS)
        out = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0}
        out.update(tp=self.tp, fp=self.fp, fn=self.fn)
        if levels:
            out["recall_by_level"] = (self.tp_level / (self.tp_level + self.fn_level + EPS)).tolist()
        return out


def numeric_id(image_id: str, where: Path) -> int:
    """The integer NWPU id of `image_id`: its trailing number (``IMG_12`` is 12, ``0031`` is 31)."""
    m = re.search(r"(\d+)$", image_id)
    if not m:
        raise DataError(where, f"image id {image_id!r} has no number, and NWPU files need integer ids")
    return int(m.group(1))


def nwpu_ids(image_ids: list[str], where: Path) -> dict[str, int]:
    """NWPU ids for a split: each image's trailing number, or, where some have none or two share one,
    the images' order (1, 2, ...) so that a submission file can still be written."""
    try:
        ids = {i: numeric_id(i, where) for i in image_ids}
    except DataError:
        ids = {}
    if len(set(ids.values())) != len(image_ids):
        ids = {i: n for n, i in enumerate(image_ids, 1)}
    return ids


def nwpu_line(number: int, rows: np.ndarray) -> str:
    """One image's line of an NWPU localization file, without its end: ``id num`` then each head's integers
    (``x y`` in a prediction, ``x y sigma_s sigma_l level`` in ground truth)."""
    rows = np.asarray(rows, np.int64)
    return " ".join(map(str, [number, len(rows), *rows.ravel().tolist()]))


def nwpu_submissions(counts: dict[str, float], points: dict[str, np.ndarray], where: Path) -> tuple[str, str]:
    """NWPU's two submission files as text: ``id count`` lines, and ``id num x y ...`` (all integers) lines."""
    ids = nwpu_ids(list(counts), where)
    count_lines = "".join(f"{ids[i]} {c:.4f}\n" for i, c in counts.items())
    loc_lines = [nwpu_line(ids[i], np.rint(np.asarray(p, np.float64).reshape(-1, 2))) + "\n" for i, p in points.items()]
    return count_lines, "".join(loc_lines)


def kuhn_matching(indptr: np.ndarray, indices: np.ndarray, n_right: int) -> np.ndarray:
    """A maximum matching of a bipartite graph in CSR form (row u's neighbours ``indices[indptr[u]:indptr[u+1]]``,
    ascending): for each right vertex, its left partner or -1.

    Why not scipy's Hopcroft-Karp alone: every maximum matching has the same size
    (TP), but which heads it covers differs, and so does recall by head-size level.
    NWPU's evaluation finds augmenting paths depth-first from each prediction in
    turn, trying heads in index order (Kuhn's algorithm); this is that search,
    with an explicit stack instead of recursion (no depth limit on 12,000 heads)
    and a visit stamp instead of clearing a list per prediction. So per-level
    recall is theirs exactly; the tests check the size against scipy's matchers.
    """
    match = [-1] * n_right
    stamp = [-1] * n_right
    ptr, idx = indptr.tolist(), indices.tolist()
    for a in range(len(ptr) - 1):
        if ptr[a] == ptr[a + 1]:
            continue
        lefts, positions, rights = [a], [ptr[a]], []
        found = False
        while lefts and not found:
            u, pos, end = lefts[-1], positions[-1], ptr[lefts[-1] + 1]
            while pos < end:
                v = idx[pos]
                pos += 1
                if stamp[v] == a:
                    continue
                stamp[v] = a
                positions[-1] = pos
                rights.append(v)
                if match[v] == -1:
                    found = True
                else:  # can v's partner move to another head?
                    lefts.append(match[v])
                    positions.append(ptr[match[v]])
                break
            else:  # u has no augmenting path left: back to its parent's next head
                lefts.pop()
                positions.pop()
                if rights:
                    rights.pop()
        if found:
            for u, v in zip(lefts, rights, strict=True):
                match[v] = u
    return np.asarray(match, np.int64)


def matching(pred: np.ndarray, gt: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """A maximum one-to-one matching, as NWPU's evaluation finds it: for each annotated head, the index
    of its prediction, or -1.

    A pair is allowed when ``distance <= radius[head]``. The candidate pairs
    come from a KD-tree query at the largest radius, so an image of 12,000
    heads costs a sparse graph, not a 12,000 x 12,000 distance matrix; each
    candidate's distance is then computed as NWPU computes it before the test.
    """
    if len(pred) == 0 or len(gt) == 0:
        return np.full(len(gt), -1, np.int64)
    reach = float(radius.max())
    pairs = cKDTree(pred).sparse_distance_matrix(cKDTree(gt), reach * (1 + 1e-9) + 1e-9, output_type="coo_matrix")
    rows, cols = pairs.row, pairs.col
    dist = np.sqrt(((pred[rows] - gt[cols]) ** 2).sum(axis=1))
    keep = dist <= radius[cols]
    graph = csr_matrix((np.ones(int(keep.sum()), np.int8), (rows[keep], cols[keep])), shape=(len(pred), len(gt)))
    graph.sort_indices()
    return kuhn_matching(graph.indptr, graph.indices, len(gt))


def match_count(pred: np.ndarray, gt: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Which annotated heads the maximum one-to-one matching (`matching`) covers: bool per head."""
    return matching(pred, gt, radius) >= 0


def score(
    truth: dict[str, Truth],
    pred_points: dict[str, np.ndarray] | None,
    pred_counts: dict[str, float],
    source: str | Path,
    radii: tuple[float, ...] = (),
    bins: tuple[float, ...] = DEFAULT_BINS,
) -> dict:
    """Every metric of the module docstring; `source` (the prediction file) is named for a missing image."""
    missing = [i for i in truth if i not in pred_counts]
    if missing:
        raise DataError(source, f"no prediction for image {missing[0]} (and {len(missing) - 1} more)")
    extra = [i for i in pred_counts if i not in truth]
    if extra:
        raise DataError(source, f"image {extra[0]} is not in the ground truth")
    ids = list(truth)
    true = np.array([truth[i].count for i in ids], np.float64)
    pred = np.array([pred_counts[i] for i in ids], np.float64)
    err = np.abs(pred - true)
    has = true != 0
    out: dict = {
        "n_images": len(ids),
        "mae": float(err.mean()),
        "mse": float(np.sqrt((err**2).mean())),
        "rmse": float(np.sqrt((err**2).mean())),
        "nae": float((err[has] / true[has]).mean()) if has.any() else None,
        "bins": _bins(err, true, bins),
    }
    if pred_points is None:
        return out
    rules: dict[str, tuple[Tally, bool]] = {}
    with_sigma = all(t.sigma is not None for t in truth.values())
    if with_sigma:
        rules = {"sigma_s": (Tally(), True), "sigma_l": (Tally(), True)}
    rules.update({f"r{r:g}": (Tally(), with_sigma) for r in radii})
    for i in ids:
        t, p = truth[i], pred_points.get(i, np.zeros((0, 2)))
        for name, (tally, levels) in rules.items():
            if name.startswith("sigma"):
                radius = t.sigma[:, 0 if name == "sigma_s" else 1]
            else:
                radius = np.full(len(t.points), float(name[1:]))
            hit = match_count(p, t.points, radius)
            tally.tp += int(hit.sum())
            tally.fp += len(p) - int(hit.sum())
            tally.fn += len(t.points) - int(hit.sum())
            if levels:
                tally.tp_level += np.bincount(t.level[hit], minlength=LEVELS)[:LEVELS]
                tally.fn_level += np.bincount(t.level[~hit], minlength=LEVELS)[:LEVELS]
    out["localization"] = {name: tally.summary(levels) for name, (tally, levels) in rules.items()}
    return out


def _bins(err: np.ndarray, true: np.ndarray, bins: tuple[float, ...]) -> dict[str, dict]:
    """MAE and NAE of the images whose true count falls in each ``[lo, hi)``, keyed ``"lo-hi"``."""
    rows = {}
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        sel = (true >= lo) & (true < hi)
        nz = sel & (true != 0)
        rows[f"{lo:g}-{hi:g}"] = {
            "n_images": int(sel.sum()),
            "mae": float(err[sel].mean()) if sel.any() else None,
            "nae": float((err[nz] / true[nz]).mean()) if nz.any() else None,
        }
    return rows


def record_truth(rec) -> Truth:  # noqa: ANN001 - a store Record
    """One store record's ground truth: its in-image points, with no radii (use fixed radii)."""
    return Truth(float(rec.count), np.asarray(rec.points, np.float64).reshape(-1, 2))
