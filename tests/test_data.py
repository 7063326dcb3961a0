import numpy as np
import pytest
import torch

from pipeline.data import Crop, CrowdDataset, apply_crop, random_crop, sum_pool
from pipeline.density import density_map


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
        with pytest.raises(ValueError, match="multiples of 8"):
            random_crop(rng, (48, 64), size, flip=False)


def test_dataset_targets_sum_to_the_crops_density_and_samples_repeat_per_epoch(tiny_stores):
    ds = CrowdDataset(tiny_stores["train"], crop=(32, 32), flip=True, seed=5)
    a = ds[2]
    assert a["image"].shape == (3, 32, 32) and a["target"].shape == (1, 4, 4)
    assert torch.equal(ds[2]["image"], a["image"])  # same (seed, epoch, index), same sample
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["image"], a["image"])
    whole = CrowdDataset(tiny_stores["train"])
    s = whole[0]
    rec = whole.store[whole.ids[0]]
    assert s["image"].shape == (3, 48, 64) and s["target"].shape == (1, 6, 8)
    assert float(s["target"].sum()) == pytest.approx(float(rec.density.sum()), rel=1e-5)
    assert float(s["count"]) == rec.count
    assert abs(float(s["image"].mean())) < 3  # ImageNet-normalised


def test_crop_size_must_be_a_multiple_of_eight(tiny_stores):
    with pytest.raises(ValueError, match="multiples of 8"):
        CrowdDataset(tiny_stores["train"], crop=(30, 32))
