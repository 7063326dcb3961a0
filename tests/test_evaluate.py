import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.evaluate import evaluate
from pipeline.metrics import game_error, mae, rmse
from pipeline.model import CSRNet, ModelConfig
from pipeline.runner import Runner
from pipeline.train import save_checkpoint


def test_mae_and_rmse_by_hand():
    pred, true = np.array([10.0, 20.0, 33.0]), np.array([12, 20, 30])
    assert mae(pred, true) == pytest.approx(5 / 3)
    assert rmse(pred, true) == pytest.approx(np.sqrt((4 + 0 + 9) / 3))


def test_game_by_hand():
    # a 32x32 image -> 4x4 output cells; heads at three corners
    pred = np.zeros((4, 4))
    pred[0, 0], pred[3, 3], pred[0, 3] = 2.0, 1.0, 0.5
    pts = np.array([[1.0, 1.0], [30.0, 30.0], [30.0, 2.0]])
    assert game_error(pred, pts, (32, 32), 0) == pytest.approx(0.5)  # |3.5 - 3|
    # quadrants: TL 2 vs 1, BR 1 vs 1, TR 0.5 vs 1 -> 1 + 0 + 0.5
    assert game_error(pred, pts, (32, 32), 1) == pytest.approx(1.5)
    assert game_error(pred, pts, (32, 32), 2) == pytest.approx(1.5)
    pred2 = np.zeros((4, 4))
    pred2[0, 1] = 1.0  # the right count in the wrong 8x8 cell: GAME(2) sees it, GAME(1) does not
    assert game_error(pred2, np.array([[1.0, 1.0]]), (32, 32), 1) == 0
    assert game_error(pred2, np.array([[1.0, 1.0]]), (32, 32), 2) == 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = CSRNet(0.0625)
    with torch.no_grad():
        model.output.bias.fill_(0.05)  # a constant density: the count is 0.05 x output cells
    path = tmp_path_factory.mktemp("ck") / "best.pt"
    save_checkpoint(path, model=model.state_dict(), model_config=ModelConfig(width=0.0625).__dict__)
    return path


def test_evaluate_writes_consistent_metrics_and_predictions(tiny_stores, checkpoint, tmp_path):
    m = evaluate(
        checkpoint,
        tiny_stores["test"],
        tiny_stores["train"],
        metrics_out=tmp_path / "metrics.json",
        predictions_out=tmp_path / "eval" / "pred.csv",
        progress=False,
    )
    assert json.loads((tmp_path / "metrics.json").read_text()) == m
    games = {"game_0", "game_1", "game_2", "game_3"}
    keys = {"mae", "rmse", *games, "n_images", "baseline_mae", "nae", "bins", "localization", "numerics", "target"}
    assert set(m) == keys and m["target"] == "density"
    from pipeline.store import read_split

    heads = sum(r.count for r in read_split(tiny_stores["test"]).values())
    for block in m["localization"].values():  # every head is a hit or a miss; every placed point a hit or not
        assert block["tp"] + block["fn"] == heads and 0 <= block["f1"] <= 1
    assert set(m["localization"]) == {"r4", "r8"} and m["localization"]["r4"]["tp"] <= m["localization"]["r8"]["tp"]
    assert sum(b["n_images"] for b in m["bins"].values()) == m["n_images"]
    assert m["numerics"] == {
        "mode": "reproducible",
        "device": "cpu",
        "convolution": "fixed-order fma (pipeline/gemm.py)",
        "aten_kernels": "AVX2",
    }
    rows = list(csv.DictReader((tmp_path / "eval" / "pred.csv").read_text().splitlines()))
    assert len(rows) == m["n_images"] == 3
    true = np.array([float(r["true_count"]) for r in rows])
    pred = np.array([float(r["predicted_count"]) for r in rows])
    assert m["mae"] == pytest.approx(np.mean(np.abs(pred - true)), abs=1e-3)
    assert m["game_0"] == pytest.approx(m["mae"], rel=1e-6)
    assert m["game_0"] <= m["game_1"] <= m["game_2"] <= m["game_3"]

    train_mean = np.mean([r.count for r in read_split(tiny_stores["train"]).values()])
    assert m["baseline_mae"] == pytest.approx(np.mean(np.abs(true - train_mean)))
    test_counts = sorted(r.count for r in read_split(tiny_stores["test"]).values())
    assert sorted(true.tolist()) == test_counts  # true = annotated heads, not a density sum


