"""NWPU-Crowd: ``images/XXXX.jpg``, ``jsons/XXXX.json`` (``points``, ``boxes``), split lists ``train.txt``,
``val.txt``, ``test.txt`` whose lines start with the image number.

The test split's labels are not public: its images are read as unlabelled
samples (``labelled=False``), which can be counted but never made into density
maps. Boxes are ``[x1, y1, x2, y2]`` per head; their size is kept for ``method: box``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field

from pipeline import strictjson
from pipeline.errors import DataError
from pipeline.image import IMAGE_SUFFIXES, image_size
from pipeline.paths import contained
from pipeline.point_arrays import as_points
from pipeline.readers import register
from pipeline.readers.layout import check_split, inside, plain_id
from pipeline.sample import Sample
from pipeline.schema import Box, Pair, Strict, validated

SPLITS = ("train", "val", "test")


def split_ids(root: Path, split: str) -> list[str]:
    """Image ids listed for `split`: the first field of each line of ``<split>.txt``."""
    check_split("nwpu", split, SPLITS)
    listing = contained(root, f"{split}.txt", option="split")
    try:
        lines = listing.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(listing, "split list not found (is this an NWPU-Crowd root?)") from None
    ids = [plain_id(line.split()[0], listing) for line in lines if line.strip()]
    if not ids:
        raise DataError(listing, "empty split list")
    return ids


def find_image(root: Path, image_id: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        path = contained(root, "images", f"{image_id}{suffix}")
        if path.is_file():
            return inside(root, path, path)
    missing = contained(root, "images", f"{image_id}.jpg")
    raise DataError(missing, "image listed in the split but not found")


class NwpuFile(Strict):
    points: list[Pair]
    human_num: Annotated[int, Field(ge=0)] | None = None
    boxes: list[Box] | None = None


def read_json(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(points, head sizes or None) from one ``jsons/XXXX.json``."""
    doc = strictjson.read(path)
    if not isinstance(doc, dict) or "points" not in doc:
        raise DataError(path, "no 'points' list (is this an NWPU-Crowd annotation?)")
    doc = validated(NwpuFile, doc, path)
    points = as_points(doc.points, path)
    if doc.human_num is not None and doc.human_num != len(points):
        raise DataError(path, f"human_num is {doc.human_num} but the file has {len(points)} points")
    if not doc.boxes:
        return points, None
    b = np.asarray(doc.boxes, dtype=np.float64).reshape(-1, 4)
    if len(b) != len(points):
        raise DataError(path, f"{len(b)} boxes for {len(points)} points: expected one box per head")
    return points, np.sqrt(np.abs(b[:, 2] - b[:, 0]) * np.abs(b[:, 3] - b[:, 1]))


@register("nwpu")
def read(root: Path, split: str) -> Iterator[Sample]:
    """Yield the samples of `split`; the test split (no public labels) yields unlabelled samples."""
    for image_id in split_ids(root, split):
        img = find_image(root, image_id)
        ann = contained(root, "jsons", f"{image_id}.json")
        h, w = image_size(img)
        if not ann.is_file():
            if split == "test":
                yield Sample(image_id, img, np.zeros((0, 2)), height=h, width=w, labelled=False)
                continue
            raise DataError(img, f"no ground truth for this image (expected {ann})")
        points, sizes = read_json(ann)
        yield Sample(image_id, img, points, height=h, width=w, sizes=sizes)
