"""Label Studio JSON export: one ``*.json`` (a list of tasks) under `root`, images by file name.

A task's ``data.image`` is a local path or a URL (``/data/upload/3/1f2e3d4c-IMG_1.jpg``, ``https://...``);
its file name is looked up under ``root/images/`` and `root` (without Label Studio's upload prefix, the
8 hex digits and a dash, if only that name exists). Heads are ``result`` items of ``type:
keypointlabels``: ``value.x`` and ``value.y`` are percentages of ``original_width`` and
``original_height``. Other items (``rectanglelabels``, ``relation`` items with no ``value``) are skipped.
Option ``label`` keeps one keypoint label. A task with several annotations takes the one by
``annotator`` (a user id or e-mail in ``completed_by``), or the latest (``updated_at``), and a warning
says which. Split: ``all``.

The team's record travels in Label Studio's own fields: the annotation's ``completed_by`` (``{"email":
name}``: who set the status, else the first annotator), each keypoint region's ``meta.by`` (who added
that head), the annotation's ``reviews`` (the last: ``{"accepted": bool, "created_by": {"email": name},
"comment": text}``) and the task's ``meta`` (``headcount_status``). The reader gives them back as the
sample's `Work`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from pipeline import strictjson
from pipeline.errors import ConfigError, DataError
from pipeline.image import image_size
from pipeline.points import as_points
from pipeline.readers import register
from pipeline.readers.layout import check_split, inside, one_json
from pipeline.sample import Sample
from pipeline.work import Review, Work, parse_status

EXPORT = "tasks.json"  # the name the writer gives its export; the reader takes any one *.json
UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def _image(root: Path, ref: object, export: Path, task: object) -> Path:
    """The file a task's ``data.image`` names, found under `root` by its file name."""
    if not isinstance(ref, str) or not ref:
        raise DataError(export, f"task {task}: data.image is {ref!r}, not a path or URL")
    name = Path(unquote(urlparse(ref).path)).name
    names = [name] + ([UPLOAD_PREFIX.sub("", name)] if UPLOAD_PREFIX.match(name) else [])
    for n in names:
        for folder in (root / "images", root):
            if (folder / n).is_file():
                return inside(root, folder / n, export)
    raise DataError(export, f"task {task}: image {name!r} not found under {root / 'images'} or {root}")


def _annotator(annotation: dict) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id"))
    return str(who)


def _pick(task: dict, annotator: str | None, export: Path) -> dict | None:
    """The annotation to read: by `annotator`, else the latest; None for a task nobody annotated."""
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if annotator is not None:
        annotations = [a for a in annotations if _annotator(a) == annotator]
    if not annotations:
        return None
    chosen = max(annotations, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id", 0)))
    if len(annotations) > 1:
        warnings.warn(
            f"{export}: task {task.get('id')} has {len(annotations)} annotations; reading {chosen.get('id')} "
            f"by {_annotator(chosen)} (the latest; --annotator picks one)",
            stacklevel=3,
        )
    return chosen


def _heads(
    annotation: dict, label: str | None, size: tuple[int, int], export: Path, task: object
) -> tuple[np.ndarray, list[str | None]]:
    h, w = size
    pts, by = [], []
    for item in annotation.get("result") or []:
        if not isinstance(item, dict) or item.get("type") != "keypointlabels" or "value" not in item:
            continue
        value = item["value"]
        if label is not None and label not in (value.get("keypointlabels") or []):
            continue
        ow, oh = item.get("original_width"), item.get("original_height")
        if (ow, oh) != (None, None) and (ow, oh) != (w, h):
            raise DataError(export, f"task {task}: annotated on a {ow}x{oh} image but the file is {w}x{h}")
        try:
            pts.append((float(value["x"]) * w / 100, float(value["y"]) * h / 100))  # percent of the image
        except (KeyError, TypeError, ValueError):
            raise DataError(export, f"task {task}: a keypoint without numeric value.x and value.y") from None
        meta = item.get("meta")
        who = meta.get("by") if isinstance(meta, dict) else None
        by.append(who if isinstance(who, str) else None)
    return as_points(np.array(pts, np.float64).reshape(-1, 2), export), by


def _work(task: dict, annotation: dict, by: list[str | None], export: Path) -> Work | None:
    """A task's `Work` (module docstring); None where it carries no status, review or head names."""
    meta = task.get("meta") if isinstance(task.get("meta"), dict) else {}
    reviews = [r for r in annotation.get("reviews") or [] if isinstance(r, dict)]
    if not any(by) and "headcount_status" not in meta and not reviews:
        return None
    status = parse_status(meta.get("headcount_status", "todo"), export, f"task {task.get('id')}: headcount_status")
    review = None
    if reviews:
        last = reviews[-1]
        who = last.get("created_by")
        name = who.get("email") if isinstance(who, dict) else None
        review = Review("accepted" if last.get("accepted") else "rejected", name, str(last.get("comment") or ""))
    status_by = meta.get("headcount_status_by")
    return Work(tuple(by), status, status_by if isinstance(status_by, str) else None, review)


@register("label_studio")
def read(root: Path, split: str = "all", label: str | None = None, annotator: str | None = None) -> Iterator[Sample]:
    """Yield each annotated task's image with its keypoint heads, in pixels."""
    check_split("label_studio", split, ("all",))
    export = one_json(root, "Label Studio JSON export")
    tasks = strictjson.read(export)
    if not isinstance(tasks, list):
        raise DataError(export, "not a Label Studio JSON export (expected a list of tasks)")
    seen: set[str] = set()
    for task in tasks:
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise DataError(export, "a task without a 'data' mapping (is this Label Studio's JSON export?)")
        chosen = _pick(task, annotator, export)
        if chosen is None:
            continue  # not annotated (or not by `annotator`)
        img = _image(root, task["data"].get("image"), export, task.get("id"))
        if img.stem in seen:
            raise DataError(export, f"two tasks annotate {img.name}")
        seen.add(img.stem)
        h, w = image_size(img)
        points, by = _heads(chosen, label, (h, w), export, task.get("id"))
        yield Sample(img.stem, img, points, height=h, width=w, work=_work(task, chosen, by, export))
    if not seen:
        who = f" by {annotator!r}" if annotator is not None else ""
        if annotator is not None:
            raise ConfigError("annotator", f"no task annotated{who} in {export}")
        raise DataError(export, "no annotated task")
