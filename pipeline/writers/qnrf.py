"""UCF-QNRF: ``Train|Test/<id>.<ext>`` + ``<id>_ann.mat``."""

from __future__ import annotations

from pathlib import Path

from pipeline.atomic import write_bytes
from pipeline.paths import contained
from pipeline.readers.qnrf import split_folder
from pipeline.sample import Sample
from pipeline.writers import ann_points_bytes, copy_image, register


@register("qnrf")
def write(sample: Sample, out: Path, split: str) -> int:
    """``out/Train|Test/<id>.<ext>`` + ``<id>_ann.mat`` with ``annPoints`` (x, y)."""
    base = contained(out, split_folder(out, split).name, option="--out-split", write=True)
    copy_image(sample.image_path, contained(base, f"{sample.image_id}{sample.image_path.suffix}", write=True))
    write_bytes(contained(base, f"{sample.image_id}_ann.mat", write=True), ann_points_bytes(sample.points))
    return 0
