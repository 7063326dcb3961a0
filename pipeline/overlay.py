"""Density pictures: the one colouring (inferno, square-root levels) behind `count --heatmap`, the
report's example overlays and the annotation page's preview."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.geometry import STRIDE

# anchors of matplotlib's "inferno": dark for empty, bright for dense
INFERNO = np.array([[0, 0, 4], [66, 10, 104], [147, 38, 103], [221, 81, 58], [252, 165, 10], [252, 255, 164]])
LEVELS = np.arange(256) / 255


def colorize(values: np.ndarray) -> np.ndarray:
    """Map [0, 1] to RGB uint8 through the inferno anchors."""
    x = np.clip(values, 0, 1) * (len(INFERNO) - 1)
    grid = np.arange(len(INFERNO))
    return np.stack([np.interp(x, grid, INFERNO[:, c]) for c in range(3)], axis=-1).astype(np.uint8)


PALETTE = colorize(LEVELS)  # the colour of each of the 256 levels of `translucent`


def levels(density: np.ndarray, percentile: float = 100.0) -> np.ndarray:
    """A density as display levels in [0, 1]: 1 at `percentile` of its non-empty pixels, square-rooted.

    The square root keeps sparse heads visible next to dense clusters; a
    percentile under 100 keeps one narrow kernel from leaving the rest dark.
    """
    d = np.clip(np.asarray(density, np.float64), 0, None)
    positive = d[d > 0]
    ref = float(np.percentile(positive, percentile)) if positive.size else 0.0
    return np.sqrt(np.clip(d / ref, 0, 1)) if ref > 0 else np.zeros_like(d)


def blend(image: np.ndarray, density: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """The density's colours over `image` (uint8 RGB); a 1/8-resolution map is upsampled to the image."""
    h, w = image.shape[:2]
    heat = colorize(levels(density))
    if heat.shape[:2] != (h, w):  # a model's output: one cell per STRIDE x STRIDE pixels
        size = (heat.shape[1] * STRIDE, heat.shape[0] * STRIDE)
        heat = np.asarray(Image.fromarray(heat).resize(size, Image.BILINEAR))[:h, :w]
    return (image.astype(np.float32) * (1 - alpha) + heat.astype(np.float32) * alpha).astype(np.uint8)


def heatmap(image: np.ndarray, density: np.ndarray, count: float, alpha: float = 0.55) -> Image.Image:
    """The density over the image with the count written on it (`count --heatmap`, overlay videos)."""
    out = Image.fromarray(blend(image, density, alpha))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(12, image.shape[0] // 16))
    text = f"count {count:.1f}"
    margin = STRIDE
    x0, y0, x1, y1 = draw.textbbox((margin, margin), text, font=font)
    draw.rectangle([x0 - 4, y0 - 4, x1 + 4, y1 + 4], fill=(0, 0, 0))
    draw.text((margin, margin), text, fill=(255, 255, 255), font=font)
    return out


def translucent(density: np.ndarray, percentile: float = 99.0) -> Image.Image:
    """The density alone as a palette image, transparent where empty, to lay over a picture on screen.

    Colour and opacity follow one level, so it is a 256-entry palette with an
    alpha per entry: one byte a pixel, several times faster and smaller to
    encode than RGBA, with the same pixels.
    """
    img = Image.fromarray(np.rint(levels(density, percentile) * 255).astype(np.uint8), "P")
    img.putpalette(PALETTE.tobytes())
    img.info["transparency"] = (np.clip(LEVELS * 2, 0, 1) * 200).astype(np.uint8).tobytes()
    return img
