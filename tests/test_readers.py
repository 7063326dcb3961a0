import json

import numpy as np
import pytest
import scipy.io
from conftest import write_image, write_points, write_sha, write_ucf

from pipeline.errors import ConfigError, DataError
from pipeline.readers import FORMATS, read
from pipeline.readers.shanghaitech import gt_mat_bytes
from pipeline.readers.ucf_cc_50 import fold_numbers


def test_registry_lists_the_formats():
    assert {"shanghaitech", "ucf_cc_50", "points"} <= set(FORMATS)
    with pytest.raises(ConfigError, match="unknown format"):
        read("nope", ".", "train")


def test_shanghaitech_reads_points_size_and_natural_order(sha_root):
    samples = list(read("shanghaitech", sha_root, "train"))
    assert [s.image_id for s in samples] == ["IMG_1", "IMG_2", "IMG_10"]
    assert samples[0].shape == (48, 64) and samples[0].points.shape == (7, 2)
    assert samples[0].points.dtype == np.float64


def test_shanghaitech_accepts_ground_underscore_truth(tmp_path):
    write_sha(tmp_path, "test", {4: np.array([[1.0, 2.0]])}, gt_dir="ground_truth")
    [s] = read("shanghaitech", tmp_path, "test")
    assert s.points.tolist() == [[1.0, 2.0]]


def test_shanghaitech_reads_the_official_nesting_with_an_empty_image(tmp_path):
    write_sha(tmp_path, "test", {1: np.zeros((0, 2))})
    [s] = read("shanghaitech", tmp_path, "test")
    assert s.points.shape == (0, 2)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda gt: gt.write_bytes(gt.read_bytes()[:150]), "corrupt or truncated"),
        (lambda gt: gt.write_bytes(b"not a mat file at all" * 10), "corrupt or truncated"),
        (lambda gt: scipy.io.savemat(gt, {"points": np.zeros((2, 2))}), "no 'image_info' variable"),
        (lambda gt: scipy.io.savemat(gt, {"image_info": np.zeros((1, 1))}), "unexpected structure"),
        (lambda gt: gt.write_bytes(gt_mat_bytes(np.array([[1.0, np.nan]]))), "non-finite"),
        (lambda gt: scipy.io.savemat(gt, {"image_info": _info(np.zeros((3, 5)))}), r"\(N, 2\)"),
        (lambda gt: gt.unlink(), "no ground truth for this image"),
    ],
)
def test_shanghaitech_errors_name_the_file(sha_root, damage, message):
    gt = sha_root / "train_data" / "ground-truth" / "GT_IMG_2.mat"
    damage(gt)
    with pytest.raises(DataError, match=message) as err:
        list(read("shanghaitech", sha_root, "train"))
    assert "IMG_2" in str(err.value)


def _info(location):
    struct = np.empty((1, 1), dtype=[("location", "O"), ("number", "O")])
    struct[0, 0]["location"] = location
    struct[0, 0]["number"] = np.array([[0.0]])
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = struct
    return cell


def test_ground_truth_without_an_image_is_an_error(sha_root):
    (sha_root / "train_data" / "images" / "IMG_10.jpg").unlink()
    with pytest.raises(DataError, match="GT_IMG_10.mat: ground truth without an image"):
        list(read("shanghaitech", sha_root, "train"))


def test_empty_split_and_missing_folder_are_errors(tmp_path):
    (tmp_path / "train_data" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match="empty split"):
        list(read("shanghaitech", tmp_path, "train"))
    with pytest.raises(DataError, match="test_data.*folder not found"):
        list(read("shanghaitech", tmp_path, "test"))
    with pytest.raises(ConfigError, match="splits"):
        list(read("shanghaitech", tmp_path, "val"))


def test_unreadable_image_is_an_error(sha_root):
    (sha_root / "train_data" / "images" / "IMG_1.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match="IMG_1.jpg: cannot read the image header"):
        list(read("shanghaitech", sha_root, "train"))


def test_ucf_folds_follow_the_protocol():
    assert fold_numbers(1, "test") == list(range(1, 11))
    assert fold_numbers(5, "test") == list(range(41, 51))
    assert len(fold_numbers(3, "train")) == 40 and 25 not in fold_numbers(3, "train")
    with pytest.raises(ConfigError, match="fold: ucf_cc_50 folds are 1..5"):
        fold_numbers(6, "test")


def test_ucf_reads_a_fold_and_warns_about_absent_numbers(tmp_path):
    write_ucf(tmp_path, [1, 2, 3, 12, 13])
    with pytest.warns(UserWarning, match=r"\[4, 5, 6, 7, 8, 9, 10\]"):
        test = list(read("ucf_cc_50", tmp_path, "test", fold=1))
    assert [s.image_id for s in test] == ["1", "2", "3"]
    with pytest.warns(UserWarning):
        train = list(read("ucf_cc_50", tmp_path, "train", fold=1))
    assert [s.image_id for s in train] == ["12", "13"]
    assert train[0].points.shape == (5, 2)


def test_ucf_errors(tmp_path):
    write_ucf(tmp_path, range(1, 11))
    with pytest.raises(ConfigError, match="needs a fold"):
        list(read("ucf_cc_50", tmp_path, "test"))
    scipy.io.savemat(tmp_path / "3_ann.mat", {"points": np.zeros((1, 2))})
    with pytest.raises(DataError, match="3_ann.mat: no 'annPoints'"):
        list(read("ucf_cc_50", tmp_path, "test", fold=1))
    (tmp_path / "4.jpg").unlink()
    with pytest.raises(DataError, match="4_ann.mat: ground truth without an image"):
        list(read("ucf_cc_50", tmp_path, "test", fold=1))
    write_image(tmp_path / "4.jpg", 64, 48)
    with pytest.raises(DataError, match="empty split"), pytest.warns(UserWarning):
        list(read("ucf_cc_50", tmp_path, "test", fold=2))


def test_points_format_round_trip_and_errors(tmp_path):
    write_points(tmp_path, "a", [[1.5, 2.5], [3.0, 4.0]])
    write_points(tmp_path, "b", [])
    samples = list(read("points", tmp_path, "all"))
    assert [s.image_id for s in samples] == ["a", "b"]
    assert samples[0].points.tolist() == [[1.5, 2.5], [3.0, 4.0]] and samples[1].points.shape == (0, 2)

    write_image(tmp_path / "images" / "c.jpg", 64, 48)
    with pytest.raises(DataError, match="c.jpg: no ground truth"):
        list(read("points", tmp_path, "all"))
    assert [s.image_id for s in read("points", tmp_path, "all", unannotated="skip")] == ["a", "b"]

    doc = json.loads((tmp_path / "points" / "a.json").read_text())
    doc["width"] = 100
    (tmp_path / "points" / "a.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="a.json: annotated for a 100x48 image"):
        list(read("points", tmp_path, "all", unannotated="skip"))
    (tmp_path / "points" / "a.json").write_text("{broken")
    with pytest.raises(DataError, match="a.json: not a readable JSON"):
        list(read("points", tmp_path, "all", unannotated="skip"))
    (tmp_path / "points" / "a.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(DataError, match="a.json: not a headcount point file"):
        list(read("points", tmp_path, "all", unannotated="skip"))
