"""Label Studio JSON export: ``tasks.json`` (keypoints in percent) + ``images/``.

The team's record goes into ``completed_by``, ``reviews`` and the task's ``meta``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import strictjson
from pipeline.atomic import extendable, write_bytes
from pipeline.errors import DataError
from pipeline.paths import contained
from pipeline.readers.label_studio import EXPORT
from pipeline.readers.layout import check_split, plain_id
from pipeline.sample import Sample
from pipeline.writers import copy_image, register


def _percent(v: float, size: int) -> float:
    """`v` as a percentage of `size` that the reader turns back into exactly `v` (a neighbour of the
    rounded quotient does, where the quotient itself does not)."""
    p = v * 100 / size
    candidates = [p]
    for direction in (np.inf, -np.inf):
        q = p
        for _ in range(4):
            q = float(np.nextafter(q, direction))
            candidates.append(q)
    return next((c for c in candidates if c * size / 100 == v), p)


@register("label_studio")
def write(sample: Sample, out: Path, split: str) -> int:
    """Append a task to ``out/tasks.json`` (made if absent), keypoints in percent, and copy the image to images/."""
    check_split("label_studio", split, ("all",))
    path = out / EXPORT
    tasks = strictjson.read(path) if extendable(path) else []
    name = f"{plain_id(sample.image_id, sample.image_path)}{sample.image_path.suffix}"
    if any(isinstance(t, dict) and Path(str(t.get("data", {}).get("image"))).name == name for t in tasks):
        raise DataError(path, f"already holds a task for {name}; not adding it twice")
    w, h = sample.width, sample.height
    work = sample.work
    by = work.by if work is not None else (None,) * len(sample.points)
    result = [
        {
            "type": "keypointlabels",
            "from_name": "kp",
            "to_name": "image",
            "original_width": w,
            "original_height": h,
            "value": {"x": _percent(x, w), "y": _percent(y, h), "width": 0.5, "keypointlabels": ["head"]},
            **({"meta": {"by": who}} if who is not None else {}),
        }
        for (x, y), who in zip(sample.points.tolist(), by, strict=True)
    ]
    task_id = len(tasks) + 1
    annotation: dict = {"id": task_id, "result": result}
    task: dict = {"id": task_id, "data": {"image": f"images/{name}"}, "annotations": [annotation]}
    if work is not None and work.named:
        who = work.status_by or next((b for b in by if b), None)
        if who is not None:
            annotation["completed_by"] = {"email": who}
        if work.review is not None:
            r = work.review
            annotation["reviews"] = [
                {"accepted": r.verdict == "accepted", "created_by": {"email": r.by}, "comment": r.comment}
            ]
        task["meta"] = {"headcount_status": work.status, "headcount_status_by": work.status_by}
    tasks.append(task)
    copy_image(sample.image_path, contained(out, "images", name, write=True))
    write_bytes(path, (strictjson.dumps(tasks, indent=1) + "\n").encode())
    return 0
