"""COCO keypoints JSON: one ``*.json`` under `root` (``images``, ``annotations``, ``categories``), images by
``file_name`` under ``root/images/`` or `root`.

An annotation's ``keypoints`` are ``[x, y, v, ...]`` triples in its category's ``keypoints`` order; the
head is the keypoint named by option ``keypoint`` (by default ``head``, or a category's only keypoint),
kept where ``v > 0`` (labelled; 1 occluded, 2 visible). Option ``label`` keeps one category by name.
Coordinates are pixels from the image's top-left corner, headcount's frame. Split: ``all``.

The team's record travels in extra keys, which COCO tools pass over: an annotation's ``headcount_by``
(who added the head), an image's ``headcount_status``, ``headcount_status_by`` and ``headcount_review``
(``{"verdict", "by", "comment"}``). The reader gives them back as the sample's `Work`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipeline import strictjson
from pipeline.errors import ConfigError, DataError
from pipeline.image import image_size
from pipeline.paths import contained
from pipeline.point_arrays import as_points
from pipeline.readers import register
from pipeline.readers.layout import check_split, inside, one_json
from pipeline.sample import Sample
from pipeline.schema import Coordinate, Id, Size, Strict, unique, validated
from pipeline.work import Work, parse_review, parse_status

EXPORT = "annotations.json"


class Category(Strict):
    id: Id
    name: str = ""
    keypoints: list[str] = []


class CocoImage(Strict):
    id: Id
    file_name: str
    width: Size
    height: Size


class Annotation(Strict):
    id: Id | None = None
    image_id: Id
    category_id: Id
    keypoints: list[Coordinate] = []  # x, y, v triples; v is 0 (not labelled), 1 (occluded) or 2 (visible)


class CocoFile(Strict):
    images: list[CocoImage]
    annotations: list[Annotation]
    categories: list[Category] = []


def _head_index(categories: list[Category], keypoint: str | None, export: Path) -> dict[Id, int]:
    """Category id -> index of the head keypoint in its ``keypoints`` list."""
    out = {}
    for c in categories:
        if not c.keypoints:
            continue
        names = c.keypoints
        wanted = keypoint or ("head" if "head" in names else names[0] if len(names) == 1 else None)
        if wanted is None:
            raise ConfigError("keypoint", f"{export}: category {c.name!r} has keypoints {names}; name the head")
        if wanted in names:
            out[c.id] = names.index(wanted)
    if not out:
        raise ConfigError("keypoint", f"{export}: no category has a keypoint {keypoint or 'head'!r}")
    return out


@register("coco")
def read(root: Path, split: str = "all", keypoint: str | None = None, label: str | None = None) -> Iterator[Sample]:
    """Yield every image with the labelled head keypoints of its annotations."""
    check_split("coco", split, ("all",))
    export = one_json(root, "COCO keypoints file")
    doc = strictjson.read(export)
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations")):
        raise DataError(export, "not a COCO keypoints file (expected lists 'images' and 'annotations')")
    coco = validated(CocoFile, doc, export)
    unique((im.id for im in coco.images), export, "image id")
    unique((c.id for c in coco.categories), export, "category id")
    categories = [c for c in coco.categories if label is None or c.name == label]
    head = _head_index(categories, keypoint, export)
    heads: dict[Id, list] = {}
    by: dict[Id, list] = {}
    for a in coco.annotations:
        if a.category_id not in head:
            continue
        kp, k = a.keypoints, head[a.category_id]
        if len(kp) < 3 * (k + 1):
            raise DataError(export, f"annotation {a.id}: {len(kp)} keypoint values, too few for #{k}")
        x, y, v = kp[3 * k : 3 * k + 3]
        if v not in (0, 1, 2):
            raise DataError(export, f"annotation {a.id}: keypoint visibility {v:g}, not 0, 1 or 2")
        if v > 0:
            heads.setdefault(a.image_id, []).append((x, y))
            by.setdefault(a.image_id, []).append(_name((a.model_extra or {}).get("headcount_by"), export, a.id))
    for im in coco.images:
        name = im.file_name
        where = (contained(root, "images", name, named_in=export), contained(root, name, named_in=export))
        found = next((f for f in where if f.is_file()), None)
        if found is None:
            raise DataError(export, f"image {name!r} not found under {root / 'images'} or {root}")
        img = inside(root, found, export)
        h, w = image_size(img)
        if (im.height, im.width) != (h, w):
            raise DataError(export, f"{name}: declared {im.width}x{im.height} but the file is {w}x{h}")
        pts = np.array(heads.get(im.id, []), np.float64).reshape(-1, 2)
        work = _work(im, by.get(im.id, []), export)
        yield Sample(img.stem, img, as_points(pts, export), height=h, width=w, work=work)


def _name(value: object, export: Path, where: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise DataError(export, f"annotation {where}: headcount_by is {value!r}, not a name")


def _work(image: CocoImage, by: list, export: Path) -> Work | None:
    """An image's `Work` from its headcount_* keys and its heads' headcount_by; None where it has none."""
    extra = image.model_extra or {}
    keys = ("headcount_status", "headcount_status_by", "headcount_review")
    if not any(by) and not any(k in extra for k in keys):
        return None
    status = parse_status(extra.get("headcount_status", "todo"), export, f"image {image.id}: headcount_status")
    status_by = _name(extra.get("headcount_status_by"), export, image.id)
    review = extra.get("headcount_review")
    return Work(tuple(by), status, status_by, None if review is None else parse_review(review, export))
