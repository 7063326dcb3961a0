"""NWPU-Crowd's localization ground truth (``val_gt_loc.txt`` layout), for `headcount score` or NWPU's own eval.

One CRLF-ended line per image: ``id num x y sigma_s sigma_l level ...``, all
integers, as the released file is. Per head, from a box of w x h:

- ``sigma_s = round(min(w, h) / 2)`` and ``sigma_l = round(sqrt(w^2 + h^2) / 2)``
  (at least 1), the small and large matching radii;
- ``level`` by the box's area: 0 below 10 px^2, then 1..5 up to 100, 1e3, 1e4, 1e5
  and above.

This is the rule the released file shows (each line checked reads as a box
this way). Our samples keep one head size s = sqrt(w h) (JHU, NWPU and CVAT
boxes), so the box is taken as s x s. Heads without a size (point datasets, and
density stores, which keep no boxes) take s = the mean distance to their 3
nearest heads, the head-size estimate of adaptive kernels; a lone head gets a
quarter of the image's mean side. Image ids must carry a number (``IMG_12``
is 12, ``0012`` is 12): NWPU files have integer ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.exports import head_sizes
from pipeline.point_arrays import split_inside
from pipeline.sample import Sample
from pipeline.score import numeric_id, nwpu_line

LEVEL_EDGES = (10.0, 100.0, 1e3, 1e4, 1e5)  # box area, px^2


def gt_line(number: int, points: np.ndarray, sizes: np.ndarray) -> str:
    """One image's line (without the line end)."""
    s = np.asarray(sizes, np.float64)
    sigma_s = np.maximum(1, np.rint(s / 2))
    sigma_l = np.maximum(1, np.rint(np.sqrt(2.0) * s / 2))
    level = np.searchsorted(LEVEL_EDGES, s * s, side="right")
    return nwpu_line(number, np.column_stack([np.rint(points), sigma_s, sigma_l, level]))


def write_gt(samples: Iterable[Sample], out: Path, where: Path) -> tuple[int, int]:
    """Write the ground-truth file `out` for `samples` (in-image heads); returns (images, heads)."""
    lines, seen = [], {}
    heads = 0
    for sample in samples:
        number = numeric_id(sample.image_id, where)
        if number in seen:
            raise DataError(where, f"images {seen[number]!r} and {sample.image_id!r} both have NWPU id {number}")
        seen[number] = sample.image_id
        pts = np.asarray(sample.points, np.float64).reshape(-1, 2)
        sizes = None if sample.sizes is None else np.asarray(sample.sizes, np.float64)
        kept, _, sizes = split_inside(pts, sample.shape, sizes)
        if sizes is None or (sizes <= 0).any():
            estimate = head_sizes(kept, sample.shape)
            sizes = estimate if sizes is None else np.where(sizes > 0, sizes, estimate)
        lines.append(gt_line(number, kept, sizes))
        heads += len(kept)
    write_bytes(out, "".join(f"{line}\r\n" for line in lines).encode())
    return len(lines), heads
