"""Counting zones: named polygons in image pixels, and how much of a density map falls in each.

A zone file is YAML or JSON::

    zones:
      - name: entrance
        polygon: [[0, 0], [320, 0], [320, 360], [0, 360]]   # x, y in image pixels
        threshold: 40                                       # optional: alert above this count
      - name: stage
        polygon: [[320, 0], [640, 0], [640, 360], [320, 360]]

A pixel belongs to a zone when its centre lies inside the polygon (even-odd
rule, half-open on edges), so zones that tile the image share no pixel and
their counts add up to the total. The model's output is 8x coarser than the
image: each output cell counts in a zone by the share of its 64 pixels there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field

from pipeline.geometry import STRIDE
from pipeline.live.itemfile import read_items
from pipeline.schema import Closed, Name, Number, Pair


@dataclass(frozen=True)
class Zone:
    name: str
    polygon: np.ndarray  # (K, 2) float64 x, y
    threshold: float | None = None


class ZoneItem(Closed):
    name: Name
    polygon: Annotated[list[Pair], Field(min_length=3)]  # x, y in image pixels
    threshold: Number | None = None


def load_zones(path: str | Path) -> list[Zone]:
    """Zones from a YAML or JSON file; a bad file is a `DataError` naming it and the problem."""
    items = read_items(path, "zones", "zone file", ZoneItem, "zone")
    return [Zone(z.name, np.asarray(z.polygon, dtype=np.float64), z.threshold) for z in items]


def polygon_mask(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W): pixels whose centre is inside `polygon` (even-odd rule).

    >>> polygon_mask(np.array([[0, 0], [2, 0], [2, 1], [0, 1]]), (2, 3)).astype(int).tolist()
    [[1, 1, 0], [0, 0, 0]]
    """
    h, w = shape
    ys = np.arange(h, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(w, dtype=np.float64)[None, :] + 0.5
    inside = np.zeros((h, w), dtype=bool)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        if y0 == y1:
            continue  # a horizontal edge never crosses a horizontal ray
        crosses = (y0 > ys) != (y1 > ys)  # (H, 1): rows this edge spans, half-open
        x_at = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xs < x_at)
    return inside


def cell_weights(zones: list[Zone], shape: tuple[int, int]) -> np.ndarray:
    """(Z, h, w): the share of each output cell's in-image pixels inside each zone, for an image of `shape`.

    Shares of in-image pixels, not of all 64: a border cell of a frame whose size
    is not a multiple of 8 still counts in full, so tiling zones add up to the total.
    """
    h, w = shape
    ch, cw = -(-h // STRIDE), -(-w // STRIDE)

    def pooled(mask: np.ndarray) -> np.ndarray:
        m = np.zeros((ch * STRIDE, cw * STRIDE))
        m[:h, :w] = mask
        return m.reshape(ch, STRIDE, cw, STRIDE).sum(axis=(1, 3))

    pixels = pooled(np.ones(shape))
    return np.stack([pooled(polygon_mask(z.polygon, shape)) / pixels for z in zones])


def zone_counts(density: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Count in each zone: the density weighted by each zone's cell shares."""
    h, w = density.shape[-2:]
    return np.einsum("zhw,hw->z", weights[:, :h, :w], density.astype(np.float64))
