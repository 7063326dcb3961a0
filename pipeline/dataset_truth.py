"""Ground truth for `headcount score` read straight from a dataset in any supported format.

Its own module so that the evaluate stage, which scores against a store, does
not depend on every reader (dvc.yaml lists exactly what a stage imports).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.points import split_inside
from pipeline.readers import read
from pipeline.score import Truth


def dataset_truth(format: str, root: str | Path, split: str, **options: object) -> dict[str, Truth]:
    """Ground truth read straight from a dataset in any supported format: each image's in-image heads."""
    out = {}
    for sample in read(format, root, split, **options):
        if not sample.labelled:
            continue
        kept, _, _ = split_inside(np.asarray(sample.points, np.float64).reshape(-1, 2), sample.shape, None)
        out[sample.image_id] = Truth(float(len(kept)), kept)
    if not out:
        raise DataError(root, f"no labelled images in split {split!r} of this {format} dataset")
    return out
