"""Agreement between two annotators: the same maximum one-to-one matching `headcount score` uses.

Annotator A is the reference. Per image, a head of B matches a head of A
within `radius` pixels, each head at most once, and as many as possible
(`score.match_count`). Precision is the share of B's heads that A has,
recall the share of A's heads that B found; TP, FP and FN are summed over the
images for the overall figures, as localization benchmarks do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import ConfigError, DataError
from pipeline.paths import contained
from pipeline.pointfile import read_point_file
from pipeline.readers.layout import natural_key
from pipeline.score import match_count, matching


def point_files(folder: str | Path) -> dict[str, Path]:
    """The point files of an annotation folder (``DIR/points/*.json``, or a folder of them), by image id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "not a folder (an annotation folder with points/, or a folder of point files)")
    base = folder / "points" if (folder / "points").is_dir() else folder
    files = sorted((contained(base, p.name) for p in base.glob("*.json")), key=natural_key)
    if not files:
        raise DataError(base, "no point files (*.json)")
    return {p.stem: p for p in files}


def unmatched(points_a: np.ndarray, points_b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(A's heads that no head of B matches, B's heads that match none of A's): bool masks, from one matching."""
    partner = matching(
        np.asarray(points_b, float).reshape(-1, 2),
        np.asarray(points_a, float).reshape(-1, 2),
        np.full(len(points_a), float(radius)),
    )
    b_matched = np.zeros(len(points_b), bool)
    b_matched[partner[partner >= 0]] = True
    return partner < 0, ~b_matched


def _rates(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    """Precision, recall and F1; None where nothing was there to be right or wrong about."""
    return {
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
    }


def agree(folder_a: str | Path, folder_b: str | Path, radius: float = 8.0) -> dict:
    """``{"overall": {...}, "images": {id: {...}}, "only_a": [...], "only_b": [...]}`` for two point folders.

    Per image: ``count_a``, ``count_b``, ``count_difference`` (B - A), ``tp``, ``fp``, ``fn`` and the rates.
    Overall: the rates of the summed TP/FP/FN, and ``count_difference``, the mean absolute per-image
    difference (what an MAE between the two would be). Images annotated on one side only are listed,
    not scored.
    """
    if not (np.isfinite(radius) and radius > 0):
        raise ConfigError("radius", f"must be a finite number of pixels > 0, got {radius}")
    a, b = point_files(folder_a), point_files(folder_b)
    images, totals, diffs = {}, np.zeros(3, int), []
    for image_id in [i for i in a if i in b]:
        pa, pb = read_point_file(a[image_id]), read_point_file(b[image_id])
        if (pa.height, pa.width) != (pb.height, pb.width):
            raise DataError(b[image_id], f"annotates a {pb.width}x{pb.height} image; A's is {pa.width}x{pa.height}")
        tp = int(match_count(pb.points, pa.points, np.full(len(pa.points), float(radius))).sum())
        fp, fn = len(pb.points) - tp, len(pa.points) - tp
        totals += (tp, fp, fn)
        diff = len(pb.points) - len(pa.points)
        diffs.append(abs(diff))
        images[image_id] = {
            "count_a": len(pa.points),
            "count_b": len(pb.points),
            "count_difference": diff,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            **_rates(tp, fp, fn),
        }
    if not images:
        raise DataError(folder_b, f"annotates none of the images of {folder_a}")
    tp, fp, fn = (int(v) for v in totals)
    overall = {**_rates(tp, fp, fn), "count_difference": float(np.mean(diffs)), "tp": tp, "fp": fp, "fn": fn}
    return {
        "radius": float(radius),
        "n_images": len(images),
        "overall": overall,
        "images": images,
        "only_a": [i for i in a if i not in b],
        "only_b": [i for i in b if i not in a],
    }
