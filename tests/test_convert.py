import json

import numpy as np
import pytest
from conftest import write_sha

from pipeline.convert import convert
from pipeline.readers import read


def test_shanghaitech_to_points_and_back_keeps_every_point(tmp_path):
    pts = {1: np.array([[1.5, 2.5], [63.9, 47.9]]), 7: np.array([[10.0, 10.0], [70.0, 5.0]])}
    write_sha(tmp_path / "sha", "test", pts)
    n, dropped = convert(read("shanghaitech", tmp_path / "sha", "test"), "points", tmp_path / "ann", "all")
    assert (n, dropped) == (2, 1)  # (70, 5) lies outside the 64x48 image
    doc = json.loads((tmp_path / "ann" / "points" / "IMG_1.json").read_text())
    assert doc["image"] == "images/IMG_1.jpg" and doc["revision"] == 1 and doc["width"] == 64
    assert (tmp_path / "ann" / "images" / "IMG_7.jpg").read_bytes() == (
        tmp_path / "sha" / "test_data" / "images" / "IMG_7.jpg"
    ).read_bytes()

    convert(read("points", tmp_path / "ann", "all"), "shanghaitech", tmp_path / "back", "train")
    back = {s.image_id: s.points for s in read("shanghaitech", tmp_path / "back", "train")}
    assert np.array_equal(back["IMG_1"], pts[1]) and np.array_equal(back["IMG_7"], [[10.0, 10.0]])


def test_to_ucf_cc_50_layout(tmp_path):
    write_sha(tmp_path / "sha", "test", {3: np.array([[4.0, 5.0]])})
    convert(read("shanghaitech", tmp_path / "sha", "test"), "ucf_cc_50", tmp_path / "ucf", "test")
    assert (tmp_path / "ucf" / "IMG_3.jpg").exists()
    import scipy.io

    assert scipy.io.loadmat(tmp_path / "ucf" / "IMG_3_ann.mat")["annPoints"].tolist() == [[4.0, 5.0]]


def test_unknown_target_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot write"):
        convert([], "labelme", tmp_path, "all")
