"""JHU-Crowd++: ``<split>/images/<id>.<ext>`` + ``<split>/gt/<id>.txt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.atomic import write_bytes
from pipeline.paths import contained
from pipeline.readers.jhu import SPLITS
from pipeline.readers.layout import check_split
from pipeline.sample import Sample
from pipeline.writers import copy_image, register


@register("jhu")
def write(sample: Sample, out: Path, split: str) -> int:
    """``out/<split>/images/<id>.<ext>`` + ``gt/<id>.txt``; heads without a known size get a 0x0 box."""
    check_split("jhu", split, SPLITS)
    base = contained(out, split, option="--out-split", write=True)
    copy_image(sample.image_path, contained(base, "images", f"{sample.image_id}{sample.image_path.suffix}", write=True))
    sizes = sample.sizes if sample.sizes is not None else np.zeros(len(sample.points))
    # repr-exact numbers: what is written reads back bit for bit
    lines = [f"{x!r} {y!r} {s!r} {s!r} 0 0\n" for (x, y), s in zip(sample.points.tolist(), sizes.tolist(), strict=True)]
    write_bytes(contained(base, "gt", f"{sample.image_id}.txt", write=True), "".join(lines).encode())
    return 0
