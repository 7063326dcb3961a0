"""ShanghaiTech Part A/B: ``{train,test}_data/images/IMG_n.jpg`` + ``ground-truth/GT_IMG_n.mat``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.io

from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.points import as_points
from pipeline.readers import register, register_writer
from pipeline.readers.layout import check_split, copy_image, list_images, natural_key, pair_files
from pipeline.readers.matfile import load_mat
from pipeline.sample import Sample, image_size

SPLITS = {"train": "train_data", "test": "test_data"}
MAT_HEADER = b"MATLAB 5.0 MAT-file, written by headcount synth"  # fixed text: same points, same bytes
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


def _split_folder(split: str) -> str:
    return SPLITS[check_split("shanghaitech", split, SPLITS)]


@register("shanghaitech")
def read(root: Path, split: str) -> Iterator[Sample]:
    """Yield the samples of `split` ("train" or "test")."""
    base = root / _split_folder(split)
    images = list_images(base / "images")
    gt_dir = next((base / d for d in GT_DIRS if (base / d).is_dir()), None)
    if gt_dir is None:
        raise DataError(base, "no ground-truth/ (or ground_truth/) folder")
    annotations = sorted(gt_dir.glob("*.mat"), key=natural_key)
    pairs = pair_files(
        images,
        annotations,
        image_for=lambda ann: ann.stem.removeprefix("GT_"),
        annotation_for=lambda img: gt_dir / f"GT_{img.stem}.mat",
    )
    for img, ann in pairs:
        h, w = image_size(img)
        yield Sample(img.stem, img, read_gt(ann), h, w)


def gt_mat_bytes(points: np.ndarray) -> bytes:
    """A ``GT_IMG_<n>.mat`` with the official nesting: ``image_info{1}.location``/``.number``.

    The header's creation time is replaced by a fixed text so the same seed
    gives the same bytes.
    """
    struct = np.empty((1, 1), dtype=[("location", "O"), ("number", "O")])
    struct[0, 0]["location"] = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    struct[0, 0]["number"] = np.array([[float(len(points))]])
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = struct
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"image_info": cell})
    data = bytearray(buf.getvalue())
    data[:116] = MAT_HEADER.ljust(116, b" ")
    return bytes(data)


@register_writer("shanghaitech")
def write(sample: Sample, out: Path, split: str) -> int:
    """``out/<split>_data/images/<name>`` + ``ground-truth/GT_<stem>.mat`` (official nesting)."""
    base = out / _split_folder(split)
    copy_image(sample.image_path, base / "images" / sample.image_path.name)
    write_bytes(base / "ground-truth" / f"GT_{sample.image_id}.mat", gt_mat_bytes(sample.points))
    return 0
