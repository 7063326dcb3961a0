import hashlib

import pytest
import torch
import yaml
from conftest import committed

from pipeline.checkpoint import load_checkpoint
from pipeline.errors import ConfigError
from pipeline.params import RunConfig
from pipeline.presets.recipe import LMDS_GRID, run_recipe

TINY = {
    "density": {
        "method": "adaptive",
        "k": 3,
        "beta": 0.3,
        "sigma": 15.0,
        "border": "drop",
        "duplicates": "merge",
        "box_scale": 0.3,
        "max_side": None,
        "encoding": "heads",
    },
    "model": {"width": 0.0625, "batch_norm": False, "pretrained": None, "output_stride": 4},
    "train": {
        **committed("train"),
        "dataset": "a",
        "epochs": 2,
        "batch_size": 2,
        "lr": 1e-3,
        "crop_height": 32,
        "crop_width": 32,
        "val_fraction": 0.25,
        "seed": 1,
        "target": "fidt",
    },
}


def _preset(tmp_path, raw, datasets):
    path = tmp_path / "tiny.yaml"
    doc = {"datasets": {n: {"format": "shanghaitech", "root": raw.name, "splits": s} for n, s in datasets.items()}}
    path.write_text(yaml.safe_dump({**doc, **TINY}))
    return str(path)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    from pipeline.synth import SynthConfig, make_dataset

    root = tmp_path_factory.mktemp("raw")
    make_dataset(
        root, SynthConfig(train=6, test=2, width=64, height=48, min_count=5, max_count=30, seed=2), progress=False
    )
    return root


def test_recipe_builds_every_train_store_trains_on_all_and_ships_the_slim_last_epoch(raw, tmp_path):
    preset = _preset(tmp_path, raw, {"a": ["train"], "b": ["train", "test"], "c": ["test"]})
    out = tmp_path / "w" / "model.pt"
    run = RunConfig(device="cpu")
    summary = run_recipe(preset, tmp_path / "work", out, root=raw.parent, run=run, progress=False)
    assert summary["stores"] == [str(tmp_path / "work" / "density" / n / "train.h5") for n in ("a", "b")]
    assert summary["train_images"] == 2 * 4 and summary["val_images"] == 2 * 2  # each store held out alike
    assert summary["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    shipped, last = load_checkpoint(out), load_checkpoint(tmp_path / "work" / "models" / "last.pt")
    assert "optimizer" not in shipped and "torch_rng" not in shipped and "optimizer" in last
    assert shipped.keys() - {"lmds_relative"} <= last.keys() and shipped["model_config"]["output_stride"] == 4
    # a FIDT model ships its decoder, tuned on the validation images
    assert shipped["lmds_relative"] == summary["lmds_relative"] in LMDS_GRID and 0 <= summary["lmds_f1"] <= 1
    assert all(torch.equal(shipped["model"][k], last["model"][k]) for k in last["model"])
    assert shipped["epoch"] == len(shipped["history"]) - 1 == 1  # the last of the preset's 2 epochs
    assert len(shipped["history"][-1]["val_mae_by_store"]) == 2
    # a fresh work folder gives the same bytes (torch.save names its archive after the file: same name)
    again = run_recipe(
        preset, tmp_path / "work2", tmp_path / "w2" / "model.pt", root=raw.parent, run=run, progress=False
    )
    assert again["sha256"] == summary["sha256"]


def test_a_preset_without_a_train_split_is_refused(raw, tmp_path):
    with pytest.raises(ConfigError, match="no dataset with a train split"):
        run_recipe(
            _preset(tmp_path, raw, {"c": ["test"]}),
            tmp_path / "work",
            tmp_path / "m.pt",
            root=raw.parent,
            progress=False,
        )
