"""Bayesian Loss (Ma et al. ICCV 2019) and DM-Count (Wang et al. NeurIPS 2020) layouts.

What their preprocessing (``preprocess_dataset.py``) writes, and their
``datasets/crowd.py`` reads: ``OUT/<split>/<id>.jpg`` beside ``<id>.npy``, the
image resized by `pipeline.exports.new_size` (512..2048 by default).

- ``bayesian``: the ``.npy`` is float32 ``(N, 3)``: x, y and the mean distance to
  the 3 nearest other heads, measured after resizing (their ``find_dis``). Their
  loader clips that column to [4, 128] to size each head. With fewer than 4 heads
  their script fails; here the mean runs over the neighbours there are, and a lone
  head gets ``mean(H, W) / 4`` as a lone head's kernel does in our maps.
- ``dmcount``: the ``.npy`` is float32 ``(N, 2)`` (their loader subtracts a 2-vector).

Differences from their script, on purpose: points scale per axis (they scale
both by the short side's ratio, which leaves the other axis off by up to half a
pixel), and images are resized with PIL's bicubic filter (they use OpenCV's).
Their training loader asserts at least one head per image, so images with none
are written but would stop their training: they are counted in the summary.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from pipeline.atomic import write_bytes
from pipeline.exports import head_sizes
from pipeline.paths import contained


def write(item, out: Path, split: str, fmt: str) -> None:  # noqa: ANN001 - an exports.Item
    folder = contained(out, split, option="--split", write=True)
    folder.mkdir(parents=True, exist_ok=True)
    points = item.points.astype(np.float32)
    if fmt == "bayesian":
        dis = head_sizes(item.points, (item.image.height, item.image.width)).astype(np.float32)
        points = np.column_stack([points, dis]).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, points.reshape(-1, 3 if fmt == "bayesian" else 2), allow_pickle=False)
    item.save_jpeg(contained(folder, f"{item.image_id}.jpg", write=True))
    write_bytes(contained(folder, f"{item.image_id}.npy", write=True), buf.getvalue())


def finish(out: Path, fmt: str, written: list[tuple[str, str]]) -> None:
    """Nothing beyond the per-image files."""
