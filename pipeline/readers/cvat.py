"""CVAT for images 1.1 XML: ``annotations.xml`` + ``images/[<subset>/]<name>``.

Each ``<image name= width= height= [subset=]>`` holds shapes. ``<points points="x1,y1;x2,y2">`` is one or
more heads; ``<box xtl= ytl= xbr= ybr=>`` is a head with a size (its centre, sqrt of the box area), so
``method: box`` works as for JHU-Crowd++ and NWPU-Crowd. Polygons, polylines, ellipses, masks and tags
are not heads and are skipped. Split: an image's ``subset`` (exports of several subsets), or ``all``.
Option ``label`` keeps the shapes of one label. Coordinates are CVAT's: pixels from the image's top-left
corner, the frame headcount uses (DESIGN.md section 2). Some exports have no XML declaration; both read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.points import as_points
from pipeline.readers import register, register_writer
from pipeline.readers.layout import copy_image, inside, plain_id
from pipeline.sample import Sample, image_size

ANNOTATIONS = "annotations.xml"
MAX_XML_BYTES = 1 << 30  # a CVAT export of NWPU-Crowd's 2.1 M heads is about 200 MB


def _tree(path: Path) -> ET.Element:
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


def _number(el: ET.Element, key: str, path: Path) -> float:
    try:
        value = float(el.attrib[key])
    except (KeyError, ValueError):
        raise DataError(path, f"<{el.tag}> {key}={el.attrib.get(key)!r} is not a number") from None
    if not np.isfinite(value):
        raise DataError(path, f"<{el.tag}> {key}={value} is not finite")
    return value


def _heads(image: ET.Element, label: str | None, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, 2), sizes (N,); 0 where a head has no box) of one ``<image>``."""
    points, sizes = [], []
    for shape in image:
        if label is not None and shape.attrib.get("label") != label:
            continue
        if shape.tag == "points":
            for pair in shape.attrib.get("points", "").split(";"):
                if not pair.strip():
                    continue
                try:
                    x, y = (float(v) for v in pair.split(","))
                except ValueError:
                    raise DataError(path, f"<points points=...> has {pair!r}, not 'x,y'") from None
                points.append((x, y))
                sizes.append(0.0)
        elif shape.tag == "box":
            x0, y0, x1, y1 = (_number(shape, k, path) for k in ("xtl", "ytl", "xbr", "ybr"))
            if x1 < x0 or y1 < y0:
                raise DataError(path, f"<box> with xbr < xtl or ybr < ytl ({x0}, {y0}, {x1}, {y1})")
            points.append(((x0 + x1) / 2, (y0 + y1) / 2))
            sizes.append(float(np.sqrt((x1 - x0) * (y1 - y0))))
    return as_points(np.array(points, np.float64).reshape(-1, 2), path), np.array(sizes, np.float64)


@register("cvat")
def read(root: Path, split: str = "all", label: str | None = None) -> Iterator[Sample]:
    """Yield the images of `split` (a subset, or ``all``) with their heads; box heads carry their size."""
    path = root / ANNOTATIONS
    images = [im for im in _tree(path).iter("image") if split == "all" or im.attrib.get("subset") == split]
    if not images:
        raise DataError(path, f"no images in subset {split!r}" if split != "all" else "no <image> elements")
    for im in images:
        name = im.attrib.get("name", "")
        subset = im.attrib.get("subset")
        candidates = [root / "images" / subset / name] if subset else []
        candidates += [root / "images" / name, root / name]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DataError(path, f"image {name!r} not found under {root / 'images'}")
        img = inside(root, found, path)
        h, w = image_size(img)
        declared = (int(_number(im, "height", path)), int(_number(im, "width", path)))
        if declared != (h, w):
            raise DataError(path, f"{name}: declared {declared[1]}x{declared[0]} but the file is {w}x{h}")
        points, sizes = _heads(im, label, path)
        yield Sample(Path(name).stem, img, points, h, w, sizes=sizes if (sizes > 0).any() else None)


@register_writer("cvat")
def write(sample: Sample, out: Path, split: str) -> int:
    """Append the image to ``out/annotations.xml`` (made if absent) as ``<points>``, and copy it to ``images/``.

    Heads with a known size are written as square boxes of that size, so they read back with it.
    """
    path = out / ANNOTATIONS
    root = _tree(path) if path.is_file() else ET.Element("annotations", {})
    if root.find("version") is None:
        ET.SubElement(root, "version").text = "1.1"
    name = f"{plain_id(sample.image_id, sample.image_path)}{sample.image_path.suffix}"
    if any(im.attrib.get("name") == name for im in root.iter("image")):
        raise DataError(path, f"already holds an image named {name!r}; not adding it twice")
    attrs = {"id": str(sum(1 for _ in root.iter("image"))), "name": name}
    attrs.update(width=str(sample.width), height=str(sample.height))
    if split != "all":
        attrs["subset"] = split
    image = ET.SubElement(root, "image", attrs)
    sizes = sample.sizes if sample.sizes is not None else np.zeros(len(sample.points))
    run: list[str] = []  # consecutive heads without a size: one <points>; the order of heads is kept

    def flush() -> None:
        if run:
            ET.SubElement(image, "points", {"label": "head", "occluded": "0", "points": ";".join(run)})
            run.clear()

    for (x, y), s in zip(sample.points.tolist(), sizes.tolist(), strict=True):
        if s <= 0:
            run.append(f"{x!r},{y!r}")  # repr-exact numbers: what is written reads back bit for bit
            continue
        flush()
        box = {"xtl": repr(x - s / 2), "ytl": repr(y - s / 2), "xbr": repr(x + s / 2), "ybr": repr(y + s / 2)}
        ET.SubElement(image, "box", {"label": "head", "occluded": "0", **box})
    flush()
    copy_image(sample.image_path, out / "images" / (split if split != "all" else "") / name)
    ET.indent(root)
    write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
    return 0
