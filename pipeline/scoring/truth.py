"""Ground truth for `headcount score`: from a density store, or straight from a dataset in any supported format.

Not in `pipeline.score`, so that the evaluate stage, which scores against a
store it already holds, does not depend on every reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.point_arrays import split_inside
from pipeline.readers import read
from pipeline.score import Truth, record_truth
from pipeline.store import read_split


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


def store_truth(path: str | Path) -> dict[str, Truth]:
    """Ground truth from a density store (see `record_truth`)."""
    store = read_split(path)
    return {image_id: record_truth(store[image_id]) for image_id in store}
