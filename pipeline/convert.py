"""Writing samples back out in another point format (``headcount convert``).

Existing ground truth can be corrected in the annotation tool (``points``) and
written back as ShanghaiTech or UCF_CC_50 files for other tools. Images are
copied; out-of-image points are dropped and counted (the ``points`` format
cannot hold them).
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import scipy.io

from pipeline.atomic import atomic_path, write_bytes
from pipeline.errors import DataError
from pipeline.pointfile import PointFile, write_point_file
from pipeline.points import split_inside
from pipeline.sample import Sample
from pipeline.synth import gt_mat_bytes

Writer = Callable[[Sample, Path, str], int]
WRITERS: dict[str, Writer] = {}


def writer(name: str) -> Callable[[Writer], Writer]:
    def deco(fn: Writer) -> Writer:
        WRITERS[name] = fn
        return fn

    return deco


def _copy(src: Path, dst: Path) -> None:
    if dst.exists() and dst.samefile(src):
        return
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


@writer("points")
def write_points(sample: Sample, out: Path, split: str) -> int:
    """``out/images/<name>`` + ``out/points/<stem>.json`` (split ``all``) or under ``out/<split>/``."""
    base = out if split == "all" else out / split
    kept, dropped = split_inside(sample.points, sample.shape)
    _copy(sample.image_path, base / "images" / sample.image_path.name)
    pf = PointFile(f"images/{sample.image_path.name}", sample.width, sample.height, 1, kept)
    write_point_file(base / "points" / f"{sample.image_id}.json", pf)
    return dropped


@writer("shanghaitech")
def write_shanghaitech(sample: Sample, out: Path, split: str) -> int:
    """``out/<split>_data/images/<name>`` + ``ground-truth/GT_<stem>.mat`` (official nesting)."""
    if split not in ("train", "test"):
        raise ValueError(f"shanghaitech splits are train and test; got {split!r}")
    base = out / f"{split}_data"
    _copy(sample.image_path, base / "images" / sample.image_path.name)
    write_bytes(base / "ground-truth" / f"GT_{sample.image_id}.mat", gt_mat_bytes(sample.points))
    return 0


@writer("ucf_cc_50")
def write_ucf(sample: Sample, out: Path, split: str) -> int:
    """``out/<n>.<ext>`` + ``out/<n>_ann.mat`` with ``annPoints``; `n` is the number the image id ends in.

    UCF_CC_50's reader (and its 5-fold protocol) knows images by number, so
    ``IMG_3`` becomes ``3``: what is written reads back.
    """
    match = re.search(r"(\d+)$", sample.image_id)
    if match is None:
        raise DataError(sample.image_path, "ucf_cc_50 names images by number; this image id ends in none")
    number = int(match.group(1))
    _copy(sample.image_path, out / f"{number}{sample.image_path.suffix}")
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"annPoints": np.asarray(sample.points, np.float64).reshape(-1, 2)})
    write_bytes(out / f"{number}_ann.mat", buf.getvalue())
    return 0


def convert(samples: Iterable[Sample], to: str, out: str | Path, split: str) -> tuple[int, int]:
    """Write every sample in format `to` under `out`; returns (images written, points dropped)."""
    try:
        write = WRITERS[to]
    except KeyError:
        raise ValueError(f"cannot write {to!r}; writable formats: {', '.join(sorted(WRITERS))}") from None
    n = dropped = 0
    for sample in samples:
        dropped += write(sample, Path(out), split)
        n += 1
    return n, dropped
