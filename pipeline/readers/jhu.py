"""JHU-Crowd++: ``{train,val,test}/images/XXXX.jpg`` + ``{split}/gt/XXXX.txt``, one head per line ``x y w h o b``.

``w h`` is the head box (its size is kept per head, for ``method: box``), ``o``
the occlusion level and ``b`` the blur flag. An empty file is an image with no
one in it (JHU has such distractor images).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.image import image_size
from pipeline.paths import contained
from pipeline.point_arrays import as_points
from pipeline.readers import register
from pipeline.readers.layout import check_split, list_images, natural_key, pair_files
from pipeline.sample import Sample

SPLITS = ("train", "val", "test")


def read_gt(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, 2), head sizes (N,) = sqrt(w h)) from one ``gt/XXXX.txt``."""
    rows = []
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DataError(path, "not a text file (is this a JHU-Crowd++ gt file?)") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            raise DataError(path, f"line {number}: expected numbers 'x y w h o b', got {line.strip()[:60]!r}") from None
        if len(values) < 4:
            raise DataError(path, f"line {number}: expected 'x y w h o b', got {len(values)} value(s)")
        rows.append(values[:4])
    arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
    points = as_points(arr[:, :2], path)
    wh = arr[:, 2:4]
    if not np.isfinite(wh).all() or (wh < 0).any():
        raise DataError(path, "head boxes must have finite, non-negative width and height")
    return points, np.sqrt(wh[:, 0] * wh[:, 1])


@register("jhu")
def read(root: Path, split: str) -> Iterator[Sample]:
    """Yield the samples of `split` (train, val or test), each with its head sizes."""
    check_split("jhu", split, SPLITS)
    base = contained(root, split, option="split")
    images = list_images(base / "images")
    gt_dir = base / "gt"
    annotations = sorted(gt_dir.glob("*.txt"), key=natural_key) if gt_dir.is_dir() else []
    for img, ann in pair_files(
        images, annotations, image_for=lambda a: a.stem, annotation_for=lambda i: contained(gt_dir, f"{i.stem}.txt")
    ):
        h, w = image_size(img)
        points, sizes = read_gt(ann)
        yield Sample(img.stem, img, points, height=h, width=w, sizes=sizes)
