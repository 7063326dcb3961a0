"""A density store written out for other trainers' codebases (``headcount export --to F``).

People who train Bayesian Loss, DM-Count, P2PNet or C-3-Framework models keep
their trainer and want our ground truth in the layout its own preprocessing
writes. Each format is one module here with ``write(item, out, split, fmt)``
and ``finish(out, fmt, written)``; this module holds what they share: the images and points of a store,
resized the way those codebases resize (`new_size`), and the rule that an export
only ever replaces an export (`claim`).

Points always stay in the frame of the image written beside them: each axis is
scaled by new size / old size, so a head inside the image stays inside.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from pipeline.atomic import atomic_path, write_bytes
from pipeline.density import compute_density, head_sigmas
from pipeline.errors import ConfigError
from pipeline.image import encode, image_size
from pipeline.kernels import DensityParams
from pipeline.outputs import claim_folder
from pipeline.paths import contained
from pipeline.readers.layout import plain_id
from pipeline.sample import Sample
from pipeline.store import DensityStore, Record, read_split

FORMATS = {
    "bayesian": "pipeline.exports.bayesian",
    "dmcount": "pipeline.exports.bayesian",
    "p2pnet": "pipeline.exports.p2pnet",
    "c3f": "pipeline.exports.c3f",
}
# (min_size, max_size) of the codebases' own preprocessing; None keeps the image's size
DEFAULT_SIZES = {"bayesian": (512, 2048), "dmcount": (512, 2048), "p2pnet": (None, None), "c3f": (None, None)}
NEAREST = DensityParams(method="adaptive", k=3, beta=1.0)  # beta 1: the mean distance to the 3 nearest heads
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Item:
    """One image as an export writes it: `image` resized, `points` (N, 2) float64 in its frame.

    `density` gives the image's map at the written size: the store's own map when the
    size is unchanged, else one drawn afresh from the scaled points with the store's
    kernel parameters (a map is never resampled, so its sum stays the count).
    """

    image_id: str
    image: Image.Image
    points: np.ndarray
    source: Path
    record: Record  # the store's entry, read once
    store_params: dict  # the store's kernel parameters
    resized: bool  # not at the store's size: the map is drawn afresh
    as_file: bool  # exactly the image file's pixels: a JPEG is copied, not re-encoded

    def density(self) -> np.ndarray:
        if not self.resized:
            return self.record.density
        params = DensityParams(**{**self.store_params, "max_side": None})
        if params.method == "box":
            raise ConfigError("--min-size/--max-size", "a store made with method 'box' keeps no head sizes to redraw")
        return compute_density(self.points, (self.image.height, self.image.width), params).density

    def save_jpeg(self, path: Path) -> None:
        """The image as JPEG (what every one of these loaders globs for); an unchanged JPEG is copied byte for byte."""
        if self.as_file and self.source.suffix.lower() in (".jpg", ".jpeg"):
            with atomic_path(path) as tmp:
                shutil.copyfile(self.source, tmp)
            return
        write_bytes(path, encode(self.image, "JPEG", quality=JPEG_QUALITY))


def head_sizes(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Each head's size estimate where no box was annotated: the mean distance to its 3 nearest
    heads (fewer where fewer exist; a lone head gets a quarter of the image's mean side), as the
    adaptive kernels of our maps measure it."""
    return head_sigmas(np.asarray(points, np.float64).reshape(-1, 2), shape, NEAREST)


def new_size(h: int, w: int, min_size: int | None, max_size: int | None) -> tuple[int, int]:
    """``(H, W)`` after the Bayesian Loss / DM-Count preprocessing rule (their ``cal_new_size``).

    As in their code, both bounds apply to the *shorter* side: it is scaled up to
    `min_size` when shorter, or down to `max_size` when longer, keeping the aspect
    ratio (the other side rounded); otherwise the size is kept.

    >>> new_size(768, 1024, 512, 2048), new_size(300, 400, 512, 2048), new_size(3000, 4000, 512, 2048)
    ((768, 1024), (512, 683), (2048, 2731))
    """
    short = min(h, w)
    if min_size and short < min_size:
        side = min_size
    elif max_size and short > max_size:
        side = max_size
    else:
        return h, w
    r = side / short
    return (side, round(w * r)) if h < w else (round(h * r), side)


