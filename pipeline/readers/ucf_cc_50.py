"""UCF_CC_50: ``<n>.jpg`` + ``<n>_ann.mat`` (``annPoints``), 5-fold protocol."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import ConfigError, DataError
from pipeline.image import image_size, is_image
from pipeline.paths import contained
from pipeline.point_arrays import as_points
from pipeline.readers import register
from pipeline.readers.layout import check_split, natural_key, pair_files
from pipeline.readers.matfile import load_mat
from pipeline.sample import Sample

N_IMAGES = 50
N_FOLDS = 5


def fold_numbers(fold: int, split: str) -> list[int]:
    """Image numbers of `split` in `fold`: test = ``10(f-1)+1 .. 10f``, train = the rest."""
    if not 1 <= fold <= N_FOLDS:
        raise ConfigError("fold", f"ucf_cc_50 folds are 1..{N_FOLDS}; got {fold}")
    size = N_IMAGES // N_FOLDS
    test = range(size * (fold - 1) + 1, size * fold + 1)
    if check_split("ucf_cc_50", split, ("train", "test")) == "test":
        return list(test)
    return [n for n in range(1, N_IMAGES + 1) if n not in test]


@register("ucf_cc_50")
def read(root: Path, split: str, fold: int | None = None) -> Iterator[Sample]:
    """Yield the samples of `split` under the 5-fold protocol (`fold` 1..5)."""
    if fold is None:
        raise ConfigError("fold", f"ucf_cc_50 needs a fold (1..{N_FOLDS}): --fold, or options: {{fold: K}}")
    wanted = fold_numbers(int(fold), split)
    if not root.is_dir():
        raise DataError(root, "folder not found")
    images = sorted((p for p in root.iterdir() if is_image(p)), key=natural_key)
    annotations = sorted(root.glob("*_ann.mat"), key=natural_key)
    pairs: dict[int, tuple[Path, Path]] = {}
    for img, ann in pair_files(
        images,
        annotations,
        image_for=lambda ann: ann.stem.removesuffix("_ann"),
        annotation_for=lambda img: contained(root, f"{img.stem}_ann.mat"),
    ):
        if not (img.stem.isascii() and img.stem.isdigit()):  # "²".isdigit() is True, int("²") fails
            warnings.warn(f"{img}: not a UCF_CC_50 image number; skipped", stacklevel=2)
            continue
        n = int(img.stem)
        if n in pairs:
            raise DataError(img, f"image number {n} also names {pairs[n][0].name}; keep one of them")
        pairs[n] = (img, ann)
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
        yield Sample(img.stem, img, as_points(raw, ann), height=h, width=w)
