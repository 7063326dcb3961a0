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
from pipeline.points import as_points
from pipeline.readers import register
from pipeline.readers.layout import check_split, inside, one_json
from pipeline.sample import Sample
from pipeline.work import Work, parse_review, parse_status

EXPORT = "annotations.json"


def _head_index(categories: list, keypoint: str | None, export: Path) -> dict[int, int]:
    """Category id -> index of the head keypoint in its ``keypoints`` list."""
    out = {}
    for c in categories:
        names = c.get("keypoints") or []
        if not names:
            continue
        wanted = keypoint or ("head" if "head" in names else names[0] if len(names) == 1 else None)
        if wanted is None:
            raise ConfigError("keypoint", f"{export}: category {c.get('name')!r} has keypoints {names}; name the head")
        if wanted in names:
            out[c["id"]] = names.index(wanted)
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
    categories = [c for c in doc.get("categories") or [] if isinstance(c, dict)]
    if label is not None:
        categories = [c for c in categories if c.get("name") == label]
    head = _head_index(categories, keypoint, export)
    heads: dict[object, list] = {}
    by: dict[object, list] = {}
    for a in doc["annotations"]:
        if not isinstance(a, dict) or a.get("category_id") not in head:
            continue
        kp, k = a.get("keypoints") or [], head[a["category_id"]]
        if len(kp) < 3 * (k + 1):
            raise DataError(export, f"annotation {a.get('id')}: {len(kp)} keypoint values, too few for #{k}")
        x, y, v = kp[3 * k : 3 * k + 3]
        if v > 0:
            heads.setdefault(a.get("image_id"), []).append((x, y))
            by.setdefault(a.get("image_id"), []).append(_name(a.get("headcount_by"), export, a.get("id")))
    for im in doc["images"]:
        name = str(im.get("file_name", ""))
        found = next((f / name for f in (root / "images", root) if (f / name).is_file()), None)
        if found is None:
            raise DataError(export, f"image {name!r} not found under {root / 'images'} or {root}")
        img = inside(root, found, export)
        h, w = image_size(img)
        if (im.get("height"), im.get("width")) != (h, w):
            raise DataError(export, f"{name}: declared {im.get('width')}x{im.get('height')} but the file is {w}x{h}")
        pts = np.array(heads.get(im.get("id"), []), np.float64).reshape(-1, 2)
        work = _work(im, by.get(im.get("id"), []), export)
        yield Sample(img.stem, img, as_points(pts, export), height=h, width=w, work=work)


def _name(value: object, export: Path, where: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise DataError(export, f"annotation {where}: headcount_by is {value!r}, not a name")


def _work(image: dict, by: list, export: Path) -> Work | None:
    """An image's `Work` from its headcount_* keys and its heads' headcount_by; None where it has none."""
    keys = ("headcount_status", "headcount_status_by", "headcount_review")
    if not any(by) and not any(k in image for k in keys):
        return None
    status = parse_status(image.get("headcount_status", "todo"), export, f"image {image.get('id')}: headcount_status")
    status_by = _name(image.get("headcount_status_by"), export, image.get("id"))
    review = image.get("headcount_review")
    return Work(tuple(by), status, status_by, None if review is None else parse_review(review, export))
