"""The shipped real-photo model (pipeline/weights): its bytes are the card's, its settings the preset's, and it runs."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
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
    assert trained_output(SHIPPED_MODEL) == ("fidt", 4, 0.3)
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    out = Runner.from_checkpoint(SHIPPED_MODEL, optimize=False)(image[None])[0]
    assert out.shape == (24, 32) and np.isfinite(out).all()


@pytest.mark.real
def test_the_shipped_model_saves_an_annotator_work_on_dense_validation_crops():
    """The assist figure cannot drift unseen: `benchmarks/assist.py`'s simulated annotator on the 256 px centres
    of the 3 densest ShanghaiTech A validation images (1,063 heads) needs 0.699 actions a head with the shipped
    model (1.0: every head by hand; pipeline/weights/README.md has the whole-image figures)."""
    import sys

    from conftest import real_dataset

    from annotate.assist import simulate
    from annotate.proposals import model_proposals
    from pipeline.image import load_image
    from pipeline.infer.counter import load_counter
    from pipeline.readers import read
    from pipeline.train import split_ids

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from assist import centre_crop

    samples = list(read("shanghaitech", real_dataset("ShanghaiTech", "part_A"), "train"))
    _, val = split_ids([s.image_id for s in samples], 0.1, 0)  # the share training held out (seed 0)
    densest = sorted((s for s in samples if s.image_id in set(val)), key=lambda s: (-len(s.points), s.image_id))
    counter = load_counter(SHIPPED_MODEL, "cpu")
    actions = heads = 0
    for sample in densest[:3]:
        image, truth = centre_crop(load_image(sample.image_path), np.asarray(sample.points), 256)
        found = model_proposals(counter(image[None])[0], image.shape[:2], "fidt", counter.stride, counter.relative)
        done = simulate(found.points, found.scores, truth)
        actions, heads = actions + done.total, heads + done.heads
    assert heads == 1063 and actions / heads <= 0.75
