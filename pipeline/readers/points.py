"""headcount point files: ``images/<stem>.jpg|png`` + ``points/<stem>.json``.

Split ``"all"`` reads `root` itself (an annotation folder); any other split
reads ``root/<split>/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline.errors import ConfigError, DataError
from pipeline.pointfile import STATUSES, PointFile, read_point_file, write_point_file
from pipeline.points import inside, split_inside
from pipeline.readers import register, register_writer
from pipeline.readers.layout import copy_image, list_images, natural_key, pair_files
from pipeline.sample import Sample, Work, image_size


@register("points")
def read(root: Path, split: str = "all", unannotated: str = "error", status: str | None = None) -> Iterator[Sample]:
    """Yield annotated samples; ``unannotated="skip"`` passes over images with no point file yet.

    `status` (``"done,reviewed"``) keeps only images an annotator gave one of those statuses.
    """
    if unannotated not in ("error", "skip"):
        raise ConfigError("unannotated", f"must be 'error' or 'skip'; got {unannotated!r}")
    wanted = None if status is None else {s.strip() for s in status.split(",")}
    if wanted is not None and not wanted <= set(STATUSES):
        raise ConfigError("status", f"statuses are {', '.join(STATUSES)}; got {status!r}")
    base = root if split == "all" else root / split
    images = list_images(base / "images")
    point_dir = base / "points"
    if unannotated == "skip" or wanted is not None:
        images = [p for p in images if (point_dir / f"{p.stem}.json").is_file()]
        if not images:
            raise DataError(point_dir, "empty split: no annotated images yet")
    annotations = sorted(point_dir.glob("*.json"), key=natural_key) if point_dir.is_dir() else []
    for img, ann in pair_files(
        images, annotations, image_for=lambda a: a.stem, annotation_for=lambda i: point_dir / f"{i.stem}.json"
    ):
        pf = read_point_file(ann)
        if wanted is not None and pf.status not in wanted:
            continue
        h, w = image_size(img)
        if (pf.height, pf.width) != (h, w):
            raise DataError(ann, f"annotated for a {pf.width}x{pf.height} image but {img.name} is {w}x{h}")
        work = Work(pf.head_by(), pf.status, pf.status_by, pf.review)
        yield Sample(img.stem, img, pf.points, h, w, work=work)


@register_writer("points")
def write(sample: Sample, out: Path, split: str) -> int:
    """``out/images/<name>`` + ``out/points/<stem>.json`` (split ``all``) or under ``out/<split>/``.

    Out-of-image points cannot be stored in a point file: they are dropped and counted. The sample's
    `Work` (who added each head, the status, the review) is kept where it has one.
    """
    base = out if split == "all" else out / split
    kept, dropped, _ = split_inside(sample.points, sample.shape)
    work = sample.work
    by = (
        None
        if work is None
        else tuple(b for b, ok in zip(work.by, inside(sample.points, sample.shape), strict=True) if ok)
    )
    target = base / "points" / f"{sample.image_id}.json"
    if target.exists() or target.is_symlink():
        # an annotator's file: its revision, status and tiles are work, never reset to revision 1, to do
        try:
            old = read_point_file(target)
        except DataError:
            old = None
        if old is None or (old.height, old.width) != sample.shape or not np.array_equal(old.points, kept):
            what = f"revision {old.revision}, {old.status}" if old is not None else "not a point file"
            raise DataError(target, f"already holds other annotations ({what}); not replacing them")
    copy_image(sample.image_path, base / "images" / sample.image_path.name)
    if not target.exists():
        pf = PointFile(f"images/{sample.image_path.name}", sample.width, sample.height, 1, kept)
        if work is not None:
            pf = replace(pf, status=work.status, by=by, status_by=work.status_by, review=work.review)
        write_point_file(target, pf)
    return dropped