@pytest.mark.slow
def test_count_command_prints_counts_and_writes_a_heatmap(tiny_stores, checkpoint, tmp_path):
    from pipeline.store import read_split

    store = read_split(tiny_stores["test"])
    image = store.image_path(next(iter(store)))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "count",
            str(image),
            "--checkpoint",
            str(checkpoint),
            "--heatmap",
            str(tmp_path / "heat.png"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    printed = float(r.stdout.split()[-1])
    expected = float(Runner.from_checkpoint(checkpoint)(np.asarray(Image.open(image).convert("RGB"))[None]).sum())
    assert printed == pytest.approx(expected, abs=0.05)
    heat = Image.open(tmp_path / "heat.png")
    assert heat.size == Image.open(image).size
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", "count", str(image), "--checkpoint", str(tmp_path / "nope.pt")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "nope.pt: checkpoint not found" in r.stderr


def test_evaluate_on_a_validation_share_scores_those_images_against_the_others_mean(tiny_stores, checkpoint, tmp_path):
    from pipeline.errors import DataError
    from pipeline.store import read_split

    store = tiny_stores["train"]
    ids = list(read_split(store))
    held = [ids[1]]
    kw = dict(metrics_out=tmp_path / "m.json", predictions_out=tmp_path / "p.csv", progress=False)
    m = evaluate(checkpoint, store, store, ids=held, **kw)
    rows = list(csv.DictReader((tmp_path / "p.csv").read_text().splitlines()))
    assert [r["image_id"] for r in rows] == held and m["n_images"] == 1
    counts = {i: rec.count for i, rec in read_split(store).items()}
    others, everyone = np.mean([counts[i] for i in ids if i not in held]), np.mean(list(counts.values()))
    assert abs(counts[held[0]] - others) != pytest.approx(abs(counts[held[0]] - everyone))  # the test can tell
    assert m["baseline_mae"] == pytest.approx(abs(counts[held[0]] - others))
    whole = evaluate(checkpoint, store, store, **kw)  # every image: the same per-image predictions
    full = {r["image_id"]: r for r in csv.DictReader((tmp_path / "p.csv").read_text().splitlines())}
    assert all(full[r["image_id"]] == r for r in rows) and whole["n_images"] == len(ids)
    with pytest.raises(DataError, match="no image nope"):
        evaluate(checkpoint, store, store, ids=["nope"], **kw)


def test_count_and_annotate_default_to_the_shipped_model(tiny_stores, checkpoint, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import pipeline.presets.shipped as shipped
    from pipeline.cli import cli
    from pipeline.store import read_split

    store = read_split(tiny_stores["test"])
    image = store.image_path(next(iter(store)))
    monkeypatch.setattr(shipped, "SHIPPED_MODEL", tmp_path / "absent.pt")
    r = CliRunner().invoke(cli, ["count", str(image)])
    assert r.exit_code != 0 and "shipped model" in str(r.exception) and "absent.pt" in str(r.exception)
    monkeypatch.setattr(shipped, "SHIPPED_MODEL", checkpoint)
    r = CliRunner().invoke(cli, ["count", str(image)])
    expected = float(Runner.from_checkpoint(checkpoint)(np.asarray(Image.open(image).convert("RGB"))[None]).sum())
    assert r.exit_code == 0, r.output
    assert float(r.output.split()[-1]) == pytest.approx(expected, abs=0.05)
    r = CliRunner().invoke(cli, ["annotate", str(tmp_path), "--no-model", "--checkpoint", str(checkpoint)])
    assert r.exit_code != 0 and "choose one" in r.output
