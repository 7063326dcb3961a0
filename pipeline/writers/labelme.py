"""LabelMe: the image and ``<stem>.json`` beside it, one ``point`` shape labelled ``head`` per head."""

from __future__ import annotations

from pathlib import Path

from pipeline import strictjson
from pipeline.atomic import write_bytes
from pipeline.paths import contained
from pipeline.readers.labelme import LABELME_VERSION
from pipeline.sample import Sample
from pipeline.writers import copy_image, register


@register("labelme")
def write(sample: Sample, out: Path, split: str) -> int:
    """``<base>/<image>`` + ``<base>/<stem>.json`` with one ``point`` shape labelled ``head`` per head."""
    base = out if split == "all" else contained(out, split, option="--out-split", write=True)
    copy_image(sample.image_path, contained(base, sample.image_path.name, write=True))
    doc = {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": [
            {"label": "head", "points": [p], "group_id": None, "shape_type": "point", "flags": {}}
            for p in sample.points.tolist()
        ],
        "imagePath": sample.image_path.name,
        "imageData": None,
        "imageHeight": sample.height,
        "imageWidth": sample.width,
    }
    write_bytes(contained(base, f"{sample.image_path.stem}.json", write=True), strictjson.dumps(doc, indent=1).encode())
    return 0
