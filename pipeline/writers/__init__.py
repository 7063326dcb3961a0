"""Writing samples in an annotation format, looked up by name (``headcount convert``, ``export --to``).

The readers (`pipeline.readers`) are what the density stage runs; the writers
are not, so they live here, one module per format, registered lazily as the
readers are. A writer takes ``(sample, out, split)``, writes the sample in its
format's layout under `out` and returns the number of points it had to drop
(a format that cannot hold a head outside the image).

>>> sorted(FORMATS) == sorted(__import__("pipeline.readers", fromlist=["FORMATS"]).FORMATS)
True
"""

from __future__ import annotations

import filecmp
import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.io

from pipeline.atomic import atomic_path, keep
from pipeline.errors import DataError
from pipeline.readers import Registry

if TYPE_CHECKING:  # for annotations only: the registry loads no sample code
    from pipeline.sample import Sample

Writer = Callable[["Sample", Path, str], int]
FORMATS: dict[str, str] = {  # name -> the module that registers its writer
    "coco": "pipeline.writers.coco",
    "cvat": "pipeline.writers.cvat",
    "jhu": "pipeline.writers.jhu",
    "label_studio": "pipeline.writers.label_studio",
    "labelme": "pipeline.writers.labelme",
    "nwpu": "pipeline.writers.nwpu",
    "points": "pipeline.writers.points",
    "qnrf": "pipeline.writers.qnrf",
    "shanghaitech": "pipeline.writers.shanghaitech",
    "ucf_cc_50": "pipeline.writers.ucf_cc_50",
}
WRITERS = Registry("writer", FORMATS)
register = WRITERS.register  # ``@register("name")`` in a format's writer module


def writer(format: str) -> Writer:
    """The writer of `format`; a `ConfigError` for a format that cannot be written."""
    return WRITERS.get(format, "to", "cannot write")


def writable() -> list[str]:
    """The formats that have a writer."""
    return sorted(FORMATS)


def copy_image(src: Path, dst: Path) -> None:
    """Copy an image into a written dataset atomically; an existing other file there is refused, never replaced."""
    if dst.exists() or dst.is_symlink():
        if dst.is_file() and (dst.samefile(src) or filecmp.cmp(src, dst, shallow=False)):
            keep(dst)
            return
        raise DataError(dst, f"exists and is not a copy of {src}; not replacing it (convert into another folder)")
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def ann_points_bytes(points: np.ndarray) -> bytes:
    """A .mat file with ``annPoints`` (N, 2) x, y: the ground truth of UCF_CC_50 and UCF-QNRF."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"annPoints": np.asarray(points, np.float64).reshape(-1, 2)})
    return buf.getvalue()
