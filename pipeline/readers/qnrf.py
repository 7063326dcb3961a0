"""UCF-QNRF: ``Train/`` and ``Test/`` with ``img_XXXX.jpg`` + ``img_XXXX_ann.mat`` (``annPoints``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.image import image_size
from pipeline.paths import contained
from pipeline.point_arrays import as_points
from pipeline.readers import register
from pipeline.readers.layout import check_split, list_images, natural_key, pair_files
from pipeline.readers.matfile import load_mat
from pipeline.sample import Sample

SPLITS = {"train": "Train", "test": "Test"}


def split_folder(root: Path, split: str) -> Path:
    return contained(root, SPLITS[check_split("qnrf", split, SPLITS)], option="split")


@register("qnrf")
def read(root: Path, split: str) -> Iterator[Sample]:
    """Yield the samples of `split` (``train`` = ``Train/``, ``test`` = ``Test/``)."""
    base = split_folder(root, split)
    images = list_images(base)
    annotations = sorted(base.glob("*_ann.mat"), key=natural_key)
    for img, ann in pair_files(
        images,
        annotations,
        image_for=lambda a: a.stem.removesuffix("_ann"),
        annotation_for=lambda i: contained(base, f"{i.stem}_ann.mat"),
    ):
        h, w = image_size(img)
        raw = load_mat(ann, "annPoints", "is this a UCF-QNRF annotation file?")
        yield Sample(img.stem, img, as_points(raw, ann), height=h, width=w)
