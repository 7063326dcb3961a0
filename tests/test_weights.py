"""The shipped real-photo model (weights/): its bytes are the card's, its settings the preset's, and it runs."""

import hashlib
import re

import numpy as np
import yaml

from pipeline.checkpoint import load_checkpoint, trained_output
from pipeline.presets import PRESETS
from pipeline.presets.shipped import SHIPPED_MODEL
from pipeline.runner import Runner

CARD = SHIPPED_MODEL.parent / "README.md"


def test_the_shipped_model_is_the_one_its_card_names():
    digests = re.findall(r"sha256 `([0-9a-f]{64})`", CARD.read_text())
    assert len(digests) == 1, "the card names one sha256"
    assert hashlib.sha256(SHIPPED_MODEL.read_bytes()).hexdigest() == digests[0]


def test_the_shipped_model_was_trained_with_its_preset_and_localizes():
    preset = yaml.safe_load((PRESETS / "photo-cpu.yaml").read_text())
    state = load_checkpoint(SHIPPED_MODEL)
    assert state["model_config"] == preset["model"]
    assert {k: state["train_config"][k] for k in preset["train"] if k != "dataset"} == {
        k: v for k, v in preset["train"].items() if k != "dataset"
    }
    assert "optimizer" not in state and state["history"][-1]["epoch"] == state["epoch"]
    assert trained_output(SHIPPED_MODEL) == ("fidt", 4)
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    out = Runner.from_checkpoint(SHIPPED_MODEL, optimize=False)(image[None])[0]
    assert out.shape == (24, 32) and np.isfinite(out).all()
