"""headcount point files: ``images/<stem>.jpg|png`` + ``points/<stem>.json``.

Split ``"all"`` reads `root` itself (an annotation folder); any other split
reads ``root/<split>/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import ConfigError, DataError
from pipeline.image import image_size
from pipeline.paths import contained
from pipeline.pointfile import read_point_file
from pipeline.readers import register
from pipeline.readers.layout import list_images, natural_key, pair_files
from pipeline.sample import Sample
from pipeline.work import STATUSES, Work


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
    base = root if split == "all" else contained(root, split, option="split")
    images = list_images(base / "images")
    point_dir = base / "points"
    if unannotated == "skip" or wanted is not None:
        images = [p for p in images if contained(point_dir, f"{p.stem}.json").is_file()]
        if not images:
            raise DataError(point_dir, "empty split: no annotated images yet")
    annotations = sorted(point_dir.glob("*.json"), key=natural_key) if point_dir.is_dir() else []
    for img, ann in pair_files(
        images, annotations, image_for=lambda a: a.stem, annotation_for=lambda i: contained(point_dir, f"{i.stem}.json")
    ):
        pf = read_point_file(ann)
        if wanted is not None and pf.status not in wanted:
            continue
        h, w = image_size(img)
        if (pf.height, pf.width) != (h, w):
            raise DataError(ann, f"annotated for a {pf.width}x{pf.height} image but {img.name} is {w}x{h}")
        work = Work(pf.head_by(), pf.status, pf.status_by, pf.review)
        yield Sample(img.stem, img, pf.points, height=h, width=w, work=work)
