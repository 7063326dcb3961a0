"""The HDF5 density store: one file per dataset split (docs/architecture.md, "The density store").

Maps are gzip+shuffle compressed in 256x256 chunks. Compression is the slow
part of writing, so `encode_density` can run in worker processes and the single
writer only copies the finished chunks in (``write_direct_chunk``).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from pipeline import __version__, strictjson
from pipeline.atomic import atomic_path
from pipeline.errors import DataError
from pipeline.outputs import refuse_foreign
from pipeline.paths import contained

FORMAT = "headcount-density"
FORMAT_VERSION = 1  # stores that keep maps; stores that keep head kernels (encoding "heads") are version 2
HEADS_VERSION = 2
CHUNK = 256
GZIP_LEVEL = 1  # level 4+ saves <1% here at 20% more time


@dataclass(frozen=True)
class EncodedDensity:
    """A float32 map already split into shuffled, deflated HDF5 chunks."""

    shape: tuple[int, int]
    chunks: tuple[int, int]
    blobs: tuple[tuple[tuple[int, int], bytes], ...]


@dataclass(frozen=True)
class HeadKernels:
    """A map kept as what draws it: head pixels ``(col, row)`` and their float64 sigmas.

    Why: a map is mostly the tails of Gaussians, which gzip barely shrinks
    (1.8-2.9 MB per megapixel); the kernels take bytes per head, and
    `pipeline.density.render` draws the identical map in milliseconds.
    """

    heads: np.ndarray
    sigma: np.ndarray
    renormalize: bool


@dataclass(frozen=True)
class Record:
    """One image's entry in the store."""

    image_id: str
    image: str
    height: int
    width: int
    density: np.ndarray | EncodedDensity | HeadKernels
    points: np.ndarray
    sigma: np.ndarray
    count: int
    dropped: int


def chunk_shape(shape: tuple[int, int]) -> tuple[int, int]:
    return (min(shape[0], CHUNK), min(shape[1], CHUNK))


def encode_density(density: np.ndarray) -> EncodedDensity:
    """Compress a map exactly as HDF5's shuffle+deflate filters would."""
    density = np.ascontiguousarray(density, dtype=np.float32)
    h, w = density.shape
    ch, cw = chunk_shape((h, w))
    blobs = []
    for y in range(0, h, ch):
        for x in range(0, w, cw):
            block = np.zeros((ch, cw), dtype=np.float32)  # edge chunks are stored padded
            part = density[y : y + ch, x : x + cw]
            block[: part.shape[0], : part.shape[1]] = part
            shuffled = block.view(np.uint8).reshape(-1, 4).T.tobytes()
            blobs.append(((y, x), zlib.compress(shuffled, GZIP_LEVEL)))
    return EncodedDensity((h, w), (ch, cw), tuple(blobs))


def _write_record(images: h5py.Group, rec: Record) -> None:
    g = images.create_group(rec.image_id)
    dens = rec.density
    if isinstance(dens, HeadKernels):
        g.create_dataset("heads", data=np.asarray(dens.heads, dtype=np.int32).reshape(-1, 2))
        g.create_dataset("kernel_sigma", data=np.asarray(dens.sigma, dtype=np.float64).reshape(-1))
        _write_common(g, rec)
        return
    shape = dens.shape if isinstance(dens, EncodedDensity) else tuple(dens.shape)
    if shape != (rec.height, rec.width):
        raise DataError(None, f"{rec.image_id}: density shape {shape} != image {rec.height}x{rec.width}")
    ds = g.create_dataset(
        "density",
        shape=shape,
        dtype=np.float32,
        chunks=chunk_shape(shape),
        compression="gzip",
        compression_opts=GZIP_LEVEL,
        shuffle=True,
    )
    if isinstance(dens, EncodedDensity):
        for offset, blob in dens.blobs:
            ds.id.write_direct_chunk(offset, blob)
    else:
        ds[...] = dens
    _write_common(g, rec)


def _write_common(g: h5py.Group, rec: Record) -> None:
    g.create_dataset("points", data=np.asarray(rec.points, dtype=np.float32).reshape(-1, 2))
    g.create_dataset("sigma", data=np.asarray(rec.sigma, dtype=np.float32).reshape(-1))
    g.attrs.update(image=rec.image, height=rec.height, width=rec.width, count=rec.count, dropped=rec.dropped)


def write_split(
    path: str | Path,
    records: Iterable[Record],
    *,
    dataset: str,
    split: str,
    source_root: str | Path,
    params: Mapping[str, object],
) -> int:
    """Write all `records` to `path` atomically; return how many were written.

    Nothing appears at `path` until every record is in: an error or Ctrl-C
    leaves the previous file (or none) and no temp file.
    """
    refuse_foreign(path, is_store, "a headcount density store")
    n = 0
    heads = params.get("encoding") == "heads"
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as f:
        f.attrs.update(
            format=FORMAT,
            format_version=HEADS_VERSION if heads else FORMAT_VERSION,
            params=strictjson.dumps(dict(params), sort_keys=True),
            dataset=dataset,
            split=split,
            source_root=str(source_root),
            created_by=f"headcount {__version__}",
        )
        images = f.create_group("images", track_order=True)
        for rec in records:
            _write_record(images, rec)
            n += 1
    return n


