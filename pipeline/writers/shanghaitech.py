"""ShanghaiTech: ``<split>_data/images/<name>`` + ``ground-truth/GT_<stem>.mat``, the official nesting."""

from __future__ import annotations

from pathlib import Path

from pipeline.atomic import write_bytes
from pipeline.paths import contained
from pipeline.readers.matfile import gt_mat_bytes
from pipeline.readers.shanghaitech import split_folder
from pipeline.sample import Sample
from pipeline.writers import copy_image, register


@register("shanghaitech")
def write(sample: Sample, out: Path, split: str) -> int:
    """``out/<split>_data/images/<name>`` + ``ground-truth/GT_<stem>.mat`` (official nesting)."""
    base = contained(out, split_folder(split), option="--out-split", write=True)
    copy_image(sample.image_path, contained(base, "images", sample.image_path.name, write=True))
    write_bytes(contained(base, "ground-truth", f"GT_{sample.image_id}.mat", write=True), gt_mat_bytes(sample.points))
    return 0
