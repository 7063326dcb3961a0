"""The decoded-image cache: each image decoded once, shared by loader workers, never stale."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

import pipeline.image as image_mod
from pipeline.cache import DecodedCache, decoded_cache
from pipeline.training_data import EpochBatches, TrainingCrops, make_loader

CPU = torch.device("cpu")


def _epoch(dataset: TrainingCrops, workers: int, epoch: int = 0) -> list[dict]:
    sampler = EpochBatches(len(dataset), 2, seed=0)
    sampler.set_epoch(epoch)
    return list(make_loader(dataset, sampler, workers, CPU))


def test_workers_share_one_decode_per_image_and_serve_the_same_samples(tiny_stores, tmp_path, monkeypatch):
    plain = TrainingCrops(tiny_stores["train"], crop=(32, 32), flip=True)
    cached = TrainingCrops(tiny_stores["train"], crop=(32, 32), flip=True, cache=DecodedCache(tmp_path))
    first = _epoch(cached, workers=2)
    assert len(list(tmp_path.glob("*.npy"))) == 3 * len(cached)  # image, density, points: once per image

    def no_decoding(path):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(image_mod, "load_image", no_decoding)  # forked workers inherit the patch
    again = _epoch(cached, workers=2, epoch=0)
    later = _epoch(cached, workers=2, epoch=1)
    monkeypatch.undo()
    reference = _epoch(plain, workers=0, epoch=1)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["target"], b["target"])
    for a, b in zip(later, reference, strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["target"], b["target"])
        assert torch.equal(a["count"], b["count"])


def test_an_image_replaced_after_caching_is_decoded_again(tiny_stores, tmp_path):
    import shutil

    from pipeline.build import build_split

    raw = tmp_path / "raw"
    shutil.copytree(tiny_stores["train"].parent / "raw", raw)
    store = tmp_path / "train.h5"
    build_split("shanghaitech", raw, "train", store, progress=False)
    with decoded_cache(tmp_path / "cache") as cache:
        ds = TrainingCrops(store, cache=cache)
        before = ds[0]["image"].numpy()
        path = ds.store.image_path(ds.ids[0])
        Image.fromarray(np.full_like(before, 7)).save(path, format="JPEG", quality=100)
        os.utime(path, ns=(1, 1))  # a copy keeping an old mtime: the size still tells
        after = TrainingCrops(store, cache=cache)[0]["image"].numpy()
    assert not np.array_equal(before, after) and np.abs(after.astype(int) - 7).max() <= 2


def test_the_temporary_cache_is_removed_when_the_run_ends(tiny_stores):
    with decoded_cache(None) as cache:
        TrainingCrops(tiny_stores["train"], cache=cache)[0]
        assert any(cache.root.iterdir())
    assert not cache.root.exists()


def test_a_kept_cache_folder_is_left_in_place(tmp_path):
    with decoded_cache(tmp_path / "kept") as cache:
        cache.get("k", lambda: (np.arange(3),), parts=1)
    assert (tmp_path / "kept").is_dir()
    with decoded_cache(tmp_path / "kept") as cache:
        (got,) = cache.get("k", lambda: pytest.fail("rebuilt a cached entry"), parts=1)
    assert got.tolist() == [0, 1, 2]
