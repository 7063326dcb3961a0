"""One annotated image: what every reader yields and every later step consumes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.image import open_image
from pipeline.pointfile import Review, parse_status

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Work:
    """A team's record of one annotated image: who added each head, its workflow status and who set it,
    and the last review. The annotation tool writes it (point files); the CVAT, Label Studio and COCO
    writers carry it in their own fields, and their readers give it back."""

    by: tuple[str | None, ...]
    status: str = "todo"
    status_by: str | None = None
    review: Review | None = None

    def __post_init__(self) -> None:
        parse_status(self.status, "a sample's work")

    @property
    def named(self) -> bool:
        """Whether it says anything beyond an unreviewed image of nobody's heads."""
        return any(self.by) or self.status != "todo" or self.status_by is not None or self.review is not None


@dataclass(frozen=True)
class Sample:
    """An image and its head points (all annotated ones, in-image or not).

    `sizes` is each head's annotated size in pixels where the dataset gives head
    boxes (JHU-Crowd++, NWPU-Crowd), for ``method: box``; `labelled` is False for
    images whose ground truth is not public (NWPU's test split): they can be
    counted, never turned into density maps.
    """

    image_id: str
    image_path: Path
    points: np.ndarray
    height: int
    width: int
    sizes: np.ndarray | None = None
    labelled: bool = True
    work: Work | None = None  # the team's record, where the format keeps one (one `by` per point)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of an image from its header alone (no full decode).

    Raises `DataError` for unreadable or empty images.
    """
    with open_image(path, "read the image header") as im:
        w, h = im.size
    if w <= 0 or h <= 0:
        raise DataError(path, f"empty image ({w}x{h})")
    return int(h), int(w)


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
