"""headcount point files: ``images/<name>`` + ``points/<stem>.json``, keeping the team's record."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline.atomic import replaced
from pipeline.errors import DataError
from pipeline.paths import contained
from pipeline.point_arrays import inside, split_inside
from pipeline.pointfile import PointFile, read_point_file, write_point_file
from pipeline.sample import Sample
from pipeline.writers import copy_image, register


@register("points")
def write(sample: Sample, out: Path, split: str) -> int:
    """``out/images/<name>`` + ``out/points/<stem>.json`` (split ``all``) or under ``out/<split>/``.

    Out-of-image points cannot be stored in a point file: they are dropped and counted. The sample's
    `Work` (who added each head, the status, the review) is kept where it has one.
    """
    base = out if split == "all" else contained(out, split, option="--out-split", write=True)
    kept, dropped, _ = split_inside(sample.points, sample.shape)
    work = sample.work
    by = (
        None
        if work is None
        else tuple(b for b, ok in zip(work.by, inside(sample.points, sample.shape), strict=True) if ok)
    )
    target = contained(base, "points", f"{sample.image_id}.json", write=True)
    earlier_run = replaced(target)  # this split's previous run wrote it: replaced, not an annotator's work
    if (target.exists() or target.is_symlink()) and not earlier_run:
        # an annotator's file: its revision, status and tiles are work, never reset to revision 1, to do
        try:
            old = read_point_file(target)
        except DataError:
            old = None
        if old is None or (old.height, old.width) != sample.shape or not np.array_equal(old.points, kept):
            what = f"revision {old.revision}, {old.status}" if old is not None else "not a point file"
            raise DataError(target, f"already holds other annotations ({what}); not replacing them")
    copy_image(sample.image_path, contained(base, "images", sample.image_path.name, write=True))
    if not target.exists() or earlier_run:
        pf = PointFile(
            f"images/{sample.image_path.name}", width=sample.width, height=sample.height, revision=1, points=kept
        )
        if work is not None:
            pf = replace(pf, status=work.status, by=by, status_by=work.status_by, review=work.review)
        write_point_file(target, pf)
    return dropped
