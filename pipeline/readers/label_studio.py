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
from pydantic import ConfigDict, RootModel

from pipeline import strictjson
from pipeline.errors import ConfigError, DataError
from pipeline.image import image_size
from pipeline.paths import contained
from pipeline.point_arrays import as_points
from pipeline.readers import register
from pipeline.readers.layout import check_split, one_json
from pipeline.sample import Sample
from pipeline.schema import Id, Percent, Size, Strict, validated
from pipeline.work import Review, Work, parse_status

EXPORT = "tasks.json"  # the name the writer gives its export; the reader takes any one *.json
UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


class Annotation(Strict):
    id: Id | None = None
    result: list[dict] = []  # items of any type; keypoint items are checked as `KeypointItem`
    updated_at: str | None = None
    created_at: str | None = None
    was_cancelled: bool = False
    reviews: list[dict] = []


class Task(Strict):
    id: Id | None = None
    data: dict
    annotations: list[Annotation] = []


class Tasks(RootModel[list[Task]]):
    model_config = ConfigDict(strict=True)


class KeypointValue(Strict):
    x: Percent
    y: Percent
    keypointlabels: list[str] = []


class KeypointItem(Strict):
    type: str
    value: KeypointValue
    original_width: Size | None = None
    original_height: Size | None = None
    meta: dict | None = None


def _order(annotation: Annotation) -> tuple:
    """Latest last: by time stamp, then id (none first, numbers before text), never comparing None with 1."""
    stamp = annotation.updated_at or annotation.created_at or ""
    i = annotation.id
    return (stamp, 0 if i is None else 1 if isinstance(i, int) else 2, i if i is not None else 0)


def _image(root: Path, ref: object, export: Path, task: object) -> Path:
    """The file a task's ``data.image`` names, found under `root` by its file name."""
    if not isinstance(ref, str) or not ref:
        raise DataError(export, f"task {task}: data.image is {ref!r}, not a path or URL")
    name = Path(unquote(urlparse(ref).path)).name
    names = [name] + ([UPLOAD_PREFIX.sub("", name)] if UPLOAD_PREFIX.match(name) else [])
    for n in names:
        for found in (contained(root, "images", n, named_in=export), contained(root, n, named_in=export)):
            if found.is_file():
                return found.resolve()
    raise DataError(export, f"task {task}: image {name!r} not found under {root / 'images'} or {root}")


def _annotator(annotation: Annotation) -> str:
    who = (annotation.model_extra or {}).get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id"))
    return str(who)


def _pick(task: Task, annotator: str | None, export: Path) -> Annotation | None:
    """The annotation to read: by `annotator`, else the latest; None for a task nobody annotated."""
    annotations = [a for a in task.annotations if not a.was_cancelled]
    if annotator is not None:
        annotations = [a for a in annotations if _annotator(a) == annotator]
    if not annotations:
        return None
    chosen = max(annotations, key=_order)
    if len(annotations) > 1:
        warnings.warn(
            f"{export}: task {task.id} has {len(annotations)} annotations; reading {chosen.id} "
            f"by {_annotator(chosen)} (the latest; pick one with --option annotator=NAME, or a dataset's "
            "options: {annotator: NAME} in params.yaml)",
            stacklevel=3,
        )
    return chosen


def _heads(
    annotation: Annotation, label: str | None, size: tuple[int, int], export: Path, task: object
) -> tuple[np.ndarray, list[str | None]]:
    h, w = size
    pts, by = [], []
    for n, raw in enumerate(annotation.result):
        if raw.get("type") != "keypointlabels" or "value" not in raw:
            continue
        item = validated(KeypointItem, raw, f"{export}: task {task}: result[{n}]")
        if label is not None and label not in item.value.keypointlabels:
            continue
        ow, oh = item.original_width, item.original_height
        if (ow, oh) != (None, None) and (ow, oh) != (w, h):
            raise DataError(export, f"task {task}: annotated on a {ow}x{oh} image but the file is {w}x{h}")
        pts.append((item.value.x * w / 100, item.value.y * h / 100))  # percent of the image
        who = item.meta.get("by") if item.meta is not None else None
        by.append(who if isinstance(who, str) else None)
    return as_points(np.array(pts, np.float64).reshape(-1, 2), export), by


def _work(task: Task, annotation: Annotation, by: list[str | None], export: Path) -> Work | None:
    """A task's `Work` (module docstring); None where it carries no status, review or head names."""
    meta = (task.model_extra or {}).get("meta")
    meta = meta if isinstance(meta, dict) else {}
    reviews = annotation.reviews
    if not any(by) and "headcount_status" not in meta and not reviews:
        return None
    status = parse_status(meta.get("headcount_status", "todo"), export, f"task {task.id}: headcount_status")
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
    doc = strictjson.read(export)
    if not isinstance(doc, list):
        raise DataError(export, "not a Label Studio JSON export (expected a list of tasks)")
    for n, task in enumerate(doc):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise DataError(export, f"task {n}: no 'data' mapping (is this Label Studio's JSON export?)")
    tasks = validated(Tasks, doc, export).root
    seen: set[str] = set()
    for task in tasks:
        chosen = _pick(task, annotator, export)
        if chosen is None:
            continue  # not annotated (or not by `annotator`)
        img = _image(root, task.data.get("image"), export, task.id)
        if img.stem in seen:
            raise DataError(export, f"two tasks annotate {img.name}")
        seen.add(img.stem)
        h, w = image_size(img)
        points, by = _heads(chosen, label, (h, w), export, task.id)
        yield Sample(img.stem, img, points, height=h, width=w, work=_work(task, chosen, by, export))
    if not seen:
        who = f" by {annotator!r}" if annotator is not None else ""
        if annotator is not None:
            raise ConfigError("annotator", f"no task annotated{who} in {export}")
        raise DataError(export, "no annotated task")
