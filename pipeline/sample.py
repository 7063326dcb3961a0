"""One annotated image: what every reader yields and every later step consumes."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import numpy as np

from pipeline.work import Work


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

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)
