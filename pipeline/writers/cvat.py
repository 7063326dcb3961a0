"""CVAT for images 1.1 XML: ``annotations.xml`` + ``images/[<subset>/]<name>``, one ``<points>`` shape a head.

The attributes and tag that carry the team's record are described in `pipeline.readers.cvat`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from pipeline.atomic import extendable, write_bytes
from pipeline.errors import DataError
from pipeline.paths import contained
from pipeline.readers.cvat import ANNOTATIONS, TAG, parse_tree
from pipeline.readers.layout import plain_id
from pipeline.sample import Sample
from pipeline.writers import copy_image, register


@register("cvat")
def write(sample: Sample, out: Path, split: str) -> int:
    """Append the image to ``out/annotations.xml`` (made if absent), one ``<points>`` a head, and copy it to
    ``images/``; the sample's `Work` goes into attributes and a tag (module docstring).

    Heads with a known size are written as square boxes of that size, so they read back with it.
    """
    path = out / ANNOTATIONS
    root = parse_tree(path) if extendable(path) else ET.Element("annotations", {})
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
    work = sample.work
    by = work.by if work is not None else (None,) * len(sample.points)
    for (x, y), s, who in zip(sample.points.tolist(), sizes.tolist(), by, strict=True):
        if s <= 0:  # repr-exact numbers: what is written reads back bit for bit
            shape = ET.SubElement(image, "points", {"label": "head", "occluded": "0", "points": f"{x!r},{y!r}"})
        else:
            box = {"xtl": repr(x - s / 2), "ytl": repr(y - s / 2), "xbr": repr(x + s / 2), "ybr": repr(y + s / 2)}
            shape = ET.SubElement(image, "box", {"label": "head", "occluded": "0", **box})
        if who is not None:
            ET.SubElement(shape, "attribute", {"name": "by"}).text = who
    if work is not None and work.named:
        tag = ET.SubElement(image, "tag", {"label": TAG, "source": "manual"})
        fields = {"status": work.status, "status_by": work.status_by}
        if work.review is not None:
            r = work.review
            fields.update(review_verdict=r.verdict, review_by=r.by, review_comment=r.comment)
        for key, value in fields.items():
            if value is not None:
                ET.SubElement(tag, "attribute", {"name": key}).text = value
    folder = ("images", split) if split != "all" else ("images",)
    copy_image(sample.image_path, contained(out, *folder, name, option="--out-split", write=True))
    ET.indent(root)
    write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
    return 0
