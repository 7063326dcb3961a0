"""Head proposals for model-assisted annotation: the project's one decoder (`pipeline.decoder.decode`), in the image."""

from __future__ import annotations

import numpy as np

from pipeline.decoder import Heads, decode
from pipeline.geometry import STRIDE


def model_proposals(
    output: np.ndarray, shape: tuple[int, int], target: str, stride: int = STRIDE, relative: float | None = None
) -> Heads:
    """The heads a model's output proposes for an image of `shape` (H, W), as evaluation and `count --points`
    decode them, with each point kept inside the image (a cell centre of the padded border may lie past it).

    A proposal's score is the decoder's confidence: a FIDT peak's height, or the head mass of a density
    peak's 3x3-cell window; the page's threshold filters on it.
    """
    heads = decode(output, target, stride, relative)
    h, w = shape
    pts = heads.points
    inside = np.column_stack([np.clip(pts[:, 0], 0, w - 1e-3), np.clip(pts[:, 1], 0, h - 1e-3)]).reshape(-1, 2)
    return Heads(heads.count, inside, heads.scores)
