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
from typing import Annotated

import numpy as np
from pydantic import Field

from pipeline import strictjson
from pipeline.errors import DataError
from pipeline.image import image_size, is_image
from pipeline.paths import contained
from pipeline.point_arrays import as_points
from pipeline.readers import register
from pipeline.readers.layout import natural_key
from pipeline.sample import Sample
from pipeline.schema import Pair, Size, Strict, validated

LABELME_VERSION = "5.5.0"


class Shape(Strict):
    shape_type: str = "polygon"  # labelme's default where the key is absent
    label: str | None = None
    points: list[Pair] = []


class LabelmeFile(Strict):
    imagePath: Annotated[str, Field(min_length=1)]  # noqa: N815 - labelme's key
    shapes: list[Shape]
    imageHeight: Size | None = None  # noqa: N815
    imageWidth: Size | None = None  # noqa: N815


def read_json(path: Path, label: str | None) -> tuple[LabelmeFile, np.ndarray]:
    doc = strictjson.read(path)
    if not isinstance(doc, dict) or "shapes" not in doc or "imagePath" not in doc:
        raise DataError(path, "not a labelme file (no 'shapes' list and 'imagePath')")
    doc = validated(LabelmeFile, doc, path)
    pts = []
    for i, shape in enumerate(doc.shapes):
        if shape.shape_type != "point" or (label is not None and shape.label != label):
            continue
        if len(shape.points) != 1:
            raise DataError(path, f"shapes[{i}]: a point shape has exactly one [x, y], got {len(shape.points)}")
        pts.append(shape.points[0])
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
        img = contained(root, ann.parent.relative_to(root), doc.imagePath, named_in=ann).resolve()
        if not is_image(img):
            raise DataError(ann, f"its imagePath {doc.imagePath!r} is not an image file next to it")
        if img.stem in seen:
            raise DataError(ann, f"describes {img.name}, as {seen[img.stem].name} does")
        seen[img.stem] = ann
        h, w = image_size(img)
        size = (doc.imageHeight, doc.imageWidth)
        if size != (None, None) and size != (h, w):
            raise DataError(ann, f"annotated for a {size[1]}x{size[0]} image but {img.name} is {w}x{h}")
        if len(points) == 0 and doc.shapes:
            warnings.warn(f"{ann}: no point shapes (heads are points in labelme)", stacklevel=2)
        yield Sample(img.stem, img, points, height=h, width=w)
