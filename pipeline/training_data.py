"""A torch Dataset over the HDF5 density store.

Training samples are random crops (multiples of 8) with horizontal flips that
move image, density and points together. Targets are at the model's 1/8 output
(`pipeline.targets`): the density sum-pooled 8x8, so a target sums to its crop's
density sum, or the FIDT map of the crop's heads.
Randomness comes from ``(seed, epoch, index)``, not from worker or process
state: any sharding over DataLoader workers or DDP ranks, and any resume,
sees the same samples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pipeline.cache import DecodedCache, file_identity
from pipeline.config.train import check_crop
from pipeline.errors import DataError
from pipeline.geometry import STRIDE
from pipeline.store import read_split
from pipeline.targets import target_map


@dataclass(frozen=True)
class Crop:
    """Where a training crop comes from; `flip` mirrors it left-right."""

    top: int
    left: int
    height: int
    width: int
    flip: bool


def random_crop(rng: np.random.Generator, shape: tuple[int, int], size: tuple[int, int], flip: bool) -> Crop:
    """A crop of `size` (multiples of 8) inside `shape`; smaller images are padded later."""
    check_crop(size)
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


class TrainingCrops(Dataset):
    """Samples of one density store, as uint8 images: normalising is the model side's work
    (`to_model_input`), so it runs on the GPU and a loader worker ships 4x fewer bytes.

    Parameters
    ----------
    store : path to a split file written by `pipeline.store.write_split`
    crop : (h, w) multiples of 8 for training crops; None yields whole images
    flip : random horizontal flips (training)
    ids : restrict to these image ids (e.g. a validation hold-out)
    cache : where decoded images are shared between processes (`pipeline.cache`); None decodes per access
    target : "density" or "fidt" (`pipeline.targets`)
    stride : the target's cell size in image pixels: the model's output stride

    An item is looked up by index, or by ``(epoch, index)`` (how `EpochBatches`
    asks persistent workers, whose copy of `epoch` would be stale).
    """

    def __init__(
        self,
        store: str | Path,
        *,
        crop: tuple[int, int] | None = None,
        flip: bool = False,
        seed: int | tuple[int, ...] = 0,
        ids: list[str] | None = None,
        cache: DecodedCache | None = None,
        target: str = "density",
        stride: int = STRIDE,
    ) -> None:
        self.store = read_split(store)
        self.target, self.stride = target, stride
        if crop is not None:
            check_crop(crop)
        self.ids = list(self.store) if ids is None else list(ids)
        self.crop, self.flip, self.seed = crop, flip, seed
        self.epoch = 0
        self.cache = cache
        self._store_identity = file_identity(self.store.path) if cache is not None else ""
        self._paths: dict[str, Path] = {}  # image paths, looked up once per process

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids)

    def _image_path(self, image_id: str) -> Path:
        if image_id not in self._paths:
            self._paths[image_id] = self.store.image_path(image_id)
        return self._paths[image_id]

    def _decode(self, image_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rec = self.store[image_id]
        return self.store.image(image_id), rec.density, rec.points.astype(np.float64)

    def _load(self, image_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.cache is None:
            return self._decode(image_id)
        path = self._image_path(image_id)
        try:
            key = f"{self._store_identity}|{image_id}|{file_identity(path)}"
        except FileNotFoundError:
            raise DataError(path, "image not found (moved since the density stage?)") from None
        return self.cache.get(key, lambda: self._decode(image_id), parts=3)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor | str]:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        image_id = self.ids[index]
        image, density, points = self._load(image_id)
        if self.crop is not None:
            seed = self.seed if isinstance(self.seed, tuple) else (self.seed,)
            rng = np.random.default_rng([*seed, epoch, index])
            image, density, points = apply_crop(
                image, density, points, random_crop(rng, density.shape, self.crop, self.flip)
            )
        return {
            "image": torch.from_numpy(np.array(image, copy=True)),
            "target": torch.from_numpy(target_map(self.target, density, points, density.shape, self.stride))[None],
            "count": torch.tensor(float(len(points))),
            "id": image_id,
        }


class StoreUnion(Dataset):
    """Several stores' `TrainingCrops`s as one: index i is the part's index i minus the sizes before it.

    Why: a model for real photos learns from more than one dataset (dense and
    sparse crowds); the batches mix them, and each part keeps its own crops.
    """

    def __init__(self, parts: Sequence[TrainingCrops]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])

    def set_epoch(self, epoch: int) -> None:
        for part in self.parts:
            part.set_epoch(epoch)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor | str]:
        epoch, index = key if isinstance(key, tuple) else (self.parts[0].epoch, key)
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = int(np.searchsorted(self.starts, index, side="right")) - 1
        return self.parts[k][(epoch, index - int(self.starts[k]))]


class EpochBatches(Sampler[list[tuple[int, int]]]):
    """One epoch's batches as ``(epoch, index)`` keys: this rank's share of each global batch.

    The order is a pure function of ``(seed, epoch)`` and only whole global batches
    are used, so ranks, workers and resumed runs see the same samples. The epoch
    travels inside the keys because persistent workers keep their own copy of the dataset.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        for b in range(0, self.n - self.batch_size + 1, self.batch_size):
            yield [(self.epoch, int(i)) for i in order[b : b + self.batch_size][self.rank :: self.world]]


def make_loader(
    dataset: TrainingCrops | StoreUnion, sampler: EpochBatches, workers: int, device: torch.device
) -> DataLoader:
    """One loader for the whole run: persistent workers keep their warm state between epochs,
    and pinned memory lets the copy to a GPU overlap the next batch."""
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers > 0 else None,
    )