def is_store(path: str | Path) -> bool:
    """Whether `path` is a headcount density store (of any version)."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except (OSError, ValueError):
        return False


class DensityStore(Mapping[str, Record]):
    """Read access to a split file: a mapping image_id -> `Record`.

    The file is opened per access, so a store can be shared with DataLoader
    worker processes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with h5py.File(self.path, "r") as f:
                attrs = dict(f.attrs)
                self._ids = list(f["images"].keys()) if "images" in f else None
        except FileNotFoundError:
            raise DataError(self.path, "density store not found") from None
        except OSError as exc:
            raise DataError(self.path, f"not a readable HDF5 file ({exc})") from None
        if attrs.get("format") != FORMAT or self._ids is None:
            raise DataError(self.path, "not a headcount density store (no format='headcount-density')")
        if int(attrs.get("format_version", -1)) not in (FORMAT_VERSION, HEADS_VERSION):
            raise DataError(self.path, f"unsupported store version {attrs.get('format_version')}")
        self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in attrs.items()}
        missing = [k for k in ("params", "dataset", "split", "source_root") if not isinstance(self.attrs.get(k), str)]
        if missing:
            raise DataError(self.path, f"damaged store: attribute(s) {', '.join(missing)} missing or not text")
        self.params = strictjson.loads(self.attrs["params"], f"{self.path} (attribute 'params')")
        if not isinstance(self.params, dict):
            raise DataError(self.path, "damaged store: attribute 'params' is not a JSON object")

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __getitem__(self, image_id: str) -> Record:
        with h5py.File(self.path, "r") as f:
            try:
                g = f["images"][image_id]
            except KeyError:
                raise KeyError(image_id) from None
            try:
                a = g.attrs
                rec = Record(
                    image_id=image_id,
                    image=str(a["image"]),
                    height=int(a["height"]),
                    width=int(a["width"]),
                    density=g["density"][...] if "density" in g else None,
                    points=g["points"][...],
                    sigma=g["sigma"][...],
                    count=int(a["count"]),
                    dropped=int(a["dropped"]),
                )
                heads = None if rec.density is not None else self._heads(g)
            except (KeyError, OSError, TypeError, ValueError) as exc:  # h5py: a missing key, a bad chunk, ...
                raise DataError(self.path, f"damaged entry for image {image_id!r} ({exc})") from None
        if heads is not None:  # rendered outside the try: a bug in the renderer is not a damaged file
            rec = dataclasses.replace(rec, density=self._render(*heads))
        if rec.density.shape != (rec.height, rec.width):
            raise DataError(self.path, f"damaged entry for image {image_id!r} (density shape != height x width)")
        return rec

    def sizes(self, ids: Iterable[str] | None = None) -> dict[str, tuple[int, int]]:
        """(height, width) of each image (all, or `ids`), from the entries' attributes in one open."""
        with h5py.File(self.path, "r") as f:
            images = f["images"]
            try:
                return {i: (int(images[i].attrs["height"]), int(images[i].attrs["width"])) for i in (ids or self._ids)}
            except (KeyError, OSError, TypeError, ValueError) as exc:
                raise DataError(self.path, f"damaged entry ({exc})") from None

    def _render(self, heads: np.ndarray, sigma: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The map of a heads-encoded entry, drawn as the density stage drew it."""
        from pipeline.density import render

        return render(heads, sigma, shape, self.params.get("border") == "renormalize")

    @staticmethod
    def _heads(g: h5py.Group) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """A heads-encoded entry's kernels, as read from the file."""
        return g["heads"][...], g["kernel_sigma"][...], (int(g.attrs["height"]), int(g.attrs["width"]))

    @property
    def source_root(self) -> Path:
        """The dataset root; a relative ``source_root`` is relative to the store's folder."""
        root = Path(self.attrs["source_root"])
        # not contained: a store names its dataset wherever the dataset lives; its images are contained in it
        return root if root.is_absolute() else self.path.parent.joinpath(root).resolve()

    def image(self, image_id: str) -> np.ndarray:
        """The image behind `image_id` in its map's frame, uint8 (H, W, 3).

        A store made with ``density.max_side`` holds maps of large images at a
        smaller size: the image is resized to match (Lanczos), so image, map and
        points line up. Any other size mismatch means the image changed since the
        density stage: a `DataError` naming it.
        """
        from PIL import Image

        from pipeline.image import load_image

        a = self._attrs(image_id)  # one open of the store for the path and the map's size
        path = self._image_path(image_id, a)
        h, w = int(a["height"]), int(a["width"])
        image = load_image(path)
        if image.shape[:2] == (h, w):
            return image
        if self.params.get("max_side") and max(h, w) == self.params["max_side"]:
            return np.asarray(Image.fromarray(image).resize((w, h), Image.LANCZOS))
        raise DataError(
            path,
            f"image is {image.shape[1]}x{image.shape[0]} but its density map is {w}x{h} (re-run the density stage)",
        )

    def image_path(self, image_id: str) -> Path:
        """Path of the image behind `image_id`."""
        return self._image_path(image_id, self._attrs(image_id))

    def _attrs(self, image_id: str) -> dict:
        with h5py.File(self.path, "r") as f:
            return dict(f["images"][image_id].attrs)

    def _image_path(self, image_id: str, attrs: dict) -> Path:
        if "image" not in attrs:
            raise DataError(self.path, f"damaged entry for image {image_id!r} (no 'image' attribute)")
        return contained(self.source_root, str(attrs["image"]), named_in=self.path)


def read_split(path: str | Path) -> DensityStore:
    """Open a split file written by `write_split`."""
    return DensityStore(path)
