"""Pairing images with their annotation files, shared by the folder-based readers."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from pipeline.atomic import atomic_path
from pipeline.errors import DataError
from pipeline.sample import is_image


def natural_key(path: Path) -> tuple:
    """Sort ``IMG_2`` before ``IMG_10``."""
    return tuple(int(t) if t.isdecimal() else t for t in re.split(r"(\d+)", path.stem))  # "²" is a digit, not decimal


def pair_files(
    images: list[Path],
    annotations: list[Path],
    image_for: Callable[[Path], str],
    annotation_for: Callable[[Path], Path],
) -> list[tuple[Path, Path]]:
    """Match every image to its annotation file, and the reverse.

    `image_for` maps an annotation file to the image stem it describes;
    `annotation_for` maps an image to its expected annotation path.
    """
    stems = {p.stem for p in images}
    for ann in annotations:
        if image_for(ann) not in stems:
            raise DataError(ann, f"ground truth without an image (no image {image_for(ann)!r} found)")
    pairs = []
    for img in images:
        ann = annotation_for(img)
        if not ann.is_file():
            raise DataError(img, f"no ground truth for this image (expected {ann})")
        pairs.append((img, ann))
    return pairs


def copy_image(src: Path, dst: Path) -> None:
    """Copy an image into a written dataset atomically (nothing to do when `dst` is `src`)."""
    if dst.exists() and dst.samefile(src):
        return
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def list_images(folder: Path) -> list[Path]:
    """Images in `folder`, naturally sorted; `DataError` if the folder is missing or empty."""
    if not folder.is_dir():
        raise DataError(folder, "folder not found")
    images = sorted((p for p in folder.iterdir() if is_image(p)), key=natural_key)
    if not images:
        raise DataError(folder, "empty split: no .jpg/.png images")
    return images
