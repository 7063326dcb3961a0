"""UCF_CC_50: ``<n>.jpg`` + ``<n>_ann.mat`` (``annPoints``), 5-fold protocol."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import DataError
from pipeline.points import as_points
from pipeline.readers import register
from pipeline.readers.layout import natural_key, pair_files
from pipeline.readers.matfile import load_mat
from pipeline.sample import Sample, image_size, is_image

N_IMAGES = 50
N_FOLDS = 5


def fold_numbers(fold: int, split: str) -> list[int]:
    """Image numbers of `split` in `fold`: test = ``10(f-1)+1 .. 10f``, train = the rest."""
    if not 1 <= fold <= N_FOLDS:
        raise ValueError(f"ucf_cc_50 fold must be 1..{N_FOLDS}; got {fold}")
    size = N_IMAGES // N_FOLDS
    test = range(size * (fold - 1) + 1, size * fold + 1)
    if split == "test":
        return list(test)
    if split == "train":
        return [n for n in range(1, N_IMAGES + 1) if n not in test]
    raise ValueError(f"ucf_cc_50 splits are train, test; got {split!r}")


@register("ucf_cc_50")
def read(root: Path, split: str, fold: int | None = None) -> Iterator[Sample]:
    """Yield the samples of `split` under the 5-fold protocol (`fold` 1..5)."""
    if fold is None:
        raise ValueError("ucf_cc_50 needs a fold (1..5)")
    wanted = fold_numbers(int(fold), split)
    if not root.is_dir():
        raise DataError(root, "folder not found")
    images = sorted((p for p in root.iterdir() if is_image(p)), key=natural_key)
    annotations = sorted(root.glob("*_ann.mat"), key=natural_key)
    pairs = dict(
        (int(img.stem), (img, ann))
        for img, ann in pair_files(
            images,
            annotations,
            image_for=lambda ann: ann.stem.removesuffix("_ann"),
            annotation_for=lambda img: root / f"{img.stem}_ann.mat",
        )
        if img.stem.isdigit()
    )
    missing = [n for n in wanted if n not in pairs]
    if missing:
        warnings.warn(f"{root}: images {missing} of fold {fold} ({split}) not found; skipped", stacklevel=2)
    present = [n for n in wanted if n in pairs]
    if not present:
        raise DataError(root, f"empty split: no images of fold {fold} ({split})")
    for n in present:
        img, ann = pairs[n]
        h, w = image_size(img)
        raw = load_mat(ann, "annPoints", "is this a UCF_CC_50 annotation file?")
        yield Sample(img.stem, img, as_points(raw, ann), h, w)
