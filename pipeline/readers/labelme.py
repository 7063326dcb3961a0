"""labelme: one JSON per image (``imagePath``, ``imageHeight``, ``imageWidth``, ``shapes``);
heads are the shapes with ``shape_type: point``.

Split ``all`` reads `root` itself, any other split ``root/<split>/``. Other
shape types (boxes, polygons) are not heads and are passed over; option
`label` keeps only points with that label.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipeline import strictjson
from pipeline.errors import DataError
from pipeline.image import image_size, is_image
from pipeline.paths import contained
from pipeline.points import as_points
from pipeline.readers import register
from pipeline.readers.layout import natural_key
from pipeline.sample import Sample

LABELME_VERSION = "5.5.0"


def read_json(path: Path, label: str | None) -> tuple[dict, np.ndarray]:
    doc = strictjson.read(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list) or "imagePath" not in doc:
        raise DataError(path, "not a labelme file (no 'shapes' list and 'imagePath')")
    pts = []
    for i, shape in enumerate(doc["shapes"]):
        if not isinstance(shape, dict):
            raise DataError(path, f"shape #{i} is not an object")
        if shape.get("shape_type", "polygon") != "point" or (label is not None and shape.get("label") != label):
            continue
        p = shape.get("points")
        if not isinstance(p, list) or len(p) != 1:
            raise DataError(path, f"point shape #{i} must have exactly one [x, y]")
        pts.append(p[0])
    return doc, as_points(pts, path)


@register("labelme")
def read(root: Path, split: str = "all", label: str | None = None) -> Iterator[Sample]:
    """Yield one sample per labelme JSON file (their images named by ``imagePath``)."""
    base = root if split == "all" else contained(root, split, option="split")
    if not base.is_dir():
        raise DataError(base, "folder not found")
    files = sorted(base.glob("*.json"), key=natural_key)
    if not files:
        raise DataError(base, "empty split: no labelme .json files")
    seen: dict[str, Path] = {}
    for ann in files:
        doc, points = read_json(ann, label)
        img = contained(root, ann.parent.relative_to(root), str(doc["imagePath"]), named_in=ann).resolve()
        if not is_image(img):
            raise DataError(ann, f"its imagePath {doc['imagePath']!r} is not an image file next to it")
        if img.stem in seen:
            raise DataError(ann, f"describes {img.name}, as {seen[img.stem].name} does")
        seen[img.stem] = ann
        h, w = image_size(img)
        size = (doc.get("imageHeight"), doc.get("imageWidth"))
        for key, v in zip(("imageHeight", "imageWidth"), size, strict=True):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise DataError(ann, f"{key} must be an integer, got {v!r}")  # "48" is text, not 48
        if size != (None, None) and size != (h, w):
            raise DataError(ann, f"annotated for a {size[1]}x{size[0]} image but {img.name} is {w}x{h}")
        if len(points) == 0 and doc["shapes"]:
            warnings.warn(f"{ann}: no point shapes (heads are points in labelme)", stacklevel=2)
        yield Sample(img.stem, img, points, height=h, width=w)
