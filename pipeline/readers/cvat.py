"""CVAT for images 1.1 XML: ``annotations.xml`` + ``images/[<subset>/]<name>``.

Each ``<image name= width= height= [subset=]>`` holds shapes. ``<points points="x1,y1;x2,y2">`` is one or
more heads; ``<box xtl= ytl= xbr= ybr=>`` is a head with a size (its centre, sqrt of the box area), so
``method: box`` works as for JHU-Crowd++ and NWPU-Crowd. Polygons, polylines, ellipses, masks and tags
are not heads and are skipped. Split: an image's ``subset`` (exports of several subsets), or ``all``.
Option ``label`` keeps the shapes of one label. Coordinates are CVAT's: pixels from the image's top-left
corner, the frame headcount uses (docs/architecture.md, "Points"). Some exports have no XML declaration; both read.

The team's record travels in CVAT's own attributes: the writer puts one ``<points>`` shape per head
(so each head can be edited, deleted and attributed on its own in CVAT), with an ``<attribute
name="by">`` naming who added it, and a ``<tag label="headcount">`` per image whose attributes hold
its ``status``, ``status_by`` and the last review (``review_verdict``, ``review_by``,
``review_comment``). The reader gives them back as the sample's `Work`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import DataError
from pipeline.image import image_size
from pipeline.paths import contained
from pipeline.point_arrays import as_points
from pipeline.readers import register
from pipeline.readers.layout import inside
from pipeline.sample import Sample
from pipeline.schema import MAX_COORDINATE, validated
from pipeline.work import VERDICTS, Review, Work, parse_status

ANNOTATIONS = "annotations.xml"
TAG = "headcount"  # the image tag that carries the workflow status and the review
MAX_XML_BYTES = 1 << 30  # a CVAT export of NWPU-Crowd's 2.1 M heads is about 200 MB
M = TypeVar("M", bound=BaseModel)


def parse_tree(path: Path) -> ET.Element:
    if not path.is_file():
        raise DataError(path, "not found (a CVAT for images 1.1 export has annotations.xml at its root)")
    if path.stat().st_size > MAX_XML_BYTES:
        raise DataError(path, f"over {MAX_XML_BYTES >> 20} MB; not a CVAT export of one dataset")
    try:
        root = ET.parse(path).getroot()  # expat 2.4+ refuses entity-expansion bombs
    except ET.ParseError as exc:
        raise DataError(path, f"not well-formed XML ({exc})") from None
    if root.tag != "annotations":
        raise DataError(path, f"root element is <{root.tag}>, not <annotations> (is this CVAT for images 1.1?)")
    return root


class Xml(BaseModel):
    """An element's attributes, declared: XML holds text, so numbers are parsed from it (lax), and
    ``width="64.9"`` or ``xtl="nan"`` is refused where it would have been rounded or carried along."""

    model_config = ConfigDict(extra="allow", frozen=True)


XmlPixels = Annotated[int, Field(ge=1, le=1_000_000)]
XmlCoordinate = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORDINATE, le=MAX_COORDINATE)]


class ImageElement(Xml):
    name: Annotated[str, Field(min_length=1)]
    width: XmlPixels
    height: XmlPixels
    subset: str | None = None


class BoxElement(Xml):
    xtl: XmlCoordinate
    ytl: XmlCoordinate
    xbr: XmlCoordinate
    ybr: XmlCoordinate


class PairText(Xml):
    x: XmlCoordinate
    y: XmlCoordinate


class PointsElement(Xml):
    points: Annotated[str, Field(pattern=r"^(\s*|[^,;]+,[^,;]+)(;(\s*|[^,;]+,[^,;]+))*$")]  # x,y;x,y

    def pairs(self, path: Path) -> list[tuple[float, float]]:
        """The heads, each ``x,y`` declared as two coordinates (a `DataError` naming `path` for the first bad one)."""
        parts = (p.split(",") for p in self.points.split(";") if p.strip())  # two texts each: the pattern says so
        heads = (validated(PairText, {"x": x, "y": y}, path, "<points points=...> ") for x, y in parts)
        return [(q.x, q.y) for q in heads]


def _element(model: type[M], el: ET.Element, path: Path) -> M:
    """`el`'s attributes as `model`, or one `DataError` naming the element and the wrong attribute."""
    name = el.attrib.get("name")
    return validated(model, dict(el.attrib), path, f"<{el.tag}{f' name={name!r}' if name else ''}> ")


