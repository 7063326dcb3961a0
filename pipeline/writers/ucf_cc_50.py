"""UCF_CC_50: ``<n>.<ext>`` + ``<n>_ann.mat``, images by number."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.paths import contained
from pipeline.sample import Sample
from pipeline.writers import ann_points_bytes, copy_image, register


@register("ucf_cc_50")
def write(sample: Sample, out: Path, split: str) -> int:
    """``out/<n>.<ext>`` + ``out/<n>_ann.mat`` with ``annPoints``; `n` is the number the image id ends in.

    The reader (and the 5-fold protocol) knows images by number, so ``IMG_3``
    becomes ``3``: what is written reads back.
    """
    match = re.search(r"([0-9]+)$", sample.image_id)
    if match is None:
        raise DataError(sample.image_path, "ucf_cc_50 names images by number; this image id ends in none")
    number = int(match.group(1))
    copy_image(sample.image_path, contained(out, f"{number}{sample.image_path.suffix}", write=True))
    write_bytes(contained(out, f"{number}_ann.mat", write=True), ann_points_bytes(sample.points))
    return 0
