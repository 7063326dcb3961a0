"""ShanghaiTech Part A/B: ``{train,test}_data/images/IMG_n.jpg`` + ``ground-truth/GT_IMG_n.mat``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import DataError
from pipeline.image import image_size
from pipeline.paths import contained
from pipeline.point_arrays import as_points
from pipeline.readers import register
from pipeline.readers.layout import check_split, list_images, natural_key, pair_files
from pipeline.readers.matfile import load_mat
from pipeline.sample import Sample

SPLITS = {"train": "train_data", "test": "test_data"}
GT_DIRS = ("ground-truth", "ground_truth")


def read_gt(path: Path):
    """Head points from a ``GT_IMG_n.mat`` (``image_info[0,0][0,0][0]``)."""
    info = load_mat(path, "image_info", "is this a ShanghaiTech ground-truth file?")
    try:
        location = info[0, 0][0, 0][0]
    except (IndexError, TypeError, KeyError, ValueError):
        raise DataError(
            path,
            "'image_info' has an unexpected structure (expected a 1x1 cell holding a struct "
            "whose first field is the (N, 2) location array)",
        ) from None
    return as_points(location, path)


def split_folder(split: str) -> str:
    return SPLITS[check_split("shanghaitech", split, SPLITS)]


@register("shanghaitech")
def read(root: Path, split: str) -> Iterator[Sample]:
    """Yield the samples of `split` ("train" or "test")."""
    base = contained(root, split_folder(split), option="split")
    images = list_images(base / "images")
    gt_dir = next((contained(base, d) for d in GT_DIRS if contained(base, d).is_dir()), None)
    if gt_dir is None:
        raise DataError(base, "no ground-truth/ (or ground_truth/) folder")
    annotations = sorted(gt_dir.glob("*.mat"), key=natural_key)
    pairs = pair_files(
        images,
        annotations,
        image_for=lambda ann: ann.stem.removeprefix("GT_"),
        annotation_for=lambda img: contained(gt_dir, f"GT_{img.stem}.mat"),
    )
    for img, ann in pairs:
        h, w = image_size(img)
        yield Sample(img.stem, img, read_gt(ann), height=h, width=w)
