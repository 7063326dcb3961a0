import hashlib

import numpy as np
import pytest
from PIL import Image

from pipeline.readers import read
from pipeline.synth import SynthConfig, head_diameters, make_dataset, render_image

CFG = SynthConfig(train=3, test=2, width=96, height=72, min_count=10, max_count=60, seed=7)


def _digest(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_the_same_bytes(tmp_path):
    make_dataset(tmp_path / "a", CFG, progress=False)
    make_dataset(tmp_path / "b", CFG, progress=False)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert len(a) == 10 and a == b


def test_other_seed_gives_other_images(tmp_path):
    make_dataset(tmp_path / "a", CFG, progress=False)
    make_dataset(tmp_path / "b", SynthConfig(**{**CFG.__dict__, "seed": 8}), progress=False)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "b")


def test_synthetic_dataset_reads_as_shanghaitech(tmp_path):
    make_dataset(tmp_path, CFG, progress=False)
    train = list(read("shanghaitech", tmp_path, "train"))
    test = list(read("shanghaitech", tmp_path, "test"))
    assert [s.image_id for s in train] == ["IMG_1", "IMG_2", "IMG_3"] and len(test) == 2
    for s in train + test:
        assert s.shape == (72, 96)
        assert 10 <= len(s.points) <= 60
        assert ((s.points >= 0) & (s.points < [96, 72])).all()
        with Image.open(s.image_path) as im:
            assert im.format == "JPEG"


def test_changing_the_test_count_keeps_the_training_images(tmp_path):
    make_dataset(tmp_path / "a", CFG, progress=False)
    make_dataset(tmp_path / "b", SynthConfig(**{**CFG.__dict__, "test": 4}), progress=False)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")

    def train(d):
        return {k: v for k, v in d.items() if k.startswith("train")}

    assert train(a) == train(b)


def test_farther_heads_are_smaller():
    y = np.array([10.0, 40.0, 70.0, 119.0])
    d = head_diameters(y, horizon=10, height=120, near=12.0, far=4.0)
    assert d[0] == 4.0 and d[-1] == pytest.approx(12.0, rel=0.01) and np.all(np.diff(d) > 0)


def _edge_ratio(img: np.ndarray, pts: np.ndarray) -> float:
    """Mean gradient magnitude in 7x7 windows at heads over that at background points >= 12 px from any head."""
    from scipy.spatial import cKDTree

    gray = img.astype(np.float32).mean(axis=2)
    mag = np.hypot(*np.gradient(gray))
    h, w = gray.shape
    rng = np.random.default_rng(100)
    cand = np.column_stack([rng.uniform(0, w, 2000), rng.uniform(pts[:, 1].min(), h, 2000)])
    far = cand[cKDTree(pts).query(cand)[0] > 12][:100]
    assert len(far) >= 50

    def window(p):
        r, c = int(p[1]), int(p[0])
        return mag[max(r - 3, 0) : r + 4, max(c - 3, 0) : c + 4].mean()

    return float(np.mean([window(p) for p in pts]) / np.mean([window(p) for p in far]))


class _NoDrawing:
    """Stands in for ImageDraw: the scene without any figure, the control of the test below."""

    def __init__(self, *args) -> None:
        pass

    def ellipse(self, *args, **kwargs) -> None:
        pass

    chord = ellipse


def test_image_changes_where_heads_are_drawn(monkeypatch):
    """At every annotated point a figure is drawn: edges there are several times those of the background."""
    import pipeline.synth as synth

    cfg = SynthConfig(width=160, height=120, min_count=40, max_count=40)
    for seed in range(4):
        img, pts = render_image(np.random.default_rng(seed), cfg)
        assert img.shape == (120, 160, 3) and img.dtype == np.uint8 and len(pts) == 40
        assert _edge_ratio(img, pts) > 2.5, seed
    monkeypatch.setattr(synth.ImageDraw, "Draw", _NoDrawing)
    for seed in range(4):  # the same scenes with no heads drawn: the measure sees no difference
        assert _edge_ratio(*render_image(np.random.default_rng(seed), cfg)) < 2.0, seed
