"""COCO keypoints: ``annotations.json`` (one ``head`` keypoint per annotation) + ``images/``.

The team's record goes into extra keys (``headcount_status``, ``headcount_review``, ``headcount_by``).
"""

from __future__ import annotations

from pathlib import Path

from pipeline import strictjson
from pipeline.atomic import extendable, write_bytes
from pipeline.errors import DataError
from pipeline.paths import contained
from pipeline.readers.coco import EXPORT
from pipeline.readers.layout import check_split, plain_id
from pipeline.sample import Sample
from pipeline.writers import copy_image, register


@register("coco")
def write(sample: Sample, out: Path, split: str) -> int:
    """Append the image to ``out/annotations.json`` (made if absent), one ``head`` keypoint per annotation."""
    check_split("coco", split, ("all",))
    path = out / EXPORT
    doc = (
        strictjson.read(path)
        if extendable(path)
        else {"images": [], "annotations": [], "categories": [{"id": 1, "name": "head", "keypoints": ["head"]}]}
    )
    name = f"{plain_id(sample.image_id, sample.image_path)}{sample.image_path.suffix}"
    if any(im.get("file_name") == name for im in doc["images"]):
        raise DataError(path, f"already holds an image named {name!r}; not adding it twice")
    image_id = len(doc["images"]) + 1
    entry = {"id": image_id, "file_name": name, "width": sample.width, "height": sample.height}
    work = sample.work
    if work is not None and work.named:
        entry.update(headcount_status=work.status, headcount_status_by=work.status_by)
        if work.review is not None:
            entry["headcount_review"] = work.review.as_json()
    doc["images"].append(entry)
    first = len(doc["annotations"]) + 1
    by = work.by if work is not None else (None,) * len(sample.points)
    for i, ((x, y), who) in enumerate(zip(sample.points.tolist(), by, strict=True)):
        a = {"id": first + i, "image_id": image_id, "category_id": 1, "keypoints": [x, y, 2], "num_keypoints": 1}
        doc["annotations"].append({**a, **({"headcount_by": who} if who is not None else {})})
    copy_image(sample.image_path, contained(out, "images", name, write=True))
    write_bytes(path, (strictjson.dumps(doc) + "\n").encode())
    return 0
