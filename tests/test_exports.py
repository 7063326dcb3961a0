"""`headcount export --to bayesian|dmcount|p2pnet|c3f`: each output read back as that codebase's
own dataset class reads it (re-written here from their loaders' logic), with hand-computed values."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.build import build_split
from pipeline.density import compute_density
from pipeline.exports import export, new_size
from pipeline.kernels import DensityParams
from pipeline.store import read_split
from pipeline.train import split_ids
from tests.conftest import write_sha
from tests.test_bad_input import run_main

SQUARE = np.array([[10.0, 10.0], [20.0, 10.0], [10.0, 20.0], [20.0, 20.0]])


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Four images of 400x300 (W x H): one with a 10 px square of heads, two with spread heads, one empty."""
    rng = np.random.default_rng(5)
    spread = {n: np.column_stack([rng.uniform(0, 400, 7 * n), rng.uniform(0, 300, 7 * n)]) for n in (2, 3)}
    write_sha(tmp_path / "raw", "train", {1: SQUARE, **spread, 4: np.zeros((0, 2))}, size=(400, 300))
    out = tmp_path / "train.h5"
    build_split("shanghaitech", tmp_path / "raw", "train", out, progress=False)
    return out


def test_new_size_follows_the_bayesian_rule_on_the_shorter_side():
    assert new_size(300, 400, 512, 2048) == (512, 683)  # 400 * 512 / 300 = 682.67
    assert new_size(400, 300, 512, 2048) == (683, 512)
    assert new_size(768, 1024, 512, 2048) == (768, 1024)
    assert new_size(3000, 4000, 512, 2048) == (2048, 2731)  # their rule bounds the short side by max too
    assert new_size(300, 400, None, None) == (300, 400)


def bayesian_loader(root: Path) -> list[tuple[Image.Image, np.ndarray]]:
    """What Bayesian Loss's ``Crowd`` dataset does: glob *.jpg, np.load the .npy beside it."""
    out = []
    for img_path in sorted(glob.glob(os.path.join(root, "*.jpg"))):
        keypoints = np.load(img_path.replace("jpg", "npy"))
        out.append((Image.open(img_path).convert("RGB"), keypoints))
    return out


def test_bayesian_export_resizes_scales_points_per_axis_and_adds_the_neighbour_distance(store, tmp_path):
    s = export(store, "bayesian", tmp_path / "bl")
    assert s.images == {"train": 4} and s.heads == 4 + 14 + 21 and s.empty == 1
    loaded = bayesian_loader(tmp_path / "bl" / "train")
    assert [len(k) for _, k in loaded] == [4, 14, 21, 0]  # IMG_1..IMG_4, sorted by name
    for img, kp in loaded:
        assert img.size == (683, 512)
        assert kp.dtype == np.float32 and kp.shape[1] == 3
        assert ((kp[:, 0] >= 0) & (kp[:, 0] < 683) & (kp[:, 1] >= 0) & (kp[:, 1] < 512)).all()
    kp = loaded[0][1]
    sx, sy = 683 / 400, 512 / 300
    np.testing.assert_allclose(kp[:, :2], SQUARE * [sx, sy], rtol=1e-6)
    # each corner's 3 nearest others: both sides and the diagonal, after resizing
    side_x, side_y = 10 * sx, 10 * sy
    np.testing.assert_allclose(kp[:, 2], (side_x + side_y + np.hypot(side_x, side_y)) / 3, rtol=1e-6)


def test_dmcount_export_has_two_columns_and_its_discrete_map_sums_to_the_count(store, tmp_path):
    export(store, "dmcount", tmp_path / "dm", min_size=0, max_size=0)
    for img, kp in bayesian_loader(tmp_path / "dm" / "train"):
        assert img.size == (400, 300) and kp.shape[1] == 2
        # DM-Count's gen_discrete_map: round, clip to the last row/column, count per pixel
        h, w = 300, 400
        p = np.array(kp).round().astype(int).reshape(-1, 2)
        dots = np.zeros((h, w))
        np.add.at(dots, (np.minimum(p[:, 1], h - 1), np.minimum(p[:, 0], w - 1)), 1)
        assert dots.sum() == len(kp)
    # no resize: the JPEG is the dataset's own file, byte for byte
    src = (store.parent / "raw/train_data/images/IMG_1.jpg").read_bytes()
    assert (tmp_path / "dm/train/IMG_1.jpg").read_bytes() == src


