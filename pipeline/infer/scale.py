"""The sizes the model takes: one call's bound (`check_model_size`), and counting at a scale (`count --scale
F`): the size an image or frame is resized to before the model.

A model counts heads of the size it learned; resizing a camera's frames brings
its heads there (and F^2 of the pixels costs F^2 of the time). Here, not in
`pipeline.geometry`, so that training and evaluation do not depend on it.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ConfigError, DataError
from pipeline.geometry import STRIDE

MAX_SCALE = 4.0  # upscaling helps far cameras; beyond 4x it only costs


def scaled_size(source: str | Path, shape: tuple[int, int], scale: float, *, live: bool = False) -> tuple[int, int]:
    """(H, W) of an image of `shape` resized by `scale`, or an error naming `source` when a side would
    be under one model cell: the model would count a few padded pixels, not the image. A `DataError`;
    for a `live` source a `ConfigError` of ``--scale``, which no reconnect can cure."""
    h, w = round(shape[0] * scale), round(shape[1] * scale)
    if min(h, w) < STRIDE:
        problem = f"at scale {scale:g} its {shape[1]}x{shape[0]} px would be {w}x{h}, under one {STRIDE} px model cell"
        if live:
            raise ConfigError("--scale", f"{source}: {problem}")
        raise DataError(source, problem)
    return h, w


MAX_MODEL_PIXELS = 4096 * 4096  # one model call: a full-width CSRNet needs about 1 KB of activations a pixel


def check_model_size(source: str | Path, height: int, width: int) -> None:
    """Refuse (`DataError` naming `source`) an image or frame too large for one model call.

    A 62 KB PNG that declares 8000x8000 used to end in PyTorch's or ONNX
    Runtime's out-of-memory traceback.
    """
    if height * width > MAX_MODEL_PIXELS:
        raise DataError(
            source,
            f"{width}x{height} is over the {MAX_MODEL_PIXELS / 1e6:.1f}-megapixel bound of one model call"
            " (resize or crop it)",
        )