def items(store: DensityStore, min_size: int | None, max_size: int | None) -> Iterator[Item]:
    """Every image of `store` with its in-image points, resized by `new_size`."""
    for image_id in store:
        rec = store[image_id]
        path = store.image_path(image_id)
        plain_id(image_id, path)  # every file written stays inside the output folder
        points = np.asarray(rec.points, np.float64).reshape(-1, 2)
        h, w = rec.height, rec.width
        h2, w2 = new_size(h, w, min_size, max_size)
        image = Image.fromarray(store.image(image_id))
        resized = (h2, w2) != (h, w)
        if resized:
            image = image.resize((w2, h2), Image.BICUBIC)
            points = points * [w2 / w, h2 / h]
        as_file = not resized and image_size(path) == (h, w)
        yield Item(image_id, image, points, path, rec, store.params, resized, as_file)


@dataclass(frozen=True)
class Summary:
    images: dict[str, int]  # per written split
    heads: int
    empty: int  # images without a head (some trainers' loaders refuse them)
    out: Path


def export(
    store_path: str | Path,
    fmt: str,
    out: str | Path,
    *,
    split: str | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
) -> Summary:
    """Write the store at `store_path` as format `fmt` under `out`.

    The split folder is named `split` (default: the store's own split). With
    `val_fraction`, that share of images goes to ``val`` instead, chosen as
    ``train`` holds out its validation images (same ids for the same seed).
    `min_size`/`max_size` default to the codebase's own (`DEFAULT_SIZES`).
    """
    if fmt not in FORMATS:
        raise ConfigError("--to", f"unknown export {fmt!r}; choose from {', '.join(sorted(FORMATS))}")
    if not 0 <= val_fraction < 1:
        raise ConfigError("--val-fraction", f"must be in [0, 1), got {val_fraction}")
    default_min, default_max = DEFAULT_SIZES[fmt]
    min_size = default_min if min_size is None else (min_size or None)
    max_size = default_max if max_size is None else (max_size or None)
    if min_size and max_size and min_size > max_size:
        raise ConfigError("--min-size", f"{min_size} is larger than --max-size {max_size}")
    store = read_split(store_path)
    split = split or str(store.attrs["split"])
    export_split_name(split)
    held: set[str] = set()
    if val_fraction:
        from pipeline.train import split_ids

        held = set(split_ids(list(store), val_fraction, seed)[1])
    module = importlib.import_module(FORMATS[fmt])
    out = Path(out)
    written: list[tuple[str, str]] = []
    heads = empty = 0
    with claim_folder(out, fmt, split).writing():
        for item in tqdm(items(store, min_size, max_size), total=len(store), desc=f"export {fmt}", disable=None):
            where = "val" if item.image_id in held else split
            module.write(item, out, where, fmt)
            written.append((where, item.image_id))
            heads += len(item.points)
            empty += len(item.points) == 0
        module.finish(out, fmt, written)
    counts = {s: sum(1 for w, _ in written if w == s) for s in dict.fromkeys(w for w, _ in written)}
    return Summary(counts, heads, empty, out)


def export_split_name(split: str) -> str:
    """`split` if it can name an export's folder and list line: a plain name, not hidden (the folder's
    manifest is a dot file: a FileExistsError once), and without white space, which P2PNet's list files
    split on."""
    plain = split and not split.startswith(".") and not any(c.isspace() for c in split) and "\\" not in split
    if not plain or Path(split).name != split:
        raise ConfigError("--split", f"{split!r} cannot name an export's folder (a plain name without spaces)")
    return split


def export_nwpu_gt(samples: Iterable[Sample], out: str | Path, split: str, where: Path) -> tuple[Path, int, int]:
    """NWPU's localization ground truth of `samples` as ``out/<split>_gt_loc.txt``: (file, images, heads)."""
    from pipeline.exports.nwpu_loc import write_gt

    export_split_name(split)
    out = Path(out)
    target = contained(out, f"{split}_gt_loc.txt", option="--split", write=True)
    with claim_folder(out, "nwpu-loc", split).writing():
        images, heads = write_gt(samples, target, where)
    return target, images, heads