def p2pnet_loader(root: Path, list_name: str) -> dict[str, tuple[Image.Image, np.ndarray, int]]:
    """What P2PNet's SHHA dataset does: list lines split on whitespace, gt lines 'x y', id after the last '_'."""
    out = {}
    with open(os.path.join(root, list_name)) as fin:
        for line in fin:
            if len(line) < 2:
                continue
            line = line.strip().split()
            img_path, gt_path = os.path.join(root, line[0].strip()), os.path.join(root, line[1].strip())
            points = []
            with open(gt_path) as f_label:
                for row in f_label:
                    points.append([float(row.strip().split(" ")[0]), float(row.strip().split(" ")[1])])
            image_id = int(img_path.split("/")[-1].split(".")[0].split("_")[-1])
            out[img_path] = (Image.open(img_path), np.array(points).reshape(-1, 2), image_id)
    return out


def test_p2pnet_export_lists_every_image_with_its_points(store, tmp_path):
    export(store, "p2pnet", tmp_path / "p2p", split="test")
    loaded = p2pnet_loader(tmp_path / "p2p", "test.list")
    assert sorted(v[2] for v in loaded.values()) == [1, 2, 3, 4]
    truth = read_split(store)
    for _, pts, n in loaded.values():
        np.testing.assert_allclose(pts, truth[f"IMG_{n}"].points, rtol=1e-7)  # no resize by default
    assert (tmp_path / "p2p/test.list").read_text().splitlines()[0] == "test/IMG_1.jpg test/IMG_1.txt"


def test_c3f_export_writes_the_density_as_csv_that_reads_back_exactly(store, tmp_path):
    export(store, "c3f", tmp_path / "c3")
    truth = read_split(store)
    for n in (1, 2, 3, 4):
        den = np.loadtxt(tmp_path / f"c3/train/den/IMG_{n}.csv", delimiter=",", dtype=np.float32, ndmin=2)
        assert np.array_equal(den, truth[f"IMG_{n}"].density)
        assert Image.open(tmp_path / f"c3/train/img/IMG_{n}.jpg").size == (400, 300)


def test_a_resized_c3f_map_is_drawn_afresh_at_the_new_size_and_keeps_the_count(store, tmp_path):
    export(store, "c3f", tmp_path / "c3", max_size=150)  # the short side 300 -> 150: 200x150
    den = np.loadtxt(tmp_path / "c3/train/den/IMG_1.csv", delimiter=",", dtype=np.float32)
    assert den.shape == (150, 200)
    # the map of the scaled points with the store's kernel rule (not the old map resampled)
    assert np.array_equal(den, compute_density(SQUARE * 0.5, (150, 200), DensityParams()).density)
    assert den.sum() == pytest.approx(4.0, abs=0.01)  # a little of each kernel falls past the border (drop)
    # the kernel centres moved with the points: the map peaks at the scaled square's corners
    peaks = np.argwhere(den == den.max())
    assert any(tuple(p) in {(5, 5), (5, 10), (10, 5), (10, 10)} for p in peaks)


def test_val_fraction_holds_out_the_images_train_holds_out(store, tmp_path):
    s = export(store, "dmcount", tmp_path / "dm", val_fraction=0.5, seed=3)
    _, val = split_ids(list(read_split(store)), 0.5, 3)
    assert s.images == {"train": 4 - len(val), "val": len(val)} or s.images == {"val": len(val), "train": 4 - len(val)}
    assert sorted(p.stem for p in (tmp_path / "dm/val").glob("*.jpg")) == sorted(val)


def test_export_refuses_a_folder_it_did_not_write_and_rewrites_its_own(store, tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, out = run_main(["export", store, "--to", "p2pnet", "--out", foreign], capsys)
    assert code == 2 and "not writing into it" in out and len(out.strip().splitlines()) == 1
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    ok = tmp_path / "ours"
    for _ in range(2):  # a second export replaces the first
        code, out = run_main(["export", store, "--to", "p2pnet", "--out", ok], capsys)
        assert code == 0, out
    assert "1 image(s) have no head" in out
    assert len((ok / "train.list").read_text().splitlines()) == 4
    code, out = run_main(["export", store, "--to", "c3f", "--out", ok], capsys)
    assert code == 2 and "not c3f" in out  # another format's export is not ours either


def test_export_names_its_own_formats_when_given_one_it_lacks(tmp_path, capsys):
    """`export --to nope` named `to:` and listed only convert's formats, none of the trainers' layouts."""
    from pipeline.cli.data import LAYOUTS
    from pipeline.exports import FORMATS as TRAINERS

    assert set(LAYOUTS) == {*TRAINERS, "csrnet", "nwpu-loc"}  # the CLI's list is the exports package's
    code, err = run_main(["export", str(tmp_path / "s.h5"), "--to", "nope", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "Invalid value for '--to': 'nope' is not one of 'csrnet', 'bayesian'" in err, err
    assert "'coco'" in err and "to: cannot write" not in err
