"""The model's grid, without torch: what zones, proposals, metrics and overlays need to know of it.

Every shape in the library is ``(H, W)``; ``WxH`` text is parsed only at the command line.
"""

from __future__ import annotations

STRIDE = 8  # CSRNet's three 2x2 max-pools: one density cell covers 8x8 pixels
OUTPUT_STRIDES = (8, 4, 2)  # model.output_stride: CSRNet's own, or a localization decoder's (pipeline.model)


def cells(shape: tuple[int, int], stride: int = STRIDE) -> tuple[int, int]:
    """The (H, W) of the model's output for an image of `shape`: the image is padded up to the stride."""
    return -(-shape[0] // stride), -(-shape[1] // stride)
