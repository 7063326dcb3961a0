"""The training loader: crops per second out of `TrainingCrops` through the DataLoader, as `train` runs it."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from pipeline.build import build_split
from pipeline.cache import decoded_cache
from pipeline.synth import SynthConfig, make_dataset
from pipeline.training_data import EpochBatches, TrainingCrops, make_loader


def make_synthetic_store(root: Path, images: int, shape: tuple[int, int], seed: int = 0) -> Path:
    """A store over `images` synthetic crowd JPEGs of `shape` (H, W): what the loader and training benches read."""
    h, w = shape
    make_dataset(root / "raw", SynthConfig(train=images, test=0, width=w, height=h, seed=seed), progress=False)
    out = root / "train.h5"
    build_split("shanghaitech", root / "raw", "train", out, progress=False)
    return out


def bench_loader(
    workers: int = 2,
    images: int = 64,
    shape: tuple[int, int] = (768, 1024),
    crop: tuple[int, int] = (384, 512),
    batch: int = 16,
    epochs: int = 2,
    cache_dir: str | Path | None = None,
) -> Iterator[dict[str, float]]:
    """Crops (`crop`, H x W) per second out of the training loader over images of `shape` (H, W),
    one dict per epoch (the first decodes, later ones are steady).

    The same path `train` runs: `TrainingCrops` over a store, the shared decoded
    cache, persistent workers, `EpochBatches`. Only the loader is timed: the
    crops are consumed as they arrive.
    """
    with tempfile.TemporaryDirectory(prefix="headcount-bench-") as tmp:
        store = make_synthetic_store(Path(tmp), images, shape)
        with decoded_cache(cache_dir) as cache:
            dataset = TrainingCrops(store, crop=crop, flip=True, cache=cache)
            sampler = EpochBatches(len(dataset), batch, seed=0)
            loader = make_loader(dataset, sampler, workers, torch.device("cpu"))
            for epoch in range(epochs):
                sampler.set_epoch(epoch)
                t, n = time.perf_counter(), 0
                for b in loader:
                    n += len(b["image"])
                seconds = time.perf_counter() - t
                yield {
                    "epoch": epoch + 1,
                    "img_per_s": n / seconds,
                    "images": n,
                    "seconds": seconds,
                    "workers": workers,
                }
