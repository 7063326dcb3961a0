"""Writing samples out in another annotation format (``headcount convert``).

Existing ground truth can be corrected in the annotation tool (``points``) and
written back as ShanghaiTech or UCF_CC_50 files for other tools. Each format's
writer is a module of this package, named as its reader; images are copied, and
points a format cannot hold (outside the image) are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from pipeline.outputs import claim_folder
from pipeline.readers.layout import plain_id
from pipeline.sample import Sample
from pipeline.store import read_split
from pipeline.writers import writer


def convert(samples: Iterable[Sample], to: str, out: str | Path, split: str) -> tuple[int, int]:
    """Write every sample in format `to` under `out`; returns (images written, points dropped).

    `out` follows the folder policy of `pipeline.outputs.claim_folder`: checked before the first sample
    is read, never writing over a file an earlier run of this command did not write, and a re-run of
    `split` replaces that split's earlier files.
    """
    write = writer(to)
    n = dropped = 0
    with claim_folder(out, to, split).writing():
        for sample in samples:
            plain_id(sample.image_id, Path(sample.image_path))  # every file it writes stays inside `out`
            dropped += write(sample, Path(out), split)
            n += 1
    return n, dropped


def store_samples(path: str | Path) -> Iterator[Sample]:
    """The samples a density store was made from: its images and in-image points as annotated."""
    store = read_split(path)
    for image_id in store:
        rec = store[image_id]
        points = np.asarray(rec.points, dtype=np.float64).reshape(-1, 2)
        yield Sample(image_id, store.image_path(image_id), points, height=rec.height, width=rec.width)
