"""NWPU-Crowd: ``images/<id>.<ext>``, ``jsons/<id>.json`` and the split list ``<split>.txt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import strictjson
from pipeline.atomic import extendable, write_bytes
from pipeline.paths import contained
from pipeline.readers.layout import check_split
from pipeline.readers.nwpu import SPLITS, split_ids
from pipeline.sample import Sample
from pipeline.writers import copy_image, register


@register("nwpu")
def write(sample: Sample, out: Path, split: str) -> int:
    """``out/images/<id>.<ext>``, ``out/jsons/<id>.json`` and the id appended to ``out/<split>.txt``."""
    check_split("nwpu", split, SPLITS)
    copy_image(sample.image_path, contained(out, "images", f"{sample.image_id}{sample.image_path.suffix}", write=True))
    doc: dict = {"img_id": f"{sample.image_id}{sample.image_path.suffix}", "human_num": len(sample.points)}
    doc["points"] = sample.points.tolist()
    if sample.sizes is not None:
        half = np.asarray(sample.sizes)[:, None] / 2
        doc["boxes"] = np.hstack([sample.points - half, sample.points + half]).tolist()
    write_bytes(contained(out, "jsons", f"{sample.image_id}.json", write=True), strictjson.dumps(doc).encode())
    listing = contained(out, f"{split}.txt", option="--out-split", write=True)
    listed = split_ids(out, split) if extendable(listing) else []
    if sample.image_id not in listed:
        write_bytes(listing, "".join(f"{i}\n" for i in [*listed, sample.image_id]).encode())
    return 0