def _attributes(el: ET.Element) -> dict[str, str]:
    return {a.attrib.get("name", ""): (a.text or "") for a in el.findall("attribute")}


def _work(image: ET.Element, by: list[str | None], path: Path) -> Work | None:
    """The image's `Work` from its headcount tag and the heads' ``by`` attributes; None when it has neither."""
    tag = next((t for t in image.findall("tag") if t.attrib.get("label") == TAG), None)
    if tag is None and not any(by):
        return None
    a = _attributes(tag) if tag is not None else {}
    status = parse_status(a.get("status") or "todo", path, f"<tag label={TAG!r}> status")
    review = None
    if a.get("review_verdict"):
        if a["review_verdict"] not in VERDICTS:
            raise DataError(path, f"<tag label={TAG!r}> review_verdict {a['review_verdict']!r} is not a verdict")
        review = Review(a["review_verdict"], a.get("review_by") or None, a.get("review_comment", ""))
    return Work(tuple(by), status, a.get("status_by") or None, review)


def _heads(image: ET.Element, label: str | None, path: Path) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(points (N, 2), sizes (N,); 0 where a head has no box, who added each) of one ``<image>``."""
    points, sizes, by = [], [], []
    for shape in image:
        if label is not None and shape.attrib.get("label") != label:
            continue
        who = _attributes(shape).get("by") or None
        if shape.tag == "points":
            pairs = _element(PointsElement, shape, path).pairs(path)
            points += pairs
            sizes += [0.0] * len(pairs)
            by += [who] * len(pairs)
        elif shape.tag == "box":
            box = _element(BoxElement, shape, path)
            x0, y0, x1, y1 = box.xtl, box.ytl, box.xbr, box.ybr
            if x1 < x0 or y1 < y0:
                raise DataError(path, f"<box> with xbr < xtl or ybr < ytl ({x0}, {y0}, {x1}, {y1})")
            points.append(((x0 + x1) / 2, (y0 + y1) / 2))
            sizes.append(float(np.sqrt((x1 - x0) * (y1 - y0))))
            by.append(who)
    return as_points(np.array(points, np.float64).reshape(-1, 2), path), np.array(sizes, np.float64), by


@register("cvat")
def read(root: Path, split: str = "all", label: str | None = None) -> Iterator[Sample]:
    """Yield the images of `split` (a subset, or ``all``) with their heads; box heads carry their size."""
    path = root / ANNOTATIONS
    images = [im for im in parse_tree(path).iter("image") if split == "all" or im.attrib.get("subset") == split]
    if not images:
        raise DataError(path, f"no images in subset {split!r}" if split != "all" else "no <image> elements")
    for im in images:
        element = _element(ImageElement, im, path)
        name, subset = element.name, element.subset
        candidates = [contained(root, "images", subset, name, named_in=path)] if subset else []
        candidates += [contained(root, "images", name, named_in=path), contained(root, name, named_in=path)]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DataError(path, f"image {name!r} not found under {root / 'images'}")
        img = inside(root, found, path)
        h, w = image_size(img)
        declared = (element.height, element.width)
        if declared != (h, w):
            raise DataError(path, f"{name}: declared {declared[1]}x{declared[0]} but the file is {w}x{h}")
        points, sizes, by = _heads(im, label, path)
        work = _work(im, by, path)
        yield Sample(
            Path(name).stem, img, points, height=h, width=w, sizes=sizes if (sizes > 0).any() else None, work=work
        )
