"""One annotated image: what every reader yields and every later step consumes."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.work import Work

OUTSIDE = 1.0  # how far outside its image a head may lie, in image sizes (annotation slips, cropped photos)


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
    _: KW_ONLY  # width and height by name: never swapped
    height: int
    width: int
    sizes: np.ndarray | None = None
    labelled: bool = True
    work: Work | None = None  # the team's record, where the format keeps one (one `by` per point)

    def __post_init__(self) -> None:
        """Heads are bounded by the image as they are read: a point up to `OUTSIDE` image sizes beyond
        an edge is kept (the density stage's ``border`` decides what it adds), one further is a
        `DataError`, so no later arithmetic meets a coordinate of 1e300."""
        if len(self.points):
            size = np.array([self.width, self.height], dtype=np.float64)
            far = ((self.points < -OUTSIDE * size) | (self.points > (1 + OUTSIDE) * size)).any(axis=1)
            if far.any():
                i = int(np.flatnonzero(far)[0])
                x, y = self.points[i]
                raise DataError(
                    self.image_path,
                    f"head #{i} at ({x:.6g}, {y:.6g}) lies more than an image size outside the "
                    f"{self.width}x{self.height} image ({int(far.sum())} such)",
                )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)
