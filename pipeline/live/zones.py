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

import numpy as np
import yaml

from pipeline.errors import DataError
from pipeline.geometry import STRIDE


@dataclass(frozen=True)
class Zone:
    name: str
    polygon: np.ndarray  # (K, 2) float64 x, y
    threshold: float | None = None


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice (it would keep the last one silently)."""

    def construct_mapping(self, node, deep=False):  # noqa: ANN001, ANN201 - PyYAML's signature
        keys = [self.construct_object(k, deep=True) for k, _ in node.value]
        dup = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if dup is not None:
            raise yaml.constructor.ConstructorError(None, None, f"the key {dup!r} appears twice", node.start_mark)
        return super().construct_mapping(node, deep)


def is_coordinate(v: object) -> bool:
    """A plain number of sane size: no true/false, no text, no 400-digit integer."""
    return isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e9


def read_items(path: str | Path, key: str, what: str) -> list:
    """The non-empty list under `key` of a strict YAML or JSON file (zones, lines); a bad file is one
    `DataError` naming it, `what` saying what kind of file it should be."""
    path = Path(path)
    try:
        doc = yaml.load(path.read_text(), Loader=StrictLoader)  # noqa: S506 - a SafeLoader; JSON is YAML
    except FileNotFoundError:
        raise DataError(path, f"{what} not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(path, f"not a YAML or JSON {what} ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise DataError(path, f"not a {what}: nested too deeply") from None
    items = doc.get(key) if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise DataError(path, f"expected a non-empty list under {key!r}")
    return items


def item_name(path: Path, item: object, i: int, names: set[str], kind: str) -> str:
    """The `i`-th item's ``name``, required, text and not yet in `names` (which gains it)."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise DataError(path, f"{kind} {i + 1}: needs a 'name' (text)")
    name = item["name"]
    if name in names:
        raise DataError(path, f"{kind} name {name!r} is used twice")
    names.add(name)
    return name


def optional_number(path: Path, item: dict, key: str, where: str) -> float | None:
    """``item[key]`` as a float, None where absent; a `DataError` for anything but a plain number."""
    value = item.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) < 1e12):
        raise DataError(path, f"{where}: {key!r} must be a number, got {value!r}")
    return None if value is None else float(value)


def load_zones(path: str | Path) -> list[Zone]:
    """Zones from a YAML or JSON file; a bad file is a `DataError` naming it and the problem."""
    path = Path(path)
    items = read_items(path, "zones", "zone file")
    zones, names = [], set()
    for i, item in enumerate(items):
        name = item_name(path, item, i, names, "zone")
        raw = item.get("polygon")
        numbers = isinstance(raw, list) and all(
            isinstance(p, list) and len(p) == 2 and all(is_coordinate(v) for v in p) for p in raw
        )  # no true/false, no "12", no 400-digit integer, no [x] alone
        poly = np.asarray(raw, dtype=np.float64) if numbers else np.empty((0,))
        if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3 or not np.isfinite(poly).all():
            raise DataError(path, f"zone {name!r}: 'polygon' must be at least 3 finite [x, y] points")
        threshold = optional_number(path, item, "threshold", f"zone {name!r}")
        unknown = set(item) - {"name", "polygon", "threshold"}
        if unknown:
            raise DataError(path, f"zone {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
        zones.append(Zone(name, poly, threshold))
    return zones


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
