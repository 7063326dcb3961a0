"""JHU-Crowd++: ``{train,val,test}/images/XXXX.jpg`` + ``{split}/gt/XXXX.txt``, one head per line ``x y w h o b``.

``w h`` is the head box (its size is kept per head, for ``method: box``), ``o``
the occlusion level and ``b`` the blur flag. An empty file is an image with no
one in it (JHU has such distractor images).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.points import as_points
from pipeline.readers import register, register_writer
from pipeline.readers.layout import check_split, copy_image, list_images, natural_key, pair_files
from pipeline.sample import Sample, image_size

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
    base = root / split
    images = list_images(base / "images")
    gt_dir = base / "gt"
    annotations = sorted(gt_dir.glob("*.txt"), key=natural_key) if gt_dir.is_dir() else []
    for img, ann in pair_files(
        images, annotations, image_for=lambda a: a.stem, annotation_for=lambda i: gt_dir / f"{i.stem}.txt"
    ):
        h, w = image_size(img)
        points, sizes = read_gt(ann)
        yield Sample(img.stem, img, points, h, w, sizes=sizes)


@register_writer("jhu")
def write(sample: Sample, out: Path, split: str) -> int:
    """``out/<split>/images/<id>.<ext>`` + ``gt/<id>.txt``; heads without a known size get a 0x0 box."""
    check_split("jhu", split, SPLITS)
    base = out / split
    copy_image(sample.image_path, base / "images" / f"{sample.image_id}{sample.image_path.suffix}")
    sizes = sample.sizes if sample.sizes is not None else np.zeros(len(sample.points))
    # repr-exact numbers: what is written reads back bit for bit
    lines = [f"{x!r} {y!r} {s!r} {s!r} 0 0\n" for (x, y), s in zip(sample.points.tolist(), sizes.tolist(), strict=True)]
    write_bytes(base / "gt" / f"{sample.image_id}.txt", "".join(lines).encode())
    return 0
