"""Localization fine enough for dense crowds: a FIDT map at output stride 4 or 2 (`model.output_stride`),
decoded by the one decoder that evaluation, `count --points` and the annotation tool's proposals share.

The ceiling test needs no trained model: fed the ideal output for its target (the FIDT map of the
ground truth itself), the decoder must give back nearly every head of the densest real photos,
matched one to one as `headcount score` matches.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from conftest import real_dataset

from annotate.proposals import model_proposals
from pipeline.checkpoint import trained_output
from pipeline.decoder import decode
from pipeline.errors import ConfigError
from pipeline.evaluate import evaluate
from pipeline.infer.counter import load_counter
from pipeline.model import CSRNet, ModelConfig
from pipeline.readers import read
from pipeline.runner import Runner, load_model, optimize_for_inference
from pipeline.score import match_count
from pipeline.targets import fidt_map
from pipeline.train import train
from pipeline.training_data import TrainingCrops
from tests.test_train import TINY

RADIUS = 8.0  # px: NWPU's and the localization radius


def _recall(points: np.ndarray, truth: np.ndarray) -> float:
    return float(match_count(points, truth, np.full(len(truth), RADIUS)).mean())


def _in_image(sample) -> np.ndarray:  # noqa: ANN001 - a Sample
    p = sample.points
    return p[(p[:, 0] >= 0) & (p[:, 0] < sample.width) & (p[:, 1] >= 0) & (p[:, 1] < sample.height)]


@pytest.fixture(scope="module")
def densest_part_a():
    """The 10 densest images of ShanghaiTech A train: 2,072 to 3,138 heads, median neighbours 4.4-10.5 px apart."""
    root = real_dataset("ShanghaiTech", "part_A")
    samples = sorted(read("shanghaitech", root, "train"), key=lambda s: (-len(_in_image(s)), s.image_id))
    return [(s, _in_image(s)) for s in samples[:10]]


@pytest.mark.real
@pytest.mark.parametrize("stride", [4, 2])
def test_ceiling_the_decoder_recovers_95_percent_of_the_densest_real_heads_from_the_ideal_fidt_map(
    densest_part_a, stride
):
    found = total = 0
    for sample, truth in densest_part_a:
        heads = decode(fidt_map(truth, sample.shape, stride), "fidt", stride)
        assert heads.count == len(heads.points)
        found += match_count(heads.points, truth, np.full(len(truth), RADIUS)).sum()
        total += len(truth)
    assert total > 20_000
    assert found / total >= 0.95, f"stride {stride}: {found / total:.4f}"


@pytest.mark.real
def test_ceiling_at_csrnets_own_stride_8_loses_heads_that_share_a_cell(densest_part_a):
    """Why the decoder exists: the same ideal map at stride 8 places one head per 8x8 cell."""
    found = total = 0
    for sample, truth in densest_part_a:
        heads = decode(fidt_map(truth, sample.shape, 8), "fidt", 8)
        found += match_count(heads.points, truth, np.full(len(truth), RADIUS)).sum()
        total += len(truth)
    assert found / total < 0.9


def test_heads_5_px_apart_come_back_one_each_at_stride_2_and_4_but_not_8():
    grid = np.stack(np.meshgrid(np.arange(6, 90, 5.0), np.arange(6, 60, 5.0)), -1).reshape(-1, 2) + 0.3
    shape = (64, 96)
    recall = {s: _recall(decode(fidt_map(grid, shape, s), "fidt", s).points, grid) for s in (2, 4, 8)}
    assert recall[2] == 1.0 and recall[4] == 1.0
    assert recall[8] < 0.5  # 25 px^2 a head: 2.6 heads an 8x8 cell


@pytest.mark.parametrize("stride", [8, 4, 2])
def test_the_model_outputs_one_cell_per_stride_pixels_and_torchscript_gives_the_eager_output(stride):
    torch.manual_seed(0)
    model = CSRNet(0.0625, batch_norm=True, output_stride=stride).eval()
    x = torch.randn(2, 3, 64, 96)
    out = model(x)
    assert out.shape == (2, 1, 64 // stride, 96 // stride)
    with warnings.catch_warnings():  # TorchScript failing would fall back to eager with a warning
        warnings.simplefilter("error", UserWarning)
        scripted = optimize_for_inference(model)
    assert isinstance(scripted, torch.jit.ScriptModule)
    torch.testing.assert_close(scripted(x), out, atol=1e-5, rtol=1e-4)


def test_stride_8_is_csrnet_unchanged_the_same_parameters_and_the_same_initial_weights():
    torch.manual_seed(5)
    a = CSRNet(0.25, batch_norm=True).state_dict()
    torch.manual_seed(5)
    b = CSRNet(0.25, batch_norm=True, output_stride=8).state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith("decoder") for k in a)


def test_an_unknown_output_stride_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="output_stride.*one of 8, 4, 2"):
        ModelConfig(output_stride=3)


def test_a_fine_stride_needs_a_fidt_target(tiny_stores, tmp_path):
    with pytest.raises(ConfigError, match="needs train.target: fidt"):
        train(tiny_stores["train"], tmp_path, TINY, ModelConfig(width=0.0625, output_stride=4), progress=False)


def test_the_training_loader_gives_targets_at_the_models_stride(tiny_stores):
    ds = TrainingCrops(tiny_stores["train"], crop=(32, 32), target="fidt", stride=2)
    item = ds[0]
    assert item["target"].shape == (1, 16, 16)
    assert (item["target"] == 1.0).sum() >= min(1, int(item["count"]))


@pytest.fixture(scope="module")
def stride2_checkpoint(tiny_stores, tmp_path_factory):
    out = tmp_path_factory.mktemp("s2")
    cfg = dataclasses.replace(TINY, target="fidt", epochs=2)
    train(tiny_stores["train"], out, cfg, ModelConfig(width=0.0625, output_stride=2), progress=False)
    return out / "best.pt"


def test_a_stride_2_model_trains_saves_its_stride_and_every_reader_of_it_knows(stride2_checkpoint, tiny_stores):
    assert trained_output(stride2_checkpoint) == ("fidt", 2, None)
    assert load_model(stride2_checkpoint, optimize=False).stride == 2
    counter = load_counter(stride2_checkpoint, "cpu")
    assert counter.stride == 2 and counter.target == "fidt"
    frame = np.full((1, 48, 64, 3), 90, np.uint8)
    assert counter(frame).shape == (1, 24, 32)


def test_evaluate_and_proposals_decode_a_stride_2_model_at_its_stride(stride2_checkpoint, tiny_stores, tmp_path):
    m = evaluate(
        stride2_checkpoint,
        tiny_stores["test"],
        tiny_stores["train"],
        metrics_out=tmp_path / "m.json",
        predictions_out=tmp_path / "p.csv",
        progress=False,
    )
    assert m["target"] == "fidt" and m["n_images"] == 3
    out = np.zeros((24, 32), np.float32)
    out[3, 5] = 1.0
    heads = model_proposals(out, (48, 64), "fidt", 2)
    assert heads.points.tolist() == [[11.0, 7.0]] and heads.count == 1.0  # the cell centre at 2 px a cell
    runner = Runner.from_checkpoint(stride2_checkpoint)
    assert runner(np.zeros((1, 48, 64, 3), np.uint8)).shape == (1, 24, 32)
