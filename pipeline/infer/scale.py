"""Counting at a scale (`count --scale F`): the size an image or frame is resized to before the model.

A model counts heads of the size it learned; resizing a camera's frames brings
its heads there (and F^2 of the pixels costs F^2 of the time). Here, not in
`pipeline.geometry`, so that training and evaluation do not depend on it.
"""

from __future__ import annotations

from pipeline.geometry import STRIDE

MAX_SCALE = 4.0  # upscaling helps far cameras; beyond 4x it only costs


def scaled_size(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """(H, W) of an image of `shape` resized by `scale`: at least one output cell."""
    return max(STRIDE, round(shape[0] * scale)), max(STRIDE, round(shape[1] * scale))
