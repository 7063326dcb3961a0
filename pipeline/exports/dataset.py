"""Our ground truth for your own training code: `DensityDataset`, a torch Dataset over a density store.

Some people keep their trainer and want only the targets. This gives them the
store's exact maps (or head-count or FIDT maps) with crops, flips and the decode
cache of the training loader (`pipeline.training_data`), and the same determinism: a
sample is a pure function of ``(seed, epoch, index)``, also through a user
transform, whose global random state is seeded per sample and restored after.

A transform is albumentations-style: called as ``transform(image=HxWx3 uint8,
keypoints=[(x, y), ...])``, it returns a dict with ``image`` and ``keypoints``.
Targets are then made from the returned points: a density map is drawn afresh
with the store's own kernel rule (so a rescale also rescales the kernels, and the
sum stays the count), never warped.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pipeline.cache import DecodedCache
from pipeline.density import compute_density
from pipeline.errors import ConfigError
from pipeline.kernels import DensityParams
from pipeline.model import to_model_input
from pipeline.targets import TARGETS, target_map
from pipeline.training_data import TrainingCrops, apply_crop, random_crop


@contextlib.contextmanager
def _seeded(seed: int, epoch: int, index: int) -> Iterator[None]:
    """Global RNGs (random, numpy, torch) seeded for one sample, and put back as they were."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    s = int(np.random.default_rng([seed, epoch, index, 1]).integers(2**31))
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


class DensityDataset(Dataset):
    """Samples of a density store as float tensors for any model.

    Parameters
    ----------
    store : a split file written by ``headcount density`` or the DVC density stage
    crop : (h, w) random crops, multiples of `downsample` and of 8; None yields whole images
    target : "density" (the map, sum-pooled), "points" (heads per cell) or "fidt" (`pipeline.targets`)
    downsample : the target's cell size in pixels (8 for CSRNet's output)
    transform : albumentations-style callable on image and keypoints (see the module docstring)
    flip, seed, ids, cache : as for `pipeline.training_data.TrainingCrops`

    An item is a dict: ``image`` float32 (3, H, W) ImageNet-normalised, ``target``
    float32 (1, H/d, W/d), ``points`` float32 (N, 2), ``count`` and ``id``. Use
    `DensityDataset.collate` to batch (points differ in number per image).
    """

    def __init__(
        self,
        store: str | Path,
        *,
        crop: tuple[int, int] | None = None,
        target: str = "density",
        downsample: int = 8,
        transform: Callable | None = None,
        flip: bool = False,
        seed: int = 0,
        ids: list[str] | None = None,
        cache: DecodedCache | None = None,
    ) -> None:
        if target not in TARGETS:
            raise ConfigError("target", f"must be one of {', '.join(TARGETS)}, got {target!r}")
        if downsample < 1:
            raise ConfigError("downsample", f"must be at least 1, got {downsample}")
        if crop is not None and any(c % downsample for c in crop):
            raise ConfigError("crop", f"{crop} must be multiples of downsample {downsample}")
        self.base = TrainingCrops(store, crop=crop, flip=flip, seed=seed, ids=ids, cache=cache)
        self.target, self.downsample, self.transform = target, downsample, transform
        self.epoch = 0
        self._params = DensityParams(**{**self.base.store.params, "max_side": None})

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        b = self.base
        image_id = b.ids[index]
        image, density, points = b._load(image_id)
        if b.crop is not None:
            rng = np.random.default_rng([b.seed, epoch, index])  # the training loader's crops, exactly
            image, density, points = apply_crop(image, density, points, random_crop(rng, density.shape, b.crop, b.flip))
        if self.transform is not None:
            with _seeded(b.seed, epoch, index):
                out = self.transform(image=np.ascontiguousarray(image), keypoints=[tuple(p) for p in points])
            image = np.asarray(out["image"])
            points = np.asarray(out["keypoints"], np.float64).reshape(-1, 2)[:, :2]
            inside = (points[:, 0] >= 0) & (points[:, 0] < image.shape[1])
            points = points[inside & (points[:, 1] >= 0) & (points[:, 1] < image.shape[0])]
            density = None
        shape = image.shape[:2]
        if self.target == "density" and density is None:
            if self._params.method == "box":
                raise ConfigError("transform", "a store made with method 'box' keeps no head sizes to redraw")
            density = compute_density(points, shape, self._params).density
        t = target_map(self.target, density, points, shape, self.downsample)
        x = to_model_input(torch.from_numpy(np.array(image, np.uint8, copy=True))[None], torch.device("cpu"))[0]
        return {
            "image": x,
            "target": torch.from_numpy(t)[None],
            "points": torch.from_numpy(points.astype(np.float32)),
            "count": torch.tensor(float(len(points))),
            "id": image_id,
        }

    @staticmethod
    def collate(batch: list[dict]) -> dict:
        """Stack images, targets and counts; points stay a list (one (N, 2) tensor per image)."""
        return {
            "image": torch.stack([b["image"] for b in batch]),
            "target": torch.stack([b["target"] for b in batch]),
            "points": [b["points"] for b in batch],
            "count": torch.stack([b["count"] for b in batch]),
            "id": [b["id"] for b in batch],
        }
