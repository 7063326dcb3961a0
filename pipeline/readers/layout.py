"""Pairing images with their annotation files, shared by the folder-based readers."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from pipeline.errors import ConfigError, DataError
from pipeline.image import is_image
from pipeline.paths import contained


def check_split(fmt: str, split: str, splits: Iterable[str]) -> str:
    """`split` if `fmt` has it; else the `ConfigError` every reader gives for an unknown split."""
    splits = list(splits)
    if split not in splits:
        raise ConfigError("split", f"{fmt} splits are {', '.join(splits)}; got {split!r}")
    return split


def one_json(root: Path, what: str) -> Path:
    """The one ``*.json`` export at `root` (Label Studio, COCO): a `DataError` when there is none or several."""
    files = sorted(Path(root).glob("*.json"))
    if len(files) != 1:
        found = ", ".join(p.name for p in files) or "none"
        raise DataError(root, f"expected one {what} (*.json) at the root, found {found}")
    return files[0]


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


def inside(root: Path, path: Path, named_in: Path) -> Path:
    """`path` (under `root`, or absolute), resolved, if it lies under `root` (`pipeline.paths.contained`).

    A split list or an annotation names files relative to its dataset, and a
    line like ``../../secret/x`` must not make a reader (or ``convert``) reach
    outside the folder the user gave.
    """
    return contained(root, os.path.abspath(path), named_in=named_in).resolve()  # `path` includes `root`


def plain_id(image_id: str, named_in: Path) -> str:
    """`image_id` if it is a file stem and nothing more: no folder, no '..', not absolute."""
    if not image_id or image_id in (".", "..") or Path(image_id).name != image_id or "\\" in image_id:
        raise DataError(named_in, f"image id {image_id!r} is not a plain file name")
    return image_id


def list_images(folder: Path) -> list[Path]:
    """Images in `folder`, naturally sorted; `DataError` if the folder is missing or empty."""
    if not folder.is_dir():
        raise DataError(folder, "folder not found")
    images = sorted((contained(folder, p.name) for p in folder.iterdir() if is_image(p)), key=natural_key)
    if not images:
        raise DataError(folder, "empty split: no .jpg/.png images")
    return images
