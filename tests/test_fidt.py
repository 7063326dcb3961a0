"""``train.target: fidt``: FIDT targets, LMDS decoding, and a FIDT model through train, evaluate,
count --points and export-model, each decoding heads instead of summing a density."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from pipeline.checkpoint import load_checkpoint, save_checkpoint, trained_target
from pipeline.decoder import decode, fidt_heads
from pipeline.evaluate import evaluate
from pipeline.model import CSRNet, ModelConfig
from pipeline.runner import Runner
from pipeline.scoring.files import read_nwpu_pred
from pipeline.targets import fidt_map
from pipeline.train import train
from pipeline.training_data import TrainingCrops
from tests.test_train import TINY


def test_lmds_decodes_a_fidt_map_back_to_its_heads_cells():
    heads = np.array([[10.0, 12.0], [50.0, 12.0], [30.0, 40.0], [70.0, 44.0]])
    f = fidt_map(heads, (48, 80), 8)
    points = fidt_heads(f).points
    cells = {(int(x // 8), int(y // 8)) for x, y in heads}
    assert {(int(x // 8), int(y // 8)) for x, y in points} == cells and len(points) == 4
    assert ((points % 8) == 4).all()  # cell centres
    assert decode(f, "fidt").count == 4.0
    assert len(fidt_heads(f * 0.09).points) == 0  # a map whose maximum is under 0.1 has no heads
    weak = f.copy()
    weak[5, 0] = 0.3  # a local maximum under 100/255 of the map's maximum is not a head
    assert len(fidt_heads(weak).points) == 4
    two_in_a_cell = fidt_map(np.array([[1.0, 1.0], [6.0, 6.0]]), (16, 16), 8)
    assert len(fidt_heads(two_in_a_cell).points) == 1  # the stride-8 limit: one head per cell


def test_the_training_loader_gives_fidt_targets_of_each_crops_heads(tiny_stores):
    ds = TrainingCrops(tiny_stores["train"], crop=(32, 32), flip=True, seed=2, target="fidt")
    for i in range(len(ds)):
        item = ds[i]
        target = item["target"][0].numpy()
        assert target.shape == (4, 4) and target.max() <= 1.0
        assert (target == 1.0).sum() >= (1 if item["count"] > 0 else 0)  # every head's cell is 1


def test_training_with_target_fidt_learns_fidt_maps_and_says_so_in_the_checkpoint(tiny_stores, tmp_path):
    cfg = dataclasses.replace(TINY, target="fidt", epochs=8, lr=3e-3)
    train(tiny_stores["train"], tmp_path, cfg, ModelConfig(width=0.0625), progress=False)
    assert trained_target(tmp_path / "best.pt") == "fidt"
    history = load_checkpoint(tmp_path / "last.pt")["history"]
    assert len(history) == 8 and min(h["loss"] for h in history) < history[0]["loss"]
    assert history[-1]["val_mae"] < history[0]["val_mae"]  # its decoded heads count better


@pytest.fixture(scope="module")
def fidt_model(tmp_path_factory):
    """A FIDT checkpoint whose output is 0.5 in every cell: every cell is a peak, so each image's count
    is its number of output cells (48 for 64x48), not the map's sum (24)."""
    torch.manual_seed(0)
    model = CSRNet(0.0625)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(0.5)
    path = tmp_path_factory.mktemp("fidt") / "best.pt"
    save_checkpoint(
        path, model=model.state_dict(), model_config=ModelConfig(width=0.0625).__dict__, train_config={"target": "fidt"}
    )
    return path


