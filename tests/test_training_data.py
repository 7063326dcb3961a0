import numpy as np
import pytest
import torch

from pipeline.density import density_map
from pipeline.errors import ConfigError
from pipeline.model import IMAGENET_MEAN, IMAGENET_STD, to_model_input
from pipeline.targets import sum_pool
from pipeline.training_data import Crop, EpochBatches, TrainingCrops, apply_crop, random_crop


def test_sum_pooling_keeps_the_count():
    rng = np.random.default_rng(0)
    d = rng.random((45, 67)).astype(np.float32)
    pooled = sum_pool(d)
    assert pooled.shape == (6, 9)
    assert pooled.sum() == pytest.approx(d.sum(dtype=np.float64), rel=1e-6)
    assert pooled[0, 0] == pytest.approx(d[:8, :8].sum(), rel=1e-6)


def test_crop_and_flip_move_image_density_and_points_together():
    h, w = 48, 64
    pts = np.array([[10.5, 5.5], [40.5, 30.5], [60.5, 44.5], [20.5, 20.5]])
    density = density_map(pts, (h, w), method="fixed", sigma=0.5)
    image = np.zeros((h, w, 3), np.uint8)
    for x, y in pts:
        image[int(y), int(x)] = 255  # the image marks the heads too
    expected = {False: {(32.5, 14.5), (12.5, 4.5)}, True: {(7.5, 14.5), (27.5, 4.5)}}
    for flip in (False, True):
        img, den, p = apply_crop(image, density, pts, Crop(top=16, left=8, height=32, width=40, flip=flip))
        assert img.shape == (32, 40, 3) and den.shape == (32, 40)
        assert {tuple(q) for q in p.tolist()} == expected[flip]
        marks = {(int(r), int(c)) for r, c in zip(*np.nonzero(img[..., 0] == 255), strict=True)}
        peaks = {(int(r), int(c)) for r, c in zip(*np.nonzero(den > 0.5), strict=True)}
        # flipping maps pixel column c to width - 1 - c and a point's x to width - x: same pixel
        heads = {(int(y), int(x)) for x, y in p}
        assert marks == peaks == heads


def test_crop_past_the_edge_is_zero_padded():
    image = np.full((20, 20, 3), 7, np.uint8)
    density = np.ones((20, 20), np.float32)
    img, den, _ = apply_crop(image, density, np.zeros((0, 2)), Crop(0, 0, 24, 32, False))
    assert img.shape == (24, 32, 3) and den.sum() == 400 and img[23, 31, 0] == 0


def test_random_crops_are_multiples_of_eight_and_inside():
    rng = np.random.default_rng(0)
    for _ in range(50):
        c = random_crop(rng, (48, 64), (32, 40), flip=True)
        assert 0 <= c.top <= 16 and 0 <= c.left <= 24
        assert (c.height, c.width) == (32, 40)
    for size in [(30, 40), (32, 36), (0, 8)]:  # the model's stride is 8: other sizes would misalign targets
        with pytest.raises(ConfigError, match="multiples of 8"):
            random_crop(rng, (48, 64), size, flip=False)


def test_dataset_targets_sum_to_the_crops_density_and_samples_repeat_per_epoch(tiny_stores):
    ds = TrainingCrops(tiny_stores["train"], crop=(32, 32), flip=True, seed=5)
    a = ds[2]
    assert a["image"].shape == (32, 32, 3) and a["image"].dtype == torch.uint8 and a["target"].shape == (1, 4, 4)
    assert torch.equal(ds[2]["image"], a["image"])  # same (seed, epoch, index), same sample
    assert torch.equal(ds[(1, 2)]["image"], ds[(1, 2)]["image"])
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["image"], a["image"])
    assert torch.equal(ds[2]["image"], ds[(1, 2)]["image"])  # an (epoch, index) key is that epoch's sample
    assert torch.equal(ds[(0, 2)]["image"], a["image"])
    whole = TrainingCrops(tiny_stores["train"])
    s = whole[0]
    rec = whole.store[whole.ids[0]]
    assert s["image"].shape == (48, 64, 3) and s["target"].shape == (1, 6, 8)
    assert float(s["target"].sum()) == pytest.approx(float(rec.density.sum()), rel=1e-5)
    assert float(s["count"]) == rec.count


def test_model_input_is_imagenet_normalisation_padded_to_the_stride():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 45, 67, 3), dtype=np.uint8)
    expected = ((images.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)
    x = to_model_input(torch.from_numpy(images), torch.device("cpu"))
    assert x.shape == (2, 3, 48, 72) and x.is_contiguous()
    # the same float32 arithmetic as numpy's, bit for bit (the committed metrics depend on it)
    assert np.array_equal(x[:, :, :45, :67].numpy(), expected)
    assert not x[:, :, 45:].any() and not x[:, :, :, 67:].any()  # zero padding, after normalising
    cl = to_model_input(torch.from_numpy(images), torch.device("cpu"), channels_last=True)
    assert cl.is_contiguous(memory_format=torch.channels_last) and torch.equal(cl, x)


def test_epoch_batches_split_each_global_batch_over_ranks_and_carry_the_epoch():
    one = EpochBatches(10, 4, seed=3)
    ranks = [EpochBatches(10, 4, seed=3, rank=r, world=2) for r in range(2)]
    for epoch in (0, 1):
        for s in (one, *ranks):
            s.set_epoch(epoch)
        whole = list(one)
        assert len(whole) == len(one) == 2 and all(len(b) == 4 for b in whole)  # only whole global batches
        assert {e for b in whole for e, _ in b} == {epoch}
        for b, *shares in zip(whole, *ranks, strict=True):
            assert sorted(sum(shares, [])) == sorted(b) and all(len(s) == 2 for s in shares)
    one.set_epoch(0)
    first = list(one)
    one.set_epoch(1)
    assert [i for b in first for _, i in b] != [i for b in one for _, i in b]


def test_crop_size_must_be_a_multiple_of_eight(tiny_stores):
    with pytest.raises(ConfigError, match="multiples of 8"):
        TrainingCrops(tiny_stores["train"], crop=(30, 32))


def test_same_shape_batches_are_runs_of_one_shape_yielded_as_soon_as_they_are_complete():
    from pipeline.runner import same_shape_batches

    shapes = [(2, 2), (2, 2), (2, 2), (3, 3), (2, 2), (2, 2)]
    assert [len(g) for g in same_shape_batches(shapes, 2, lambda s: s)] == [2, 1, 1, 2]
    assert [g[0] for g in same_shape_batches(shapes, 8, lambda s: s)] == [(2, 2), (3, 3), (2, 2)]
    seen = []

    def source():
        for i in range(10):
            seen.append(i)
            yield (1, 1)

    first = next(same_shape_batches(source(), 3, lambda s: s))
    assert len(first) == 3 and len(seen) == 3  # a full batch goes out before the next item is read
