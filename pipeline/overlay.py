"""Density overlays: the inferno colour map, and a density drawn over its image with the count."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# anchors of matplotlib's "inferno": dark for empty, bright for dense
INFERNO = np.array([[0, 0, 4], [66, 10, 104], [147, 38, 103], [221, 81, 58], [252, 165, 10], [252, 255, 164]])


def colorize(values: np.ndarray) -> np.ndarray:
    """Map [0, 1] to RGB uint8 through the inferno anchors."""
    x = np.clip(values, 0, 1) * (len(INFERNO) - 1)
    grid = np.arange(len(INFERNO))
    return np.stack([np.interp(x, grid, INFERNO[:, c]) for c in range(3)], axis=-1).astype(np.uint8)


def heatmap(image: np.ndarray, density: np.ndarray, count: float, alpha: float = 0.55) -> Image.Image:
    """The density over the image (inferno colours) with the count written on it."""
    h, w = image.shape[:2]
    d = np.clip(density, 0, None)
    d = d / d.max() if d.max() > 0 else d
    up = np.asarray(Image.fromarray(colorize(d)).resize((d.shape[1] * 8, d.shape[0] * 8), Image.BILINEAR))[:h, :w]
    blend = (image.astype(np.float32) * (1 - alpha) + up.astype(np.float32) * alpha).astype(np.uint8)
    out = Image.fromarray(blend)
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(12, h // 16))
    text = f"count {count:.1f}"
    x0, y0, x1, y1 = draw.textbbox((8, 8), text, font=font)
    draw.rectangle([x0 - 4, y0 - 4, x1 + 4, y1 + 4], fill=(0, 0, 0))
    draw.text((8, 8), text, fill=(255, 255, 255), font=font)
    return out