def test_a_fidt_model_is_evaluated_by_its_decoded_heads(tiny_stores, fidt_model, tmp_path):
    assert trained_target(fidt_model) == "fidt"
    m = evaluate(
        fidt_model,
        tiny_stores["test"],
        tiny_stores["train"],
        metrics_out=tmp_path / "metrics.json",
        predictions_out=tmp_path / "pred.csv",
        nwpu_out=tmp_path / "nwpu",
        progress=False,
    )
    assert m["target"] == "fidt"
    rows = list(csv.DictReader((tmp_path / "pred.csv").read_text().splitlines()))
    from pipeline.store import read_split

    store = read_split(tiny_stores["test"])
    runner = Runner.from_checkpoint(fidt_model, optimize=False)
    for row in rows:
        out = runner(store.image(row["image_id"])[None])[0]
        assert float(row["predicted_count"]) == len(fidt_heads(out).points) == 48  # a count of heads, not a sum
    located = read_nwpu_pred(tmp_path / "nwpu" / "nwpu_loc.txt")
    assert sorted(len(p) for p in located.values()) == sorted(float(r["predicted_count"]) for r in rows)
    counts = (tmp_path / "nwpu" / "nwpu_count.txt").read_text().splitlines()
    assert len(counts) == 3 and all(len(line.split()) == 2 for line in counts)


@pytest.mark.slow
def test_count_writes_decoded_points_and_refuses_video_with_a_fidt_model(tiny_stores, fidt_model, tmp_path):
    from pipeline.store import read_split

    store = read_split(tiny_stores["test"])
    images = [str(store.image_path(i)) for i in store]
    cmd = [sys.executable, "-m", "pipeline", "count", *images, "--checkpoint", str(fidt_model)]
    r = subprocess.run([*cmd, "--points", str(tmp_path / "p.csv")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    counts = {line.split("\t")[0]: float(line.split("\t")[1]) for line in r.stdout.splitlines()}
    assert set(counts.values()) == {48.0}
    rows = list(csv.DictReader((tmp_path / "p.csv").read_text().splitlines()))
    for path, n in counts.items():
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        assert sum(row["image_id"] == stem and row["x"] != "" for row in rows) == n
    # the CSV is what score reads: the same points against the store's heads
    s = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "score",
            str(tmp_path / "p.csv"),
            "--gt",
            str(tiny_stores["test"]),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert s.returncode == 0, s.stderr
    assert json.loads(s.stdout)["n_images"] == 3 and set(json.loads(s.stdout)["localization"]) == {"r4", "r8"}
    r = subprocess.run([*cmd[:4], str(tmp_path / "v.mp4"), *cmd[-2:]], capture_output=True, text=True)
    assert r.returncode == 2 and "fidt model: it counts images" in r.stderr


@pytest.mark.slow
def test_export_model_names_a_fidt_output_so_onnx_counting_decodes_it(fidt_model, tmp_path):
    from pipeline.infer.counter import OnnxCounter
    from pipeline.infer.export import export_onnx

    export_onnx(fidt_model, tmp_path / "m.onnx")
    counter = OnnxCounter(tmp_path / "m.onnx")
    assert counter.target == "fidt"
    frame = np.full((1, 48, 64, 3), 120, np.uint8)
    np.testing.assert_allclose(counter(frame), Runner.from_checkpoint(fidt_model, optimize=False)(frame), atol=1e-4)


def test_a_checkpoints_tuned_lmds_share_decides_which_peaks_are_heads(tmp_path):
    """A peak at 0.35 of the highest is no head by FIDTM's 100/255 (0.39), one at a share of 0.3; a shipped
    checkpoint carries its share (``lmds_relative``), and `evaluate`, `count` and proposals read it."""
    from pipeline.checkpoint import trained_output
    from pipeline.errors import DataError

    f = np.zeros((6, 6), np.float32)
    f[1, 1], f[4, 4] = 1.0, 0.35
    assert fidt_heads(f).count == 1 and fidt_heads(f, relative=0.3).count == 2
    assert decode(f, "fidt", relative=0.3).points.tolist() == [[12.0, 12.0], [36.0, 36.0]]
    state = {"model": {}, "model_config": {}, "train_config": {"target": "fidt"}}
    save_checkpoint(tmp_path / "plain.pt", **state)
    save_checkpoint(tmp_path / "tuned.pt", **state, lmds_relative=0.3)
    save_checkpoint(tmp_path / "bad.pt", **state, lmds_relative=2.0)
    assert trained_output(tmp_path / "plain.pt") == ("fidt", 8, None)
    assert trained_output(tmp_path / "tuned.pt") == ("fidt", 8, 0.3)
    with pytest.raises(DataError, match=r"bad.pt: lmds_relative must be a number in \(0, 1\], got 2.0"):
        trained_output(tmp_path / "bad.pt")
