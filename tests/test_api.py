"""The public Python API: `import pipeline` is light, every name resolves, and `pipeline.count` counts a photo
with the shipped model in one call (as lwcc users count), its density summing to its count."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import pipeline
from pipeline.bench.startup import HEAVY
from pipeline.errors import DataError
from pipeline.infer.counter import spread_cells
from pipeline.model import CSRNet, ModelConfig
from pipeline.train import save_checkpoint


def test_importing_the_package_loads_no_heavy_library_and_every_name_resolves():
    code = f"import sys, pipeline; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pipeline.nope  # noqa: B018


def _crowd(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(60, 200, (96, 128, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "crowd.png")
    return pixels


def test_count_with_the_shipped_model_gives_count_points_and_a_density_that_sums_to_the_count(tmp_path):
    pixels = _crowd(tmp_path)
    from_file = pipeline.count(tmp_path / "crowd.png")
    assert from_file.density.shape == (96, 128) and from_file.points.shape == (round(from_file.count), 2)
    assert from_file.density.sum() == pytest.approx(from_file.count, abs=1e-3)
    for same in (pipeline.count(pixels), pipeline.count(Image.fromarray(pixels))):  # any form of the image
        assert same.count == from_file.count and np.array_equal(same.points, from_file.points)
    with pytest.raises(DataError, match=r"expected \(H, W, 3\) uint8"):
        pipeline.count(pixels.astype(np.float32))


def test_count_with_a_density_model_spreads_its_cells_over_the_image(tmp_path):
    pixels = _crowd(tmp_path)
    torch.manual_seed(0)
    model = CSRNet(0.0625)
    with torch.no_grad():
        model.output.bias.fill_(0.05)  # a constant density: every cell holds about 0.05
    path = tmp_path / "density.pt"
    save_checkpoint(path, model=model.state_dict(), model_config=ModelConfig(width=0.0625).__dict__)
    got = pipeline.count(pixels, model=path)
    assert got.count > 1 and got.density.shape == (96, 128)
    assert got.density.sum() == pytest.approx(got.count, rel=1e-5)


def test_spreading_cells_keeps_each_cells_sum_where_the_last_cells_are_partial():
    cells = np.arange(1.0, 7.0).reshape(2, 3)
    spread = spread_cells(cells, 8, (13, 21))  # last row covers 5 px, last column 5 px
    assert spread.shape == (13, 21) and spread.sum() == pytest.approx(cells.sum())
    assert spread[8:, 16:].sum() == pytest.approx(6.0) and spread[:8, :8].sum() == pytest.approx(1.0)
