"""A torch Dataset over the HDF5 density store.

Training samples are random crops (multiples of 8) with horizontal flips that
move image, density and points together. Targets are the density sum-pooled
8x8 to the model's 1/8 output, so a target sums to its crop's density sum.
Randomness comes from ``(seed, epoch, index)``, not from worker or process
state: any sharding over DataLoader workers or DDP ranks, and any resume,
sees the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pipeline.errors import DataError
from pipeline.image import load_image
from pipeline.model import STRIDE
from pipeline.store import read_split

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def sum_pool(density: np.ndarray, factor: int = STRIDE) -> np.ndarray:
    """Sum ``factor x factor`` blocks; pads bottom/right with zeros. The total is unchanged.

    >>> sum_pool(np.ones((9, 16), np.float32)).tolist()
    [[64.0, 64.0], [8.0, 8.0]]
    """
    h, w = density.shape
    ph, pw = -h % factor, -w % factor
    d = np.pad(density.astype(np.float64), ((0, ph), (0, pw)))
    return d.reshape(d.shape[0] // factor, factor, d.shape[1] // factor, factor).sum(axis=(1, 3)).astype(np.float32)


def normalize(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> ImageNet-normalised float tensor (3, H, W)."""
    x = (image.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def pad_to_stride(x: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """Zero-pad (…, H, W) bottom/right to multiples of `stride`."""
    h, w = x.shape[-2:]
    return torch.nn.functional.pad(x, (0, -w % stride, 0, -h % stride))


@dataclass(frozen=True)
class Crop:
    """Where a training crop comes from; `flip` mirrors it left-right."""

    top: int
    left: int
    height: int
    width: int
    flip: bool


def check_crop_size(size: tuple[int, int]) -> None:
    """Crops are positive multiples of the model's stride, or targets would not align with its output."""
    if size[0] % STRIDE or size[1] % STRIDE or min(size) <= 0:
        raise ValueError(f"crop size must be positive multiples of {STRIDE}, got {size}")


def random_crop(rng: np.random.Generator, shape: tuple[int, int], size: tuple[int, int], flip: bool) -> Crop:
    """A crop of `size` (multiples of 8) inside `shape`; smaller images are padded later."""
    check_crop_size(size)
    h, w = shape
    ch, cw = size
    top = int(rng.integers(0, max(h - ch, 0) + 1))
    left = int(rng.integers(0, max(w - cw, 0) + 1))
    return Crop(top, left, ch, cw, bool(flip and rng.random() < 0.5))


def apply_crop(image: np.ndarray, density: np.ndarray, points: np.ndarray, crop: Crop):
    """Cut and optionally mirror image, density and points together (zero-padding past the edge)."""
    out_img = np.zeros((crop.height, crop.width, 3), dtype=image.dtype)
    out_den = np.zeros((crop.height, crop.width), dtype=np.float32)
    part_img = image[crop.top : crop.top + crop.height, crop.left : crop.left + crop.width]
    part_den = density[crop.top : crop.top + crop.height, crop.left : crop.left + crop.width]
    out_img[: part_img.shape[0], : part_img.shape[1]] = part_img
    out_den[: part_den.shape[0], : part_den.shape[1]] = part_den
    pts = points - [crop.left, crop.top]
    h, w = part_den.shape
    pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)]
    if crop.flip:
        out_img, out_den = out_img[:, ::-1], out_den[:, ::-1]
        pts = np.column_stack([crop.width - pts[:, 0], pts[:, 1]])
    return np.ascontiguousarray(out_img), np.ascontiguousarray(out_den), pts


class CrowdDataset(Dataset):
    """Samples of one density store.

    Parameters
    ----------
    store : path to a split file written by `pipeline.store.write_split`
    crop : (h, w) multiples of 8 for training crops; None yields whole images
    flip : random horizontal flips (training)
    ids : restrict to these image ids (e.g. a validation hold-out)
    """

    def __init__(
        self,
        store: str | Path,
        *,
        crop: tuple[int, int] | None = None,
        flip: bool = False,
        seed: int = 0,
        ids: list[str] | None = None,
        cache: bool = True,
    ) -> None:
        self.store = read_split(store)
        if crop is not None:
            check_crop_size(crop)
        self.ids = list(self.store) if ids is None else list(ids)
        self.crop, self.flip, self.seed = crop, flip, seed
        self.epoch = 0
        self._cache: dict[str, tuple] | None = {} if cache else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids)

    def _load(self, image_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._cache is not None and image_id in self._cache:
            return self._cache[image_id]
        rec = self.store[image_id]
        image = load_image(self.store.image_path(image_id))
        if image.shape[:2] != rec.density.shape:
            raise DataError(
                self.store.image_path(image_id),
                f"image is {image.shape[1]}x{image.shape[0]} but its density map is "
                f"{rec.width}x{rec.height} (re-run the density stage)",
            )
        item = (image, rec.density, rec.points.astype(np.float64))
        if self._cache is not None:
            self._cache[image_id] = item
        return item

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        image_id = self.ids[index]
        image, density, points = self._load(image_id)
        if self.crop is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, density, points = apply_crop(
                image, density, points, random_crop(rng, density.shape, self.crop, self.flip)
            )
        return {
            "image": pad_to_stride(normalize(image)),
            "target": torch.from_numpy(sum_pool(density))[None],
            "count": torch.tensor(float(len(points))),
            "id": image_id,
        }
