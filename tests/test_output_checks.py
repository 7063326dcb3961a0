"""Outputs are checked before any work, and names an output cannot hold are refused in one line (issue 34,
cases 11, 14, 15 and 16)."""

from __future__ import annotations

import pytest
from conftest import run_main, write_image, write_points


@pytest.fixture
def store(tmp_path, capsys):
    root = tmp_path / "ann"
    write_points(root, "a", [[10, 10], [20, 20]])
    path = tmp_path / "s.h5"
    assert run_main(["density", "--from", "points", "--root", root, "--split", "all", "--out", path], capsys)[0] == 0
    return path


@pytest.mark.parametrize("split", [".headcount-export", "a b", ".", "a/b", "../x"])
def test_an_export_split_that_cannot_name_a_folder_is_refused(store, tmp_path, capsys, split):
    """Case 11: --split .headcount-export ended in a FileExistsError traceback; case 15: 'a b' wrote a list
    file P2PNet's whitespace split cannot read."""
    code, err = run_main(["export", store, "--to", "p2pnet", "--split", split, "--out", tmp_path / "e"], capsys)
    assert code == 2 and err.startswith("error: --split: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_points_of_two_images_with_one_name_are_refused_before_counting(tmp_path, capsys):
    """Case 14: a/IMG_1.jpg and b/IMG_1.jpg wrote two IMG_1 groups, which score reads as one image."""
    for folder in ("a", "b"):
        write_image(tmp_path / folder / "IMG_1.jpg", 64, 48)
    args = ["count", tmp_path / "a" / "IMG_1.jpg", tmp_path / "b" / "IMG_1.jpg", "--points", tmp_path / "p.csv"]
    code, err = run_main(args, capsys)
    assert code == 2 and "share the id 'IMG_1'" in err and not (tmp_path / "p.csv").exists()


def test_a_foreign_points_file_is_refused_before_any_image_is_counted(tmp_path, capsys):
    """Case 16: the refusal came after counting every image. A broken image shows the order: the points file
    is refused first, so the image is never opened."""
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "theirs.csv").write_text("name,value\nx,1\n")
    code, err = run_main(["count", tmp_path / "broken.jpg", "--points", tmp_path / "theirs.csv"], capsys)
    assert code == 2 and "theirs.csv" in err and "broken.jpg" not in err, err
    assert (tmp_path / "theirs.csv").read_text() == "name,value\nx,1\n"


def test_a_scale_that_leaves_an_image_under_one_model_cell_is_refused(tmp_path, capsys):
    """Issue 34, minor: --scale 1e-9 counted a 1-px image (0.0 heads, exit 0)."""
    image = write_image(tmp_path / "a.jpg", 64, 48)
    code, err = run_main(["count", image, "--scale", "1e-9"], capsys)
    assert code == 1 and "under one 8 px model cell" in err and len(err.strip().splitlines()) == 1, err
    assert run_main(["count", image, "--scale", "0.2"], capsys)[0] == 0  # 13x10 px: one cell, counted
