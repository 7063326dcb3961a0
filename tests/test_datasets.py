"""`pipeline.exports.dataset.DensityDataset`: targets equal to the store's, the training loader's crops,
deterministic user transforms, and the README's ten-line example run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.density import compute_density
from pipeline.errors import ConfigError
from pipeline.exports.dataset import DensityDataset
from pipeline.kernels import DensityParams
from pipeline.store import read_split
from pipeline.targets import fidt_map, head_count_map
from pipeline.training_data import TrainingCrops

README = Path(__file__).resolve().parents[1] / "README.md"


def test_density_targets_are_the_store_maps_sum_pooled_on_the_training_loaders_crops(tiny_stores):
    ds = DensityDataset(tiny_stores["train"], crop=(32, 40), flip=True, seed=7)
    ref = TrainingCrops(tiny_stores["train"], crop=(32, 40), flip=True, seed=7)
    for epoch in (0, 3):
        ds.set_epoch(epoch)
        ref.set_epoch(epoch)
        for i in range(len(ds)):
            a, b = ds[i], ref[i]
            assert torch.equal(a["target"], b["target"]) and a["count"] == b["count"]
            assert a["image"].shape == (3, 32, 40) and a["image"].dtype == torch.float32
            assert len(a["points"]) == int(a["count"])


def test_whole_image_targets_sum_to_the_store_density(tiny_stores):
    store = read_split(tiny_stores["test"])
    ds = DensityDataset(tiny_stores["test"])
    for i, image_id in enumerate(ds.base.ids):
        item = ds[i]
        assert item["target"].shape == (1, 6, 8)  # 48x64 / 8
        assert item["target"].sum().item() == pytest.approx(float(store[image_id].density.sum()), rel=1e-5)
        np.testing.assert_array_equal(item["points"].numpy(), store[image_id].points)


def test_head_count_and_fidt_targets_by_hand():
    pts = np.array([[3.0, 2.0], [4.5, 2.5], [17.0, 9.0]])
    counts = head_count_map(pts, (12, 20), 8)
    assert counts.shape == (2, 3) and counts[0, 0] == 2 and counts[1, 2] == 1 and counts.sum() == 3
    f = fidt_map(pts, (12, 20), 1)
    assert f.shape == (12, 20) and f[2, 3] == 1.0 and f[9, 17] == 1.0  # a head's own pixel: 1 / C
    # one pixel right of (17, 9) is P = 1 away: 1 / (1 ** (0.02 + 0.75) + 1)
    assert f[9, 18] == pytest.approx(0.5) and f[0, 19] == pytest.approx(
        1 / (np.hypot(2, 9) ** (0.02 * np.hypot(2, 9) + 0.75) + 1)
    )
    assert fidt_map(np.zeros((0, 2)), (5, 5)).max() == 0.0


def hflip(image, keypoints):
    """An albumentations-style transform with its own random draw (numpy's global state)."""
    w = image.shape[1]
    if np.random.random() < 0.5:
        return {"image": image[:, ::-1], "keypoints": [(w - x, y) for x, y in keypoints], "flipped": True}
    return {"image": image, "keypoints": keypoints, "flipped": False}


def test_a_user_transform_moves_points_redraws_the_density_and_is_deterministic(tiny_stores):
    ds = DensityDataset(tiny_stores["train"], transform=hflip, seed=1)
    store = read_split(tiny_stores["train"])
    params = DensityParams(**{**store.params, "max_side": None})
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    flipped = 0
    for i, image_id in enumerate(ds.base.ids):
        a, b = ds[i], ds[i]
        assert torch.equal(a["points"], b["points"]) and torch.equal(a["target"], b["target"])  # same draw
        rec = store[image_id]
        mirrored = np.column_stack([rec.width - rec.points[:, 0], rec.points[:, 1]])
        is_flipped = not np.array_equal(a["points"].numpy(), rec.points)
        flipped += is_flipped
        expected = mirrored if is_flipped else rec.points
        np.testing.assert_allclose(a["points"].numpy(), expected, rtol=1e-6)
        want = compute_density(expected, (rec.height, rec.width), params).density
        assert a["target"].sum().item() == pytest.approx(float(want.sum()), rel=1e-5)
    assert 0 < flipped < len(ds)  # the transform's draw differs between samples
    assert np.array_equal(np.random.get_state()[1], before)  # the caller's random state is untouched


def test_bad_settings_are_config_errors(tiny_stores):
    with pytest.raises(ConfigError, match="target"):
        DensityDataset(tiny_stores["train"], target="boxes")
    with pytest.raises(ConfigError, match="multiples of downsample 16"):
        DensityDataset(tiny_stores["train"], crop=(24, 32), downsample=16)


def test_the_readme_example_trains_a_model(tiny_stores, monkeypatch):
    text = README.read_text()
    code = re.search(r"<!-- density-dataset-example -->\n```python\n(.*?)```", text, re.S).group(1)
    body = [line for line in code.splitlines() if line and not line.startswith(("import", "from"))]
    assert len(body) == 10  # what the README promises
    code = code.replace('"data/density/synthetic/train.h5"', repr(str(tiny_stores["train"])))
    code = code.replace("crop=(128, 128)", "crop=(32, 32)")
    torch.manual_seed(0)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    model, loss = scope["model"], scope["loss"]
    assert torch.isfinite(loss)
    assert scope["data"].epoch == 1 and model(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 4, 4)
