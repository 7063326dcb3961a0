import json
import re
import sys
import warnings

import numpy as np
import pytest
import scipy.io
from conftest import write_image, write_points, write_sha, write_ucf

from pipeline.errors import ConfigError, DataError
from pipeline.readers import FORMATS, read
from pipeline.readers.matfile import gt_mat_bytes
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


@pytest.mark.parametrize(
    ("change", "problem"),
    [  # each was read before the point file was declared (pipeline.pointfile.PointDoc)
        ({"revision": 2**54}, r"revision: input should be less than or equal to 9007199254740992"),  # past JS
        ({"image": ""}, r"image: string should have at least 1 character"),
        ({"tiles": {"cols": 2, "rows": 2, "done": [0], "extra": 1}, "ids": [0, 1.0]}, r"ids\[1\]: input should"),
    ],
)
def test_a_point_file_is_read_against_its_declared_structure(tmp_path, change, problem):
    write_points(tmp_path, "a", [[1.0, 2.0], [3.0, 4.0]])
    doc = json.loads((tmp_path / "points" / "a.json").read_text())
    doc.update(version=4, ids=[0, 1], next_id=2, by=[None, None], status="todo")
    (tmp_path / "points" / "a.json").write_text(json.dumps(doc))
    assert len(next(iter(read("points", tmp_path, "all"))).points) == 2
    (tmp_path / "points" / "a.json").write_text(json.dumps({**doc, **change}))
    with pytest.raises(DataError, match="a.json: " + problem):
        list(read("points", tmp_path, "all"))


def test_qnrf_reads_train_and_test_folders(tmp_path):
    for folder, n in (("Train", 1), ("Test", 2)):
        write_image(tmp_path / folder / f"img_{n:04d}.jpg", 64, 48)
        scipy.io.savemat(tmp_path / folder / f"img_{n:04d}_ann.mat", {"annPoints": np.array([[3.5, 4.5], [60, 40]])})
    (train,) = read("qnrf", tmp_path, "train")
    assert train.image_id == "img_0001" and train.points.tolist() == [[3.5, 4.5], [60, 40]]
    assert [s.image_id for s in read("qnrf", tmp_path, "test")] == ["img_0002"]
    scipy.io.savemat(tmp_path / "Test" / "img_0002_ann.mat", {"points": np.zeros((1, 2))})
    with pytest.raises(DataError, match=r"img_0002_ann.mat: no 'annPoints'.*UCF-QNRF"):
        list(read("qnrf", tmp_path, "test"))
    with pytest.raises(ConfigError, match="qnrf splits are train, test"):
        list(read("qnrf", tmp_path, "val"))


def test_jhu_reads_points_and_head_sizes_and_empty_images(tmp_path):
    for name, lines in (("0001", "10 20 4 9 1 0\n30.5 40.5 8 8 2 1\n"), ("0002", "")):
        write_image(tmp_path / "val" / "images" / f"{name}.jpg", 64, 48)
        (tmp_path / "val" / "gt").mkdir(exist_ok=True)
        (tmp_path / "val" / "gt" / f"{name}.txt").write_text(lines)
    a, b = read("jhu", tmp_path, "val")
    assert a.points.tolist() == [[10, 20], [30.5, 40.5]] and a.sizes.tolist() == [6.0, 8.0]  # sqrt(w h)
    assert b.points.shape == (0, 2) and b.sizes.shape == (0,)  # a distractor image: no one in it
    (tmp_path / "val" / "gt" / "0002.txt").write_text("10 20 x 9 1 0\n")
    with pytest.raises(DataError, match=r"0002.txt: line 1: expected numbers"):
        list(read("jhu", tmp_path, "val"))
    (tmp_path / "val" / "gt" / "0002.txt").unlink()
    with pytest.raises(DataError, match=r"0002.jpg: no ground truth"):
        list(read("jhu", tmp_path, "val"))


def _nwpu(root, ids, split, labelled=True):
    for i in ids:
        write_image(root / "images" / f"{i}.jpg", 64, 48)
        if labelled:
            doc = {
                "img_id": f"{i}.jpg",
                "human_num": 2,
                "points": [[5, 6], [20, 30]],
                "boxes": [[1, 2, 9, 10], [15, 25, 25, 35]],
            }
            (root / "jsons").mkdir(exist_ok=True)
            (root / "jsons" / f"{i}.json").write_text(json.dumps(doc))
    (root / f"{split}.txt").write_text("".join(f"{i} 1 2\n" for i in ids))


def test_nwpu_reads_split_lists_boxes_and_an_unlabelled_test_split(tmp_path):
    _nwpu(tmp_path, ["3098", "3099"], "train")
    _nwpu(tmp_path, ["3610"], "test", labelled=False)
    train = list(read("nwpu", tmp_path, "train"))
    assert [s.image_id for s in train] == ["3098", "3099"] and train[0].sizes.tolist() == [8.0, 10.0]
    (test,) = read("nwpu", tmp_path, "test")
    assert not test.labelled and test.points.shape == (0, 2) and test.shape == (48, 64)  # counting only
    (tmp_path / "jsons" / "3099.json").write_text('{"points": [[1, 2]], "boxes": [[0, 0, 1, 1], [0, 0, 2, 2]]}')
    with pytest.raises(DataError, match=r"3099.json: 2 boxes for 1 points"):
        list(read("nwpu", tmp_path, "train"))
    (tmp_path / "jsons" / "3099.json").write_text('{"human_num": 3, "points": [[1, 2]]}')
    with pytest.raises(DataError, match=r"3099.json: human_num is 3 but the file has 1 points"):
        list(read("nwpu", tmp_path, "train"))
    (tmp_path / "train.txt").write_text("4000 1 1\n")
    with pytest.raises(DataError, match=r"4000.jpg: image listed in the split but not found"):
        list(read("nwpu", tmp_path, "train"))


def test_an_unlabelled_image_never_becomes_a_density_map(tmp_path):
    from pipeline.build import build_split

    _nwpu(tmp_path, ["3610"], "test", labelled=False)
    with pytest.raises(DataError, match=r"3610.jpg: no public labels"):
        build_split("nwpu", tmp_path, "test", tmp_path / "test.h5", progress=False)
    assert not (tmp_path / "test.h5").exists()


def test_labelme_reads_point_shapes_only(tmp_path):
    write_image(tmp_path / "a.jpg", 64, 48)
    shapes = [
        {"label": "head", "points": [[5.5, 6.5]], "shape_type": "point"},
        {"label": "head", "points": [[1, 1], [9, 9]], "shape_type": "rectangle"},  # not a head point
        {"label": "dog", "points": [[30, 30]], "shape_type": "point"},
    ]
    doc = {"imagePath": "a.jpg", "imageHeight": 48, "imageWidth": 64, "shapes": shapes, "imageData": None}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    (s,) = read("labelme", tmp_path, "all")
    assert s.image_id == "a" and s.points.tolist() == [[5.5, 6.5], [30, 30]]
    (s,) = read("labelme", tmp_path, "all", label="head")
    assert s.points.tolist() == [[5.5, 6.5]]
    (tmp_path / "a.json").write_text(json.dumps({**doc, "imageWidth": 65}))
    with pytest.raises(DataError, match=r"a.json: annotated for a 65x48 image but a.jpg is 64x48"):
        list(read("labelme", tmp_path, "all"))
    (tmp_path / "a.json").write_text(json.dumps({**doc, "imagePath": "missing.jpg"}))
    with pytest.raises(DataError, match=r"a.json: its imagePath 'missing.jpg' is not an image"):
        list(read("labelme", tmp_path, "all"))


@pytest.mark.parametrize(
    ("fmt", "change", "problem"),
    [
        # each was read before the formats were declared: text where a number belongs became a number, or a
        # head was dropped without a word
        ("nwpu", lambda d: d.update(boxes=[[1, 2, 9, "10"], [15, 25, 25, 35]]), r"boxes\[0\]\[3\]: .*valid number"),
        ("nwpu", lambda d: d.update(human_num=2.0), r"human_num: input should be a valid integer \(got 2.0\)"),
        ("labelme", lambda d: d["shapes"][0].update(label=7), r"shapes\[0\].label: input should be a valid string"),
        ("labelme", lambda d: d["shapes"][1].update(points=[[1, 1], [9, 9e300]]), r"shapes\[1\].points\[1\]\[1\]"),
        ("labelme", lambda d: d.update(imageWidth=True), r"imageWidth: input should be a valid integer \(got True\)"),
    ],
)
def test_a_field_of_the_wrong_type_is_named_as_the_declared_format_is_read(tmp_path, fmt, change, problem):
    """NWPU and labelme files are checked against their declared structure (`pipeline.schema`) before any
    value is used: the first wrong field is named in one line."""
    if fmt == "nwpu":
        _nwpu(tmp_path, ["3098"], "train")
        path, args, options = tmp_path / "jsons" / "3098.json", ("train",), {}
    else:
        write_image(tmp_path / "a.jpg", 64, 48)
        shapes = [{"label": "head", "points": [[5, 6]], "shape_type": "point"}]
        shapes.append({"label": "head", "points": [[1, 1], [9, 9]], "shape_type": "rectangle"})
        path, args, options = tmp_path / "a.json", ("all",), {"label": "head"}
        path.write_text(json.dumps({"imagePath": "a.jpg", "imageHeight": 48, "imageWidth": 64, "shapes": shapes}))
    doc = json.loads(path.read_text())
    assert len(list(read(fmt, tmp_path, *args, **options))) == 1  # the valid file reads
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=re.escape(path.name) + ": " + problem):
        list(read(fmt, tmp_path, *args, **options))


CVAT_XML = """<annotations>
  <version>1.1</version>
  <meta><task><name>crowd</name><size>2</size><mode>annotation</mode></task></meta>
  <image id="0" name="street.jpg" width="64" height="48" subset="Train">
    <points label="head" source="manual" occluded="0" points="10.50,20.25;30.00,40.00" z_order="0">
    </points>
    <points label="head" source="manual" occluded="1" points="63.25,0.75" z_order="0"></points>
    <box label="head" source="manual" occluded="0" xtl="40.00" ytl="10.00" xbr="46.00" ybr="18.00" z_order="0">
    </box>
    <polygon label="crowd region" source="manual" occluded="0" points="0.00,0.00;20.00,0.00;20.00,20.00"
     z_order="0"></polygon>
    <polyline label="head" source="manual" occluded="0" points="1.00,1.00;2.00,2.00" z_order="0"></polyline>
    <points label="car" source="manual" occluded="0" points="5.00,5.00" z_order="0"></points>
    <tag label="night" source="manual"></tag>
  </image>
  <image id="1" name="square.jpg" width="32" height="32" subset="Validation">
    <points label="head" source="manual" occluded="0" points="16.00,16.00" z_order="0"></points>
  </image>
</annotations>
"""


def test_a_cvat_export_reads_the_heads_of_points_and_boxes_and_skips_other_shapes(tmp_path):
    """As CVAT for images 1.1 writes it (no XML declaration here): three head points in two elements, a head
    box (centre (43, 14), size sqrt(6 x 8)), and a polygon, a polyline, a car and a tag that are no heads."""
    (tmp_path / "annotations.xml").write_text(CVAT_XML)
    write_image(tmp_path / "images" / "Train" / "street.jpg", 64, 48)
    write_image(tmp_path / "images" / "Validation" / "square.jpg", 32, 32)
    (street,) = read("cvat", tmp_path, "Train", label="head")
    assert street.image_id == "street" and street.shape == (48, 64)
    assert street.points.tolist() == [[10.5, 20.25], [30.0, 40.0], [63.25, 0.75], [43.0, 14.0]]
    assert street.sizes.tolist() == pytest.approx([0, 0, 0, 48**0.5])
    everything = {s.image_id: s for s in read("cvat", tmp_path, "all")}
    assert len(everything["street"].points) == 5  # without a label filter the car's point counts too
    assert everything["square"].points.tolist() == [[16.0, 16.0]] and everything["square"].sizes is None
    with pytest.raises(DataError, match="no images in subset 'Test'"):
        list(read("cvat", tmp_path, "Test"))


def test_a_cvat_export_that_names_a_missing_image_or_the_wrong_size_is_one_line(tmp_path):
    (tmp_path / "annotations.xml").write_text(CVAT_XML)
    write_image(tmp_path / "images" / "Train" / "street.jpg", 60, 48)
    with pytest.raises(DataError, match="street.jpg: declared 64x48 but the file is 60x48"):
        list(read("cvat", tmp_path, "Train"))
    with pytest.raises(DataError, match="image 'square.jpg' not found"):
        list(read("cvat", tmp_path, "Validation"))
    (tmp_path / "annotations.xml").write_text("<annotations><image name='a.jpg'")
    with pytest.raises(DataError, match="not well-formed XML"):
        list(read("cvat", tmp_path, "all"))
    write_image(tmp_path / "images" / "Train" / "street.jpg", 64, 48)
    (tmp_path / "annotations.xml").write_text(CVAT_XML.replace('width="64"', 'width="64.9"'))  # read as 64 once
    with pytest.raises(DataError, match=r"<image name='street.jpg'> width: input should be a valid integer.*'64.9'"):
        list(read("cvat", tmp_path, "Train"))


def test_a_cvat_dataset_makes_density_maps_with_box_sizes(tmp_path):
    from pipeline.build import build_split
    from pipeline.kernels import DensityParams
    from pipeline.store import read_split

    (tmp_path / "annotations.xml").write_text(CVAT_XML)
    write_image(tmp_path / "images" / "Train" / "street.jpg", 64, 48)
    params = DensityParams(method="box", border="renormalize")
    build_split("cvat", tmp_path, "Train", tmp_path / "s.h5", params=params, reader_options={"label": "head"})
    rec = read_split(tmp_path / "s.h5")["street"]
    # heads in row-major pixel order: (63, 0), then the box's centre (43, 14) with sigma 0.3 x its size
    assert rec.count == 4 and float(rec.sigma[1]) == pytest.approx(0.3 * 48**0.5, rel=1e-6)


def _ls_keypoint(x, y, label="head", w=64, h=48):
    return {
        "id": f"k{x}",
        "type": "keypointlabels",
        "from_name": "kp",
        "to_name": "image",
        "original_width": w,
        "original_height": h,
        "image_rotation": 0,
        "value": {"x": x, "y": y, "width": 0.6, "keypointlabels": [label]},
    }


LABEL_STUDIO = [
    {
        "id": 11,
        "data": {"image": "/data/upload/3/1f2e3d4c-street.jpg"},
        "annotations": [
            {
                "id": 21,
                "completed_by": 1,
                "updated_at": "2026-11-30T10:00:00Z",
                "result": [_ls_keypoint(25.0, 50.0), _ls_keypoint(12.5, 75.0), _ls_keypoint(50.0, 50.0, "car")],
            },
            {
                "id": 22,
                "completed_by": {"id": 2, "email": "bo@example.org"},
                "updated_at": "2026-12-01T09:00:00Z",
                "result": [
                    _ls_keypoint(25.0, 50.0),
                    {
                        "id": "r1",
                        "type": "rectanglelabels",
                        "from_name": "box",
                        "to_name": "image",
                        "original_width": 64,
                        "original_height": 48,
                        "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["crowd"]},
                    },
                    {"type": "relation", "from_id": "k25.0", "to_id": "r1", "direction": "right"},
                ],
            },
        ],
        "predictions": [],
    },
    {"id": 12, "data": {"image": "https://example.org/images/unlabelled.jpg"}, "annotations": []},
]


def test_a_label_studio_export_reads_keypoints_in_pixels_from_the_chosen_annotation(tmp_path):
    """Percentages of original_width/height: (25 %, 50 %) of 64x48 is (16, 24) and (12.5 %, 75 %) is (8, 36).
    The rectangle and the relation are no heads; the task nobody annotated is passed over."""
    (tmp_path / "export.json").write_text(json.dumps(LABEL_STUDIO))
    write_image(tmp_path / "images" / "street.jpg", 64, 48)  # found without Label Studio's upload prefix
    with pytest.warns(UserWarning, match="task 11 has 2 annotations; reading 22 by bo@example.org"):
        (latest,) = read("label_studio", tmp_path, "all")
    assert latest.image_id == "street" and latest.points.tolist() == [[16.0, 24.0]]
    (first,) = read("label_studio", tmp_path, "all", annotator="1", label="head")
    assert first.points.tolist() == [[16.0, 24.0], [8.0, 36.0]]  # the car's keypoint is filtered out
    (everything,) = read("label_studio", tmp_path, "all", annotator="1")
    assert len(everything.points) == 3
    with pytest.raises(ConfigError, match="no task annotated by 'nobody'"):
        list(read("label_studio", tmp_path, "all", annotator="nobody"))


def test_a_label_studio_task_on_an_image_of_another_size_is_refused(tmp_path):
    (tmp_path / "export.json").write_text(json.dumps(LABEL_STUDIO))
    write_image(tmp_path / "images" / "street.jpg", 32, 48)
    with pytest.raises(DataError, match="task 11: annotated on a 64x48 image but the file is 32x48"):
        list(read("label_studio", tmp_path, "all", annotator="1"))


COCO = {
    "images": [
        {"id": 7, "file_name": "street.jpg", "width": 64, "height": 48},
        {"id": 8, "file_name": "empty.jpg", "width": 32, "height": 32},
    ],
    "annotations": [
        {"id": 1, "image_id": 7, "category_id": 1, "keypoints": [10.5, 20.5, 2, 11.0, 14.0, 2], "num_keypoints": 2},
        {"id": 2, "image_id": 7, "category_id": 1, "keypoints": [30.0, 40.0, 1, 0, 0, 0], "num_keypoints": 1},
        {"id": 3, "image_id": 7, "category_id": 1, "keypoints": [0, 0, 0, 50.0, 5.0, 2], "num_keypoints": 1},
        {"id": 4, "image_id": 7, "category_id": 2, "bbox": [1, 1, 5, 5]},
    ],
    "categories": [{"id": 1, "name": "person", "keypoints": ["head", "neck"]}, {"id": 2, "name": "car"}],
}


def test_coco_keypoints_keep_the_labelled_head_of_each_person(tmp_path):
    """Heads are the "head" triples with v > 0: (10.5, 20.5) visible, (30, 40) occluded; person 3's head is
    unlabelled (v = 0). With keypoint="neck" the necks: (11, 14) and (50, 5)."""
    (tmp_path / "persons.json").write_text(json.dumps(COCO))
    write_image(tmp_path / "images" / "street.jpg", 64, 48)
    write_image(tmp_path / "images" / "empty.jpg", 32, 32)
    street, empty = read("coco", tmp_path, "all")
    assert street.points.tolist() == [[10.5, 20.5], [30.0, 40.0]] and empty.points.shape == (0, 2)
    assert next(read("coco", tmp_path, "all", keypoint="neck")).points.tolist() == [[11.0, 14.0], [50.0, 5.0]]
    with pytest.raises(ConfigError, match="no category has a keypoint 'ear'"):
        list(read("coco", tmp_path, "all", keypoint="ear"))


def _gt_with_number(points: np.ndarray, dtype) -> bytes:
    """A GT file as the released ones store it: `number` as the smallest unsigned type that holds it."""
    import io

    struct = np.empty((1, 1), dtype=[("location", "O"), ("number", "O")])
    struct[0, 0]["location"] = np.asarray(points, np.float64)
    struct[0, 0]["number"] = np.array([[len(points)]], dtype=dtype)
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = struct
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"image_info": cell})
    return buf.getvalue()


def test_part_a_traits_grayscale_jpegs_many_sizes_uint16_numbers_and_duplicates_train(tmp_path):
    """What the real Part A has that the synthetic default lacks (its files are not in ../shared): grayscale
    JPEGs among RGB ones, an image size per image, `number` as uint8 or uint16, and exact duplicate points."""
    from PIL import Image

    from pipeline.build import build_split
    from pipeline.store import read_split
    from pipeline.training_data import TrainingCrops

    rng = np.random.default_rng(0)
    images, gt = tmp_path / "train_data" / "images", tmp_path / "train_data" / "ground-truth"
    images.mkdir(parents=True), gt.mkdir(parents=True)
    sizes = {1: (70, 90, "L"), 2: (96, 64, "RGB"), 3: (120, 200, "L")}  # (h, w, mode)
    for i, (h, w, mode) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode).save(images / f"IMG_{i}.jpg")
    heads = {1: 40, 2: 300, 3: 12}  # 300 > 255: stored as uint16
    points = {i: rng.uniform(0, [sizes[i][1], sizes[i][0]], (n, 2)) for i, n in heads.items()}
    points[3][5] = points[3][4]  # an exact duplicate, as in 30 released Part A/B files
    for i, pts in points.items():
        (gt / f"GT_IMG_{i}.mat").write_bytes(_gt_with_number(pts, np.uint16 if len(pts) > 255 else np.uint8))
    samples = {s.image_id: s for s in read("shanghaitech", tmp_path, "train")}
    assert {i: (s.shape, len(s.points)) for i, s in samples.items()} == {
        f"IMG_{i}": ((h, w), heads[i]) for i, (h, w, _) in sizes.items()
    }
    store = tmp_path / "train.h5"
    build_split("shanghaitech", tmp_path, "train", store, workers=1, progress=False)
    records = read_split(store)
    assert records["IMG_3"].count == 12 and len(records["IMG_3"].sigma) == 11  # the duplicate merged into one head
    crops = TrainingCrops(store, crop=(64, 64), seed=0)
    assert {tuple(crops[k]["image"].shape) for k in range(3)} == {(64, 64, 3)}  # grayscale trains as RGB
    whole = TrainingCrops(store)
    assert [tuple(whole[k]["image"].shape) for k in range(3)] == [(70, 90, 3), (96, 64, 3), (120, 200, 3)]
    gray = whole[0]["image"].numpy()
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


def _coco_case(change):
    import copy

    doc = copy.deepcopy(COCO)
    change(doc)
    return doc


COCO_CASES = {  # issue 34, case 9 (each was a traceback) and case 13 (silently swapped heads)
    "keypoints an int": (lambda d: d["annotations"][0].update(keypoints=5), "annotations[0].keypoints"),
    "a category without id": (lambda d: d["categories"][0].pop("id"), "categories[0].id"),
    "category_id a list": (lambda d: d["annotations"][0].update(category_id=[1]), "annotations[0].category_id"),
    "image_id a list": (lambda d: d["annotations"][1].update(image_id=[7]), "annotations[1].image_id"),
    "keypoints text": (lambda d: d["annotations"][0].update(keypoints="10 20 2"), "annotations[0].keypoints"),
    "v text": (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, "2"), "annotations[0].keypoints[2]"),
    "v null": (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, None), "annotations[0].keypoints[2]"),
    "x text": (lambda d: d["annotations"][0]["keypoints"].__setitem__(0, "ten"), "annotations[0].keypoints[0]"),
    "x at 1e300": (lambda d: d["annotations"][0]["keypoints"].__setitem__(0, 1e300), "annotations[0].keypoints[0]"),
    "an image a string": (lambda d: d["images"].__setitem__(1, "empty.jpg"), "images[1]"),
    "v of 7": (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 7), "visibility 7, not 0, 1 or 2"),
    "two images with id 7": (lambda d: d["images"][1].update(id=7), "image id 7 is used twice"),
}


@pytest.mark.parametrize("case", COCO_CASES)
def test_a_malformed_coco_file_is_one_line_naming_the_field(tmp_path, case, capsys):
    from pipeline.cli import main

    change, where = COCO_CASES[case]
    (tmp_path / "persons.json").write_text(json.dumps(_coco_case(change)))
    write_image(tmp_path / "images" / "street.jpg", 64, 48)
    write_image(tmp_path / "images" / "empty.jpg", 32, 32)
    with pytest.raises(DataError, match=re.escape(where)) as err:
        list(read("coco", tmp_path, "all"))
    assert str(err.value).startswith(str(tmp_path / "persons.json")) and "\n" not in str(err.value)
    argv = sys.argv
    sys.argv = [
        "headcount",
        "density",
        "--from",
        "coco",
        "--root",
        str(tmp_path),
        "--split",
        "all",
        "--out",
        str(tmp_path / "o.h5"),
    ]
    try:
        with pytest.raises(SystemExit) as code:
            main()
    finally:
        sys.argv = argv
    lines = capsys.readouterr().err.strip().splitlines()
    assert code.value.code == 1 and len(lines) == 1 and where in lines[0] and "Traceback" not in lines[0]
    assert not (tmp_path / "o.h5").exists()


def _ls_case(change):
    import copy

    doc = copy.deepcopy(LABEL_STUDIO)
    change(doc)
    return doc


def _same_time_ids(d):  # two annotations with no time stamp, ids 1 and null: compared, never a TypeError
    a, b = d[0]["annotations"]
    a.update(id=1, updated_at=None)
    b.update(id=None, updated_at=None)


LS_CASES = {  # issue 34, case 10 (tracebacks) and the minor x: true (read as 1 %)
    "result a number": (lambda d: d[0]["annotations"][0].update(result=5), "[0].annotations[0].result"),
    "x true": (lambda d: d[0]["annotations"][1]["result"][0]["value"].update(x=True), "result[0]: value.x"),
    "y text": (lambda d: d[0]["annotations"][1]["result"][0]["value"].update(y="50"), "result[0]: value.y"),
    "a task a list": (lambda d: d.append([1, 2]), "task 2: no 'data' mapping"),
}


@pytest.mark.parametrize("case", LS_CASES)
def test_a_malformed_label_studio_export_is_one_line_naming_the_field(tmp_path, case):
    change, where = LS_CASES[case]
    (tmp_path / "export.json").write_text(json.dumps(_ls_case(change)))
    write_image(tmp_path / "images" / "street.jpg", 64, 48)
    with pytest.raises(DataError, match=re.escape(where)) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        list(read("label_studio", tmp_path, "all"))
    assert str(err.value).startswith(str(tmp_path / "export.json")) and "\n" not in str(err.value)


def test_label_studio_annotations_without_time_stamps_and_ids_one_and_null_pick_the_numbered(tmp_path):
    (tmp_path / "export.json").write_text(json.dumps(_ls_case(_same_time_ids)))
    write_image(tmp_path / "images" / "street.jpg", 64, 48)
    with pytest.warns(UserWarning, match="reading 1 by"):
        (sample,) = read("label_studio", tmp_path, "all")
    assert len(sample.points) == 3  # annotation 1's three keypoints


def test_a_head_far_outside_its_image_is_refused_as_it_is_read_and_a_slip_past_the_edge_is_kept(tmp_path):
    """Every reader's heads are bounded by their image (`Sample`): one image size of slack past an edge,
    where datasets have annotation slips, and a DataError beyond, before any arithmetic meets 1e300."""
    write_sha(tmp_path / "sha", "train", {1: np.array([[5.0, 6.0], [70.0, -3.0], [127.0, 95.0]])})
    (s,) = read("shanghaitech", tmp_path / "sha", "train")
    assert s.points.tolist() == [[5.0, 6.0], [70.0, -3.0], [127.0, 95.0]]  # kept: the border policy decides
    write_sha(tmp_path / "sha", "train", {1: np.array([[5.0, 6.0], [1e300, 5.0], [-65.0, 1.0]])})
    with pytest.raises(
        DataError,
        match=r"IMG_1.jpg: head #1 at \(1e\+300, 5\) lies more than an image size "
        r"outside the 64x48 image \(2 such\)",
    ):
        list(read("shanghaitech", tmp_path / "sha", "train"))


def test_the_cli_passes_reader_options_and_the_label_studio_warning_names_one_it_has(tmp_path, capsys):
    """The warning named "the reader's annotator option", which `density` had no way to give."""
    from tests.test_bad_input import run_main

    (tmp_path / "export.json").write_text(json.dumps(LABEL_STUDIO))
    write_image(tmp_path / "images" / "street.jpg", 64, 48)
    base = ["density", "--from", "label_studio", "--root", str(tmp_path), "--split", "all"]
    with pytest.warns(UserWarning, match="pick one with --option annotator=NAME"):
        assert run_main([*base, "--out", str(tmp_path / "latest.h5")], capsys)[0] == 0
    opts = ["--option", "annotator=1", "--option", "label=head"]
    assert run_main([*base, *opts, "--out", str(tmp_path / "first.h5")], capsys)[0] == 0
    from pipeline.store import read_split

    assert read_split(tmp_path / "first.h5")["street"].points.tolist() == [[16.0, 24.0], [8.0, 36.0]]
    code, err = run_main([*base, "--option", "fold=2", "--out", str(tmp_path / "x.h5")], capsys)
    assert code == 2 and "format 'label_studio' has no option 'fold' (it takes label, annotator)" in err, err
    write_ucf(tmp_path / "ucf", range(1, 21))
    ucf = ["density", "--from", "ucf_cc_50", "--root", str(tmp_path / "ucf"), "--split", "test"]
    code, err = run_main([*ucf, "--option", "fold=two", "--out", str(tmp_path / "u.h5")], capsys)
    assert code == 2 and "fold='two': fold is a whole number" in err, err
    assert run_main([*ucf, "--option", "fold=2", "--out", str(tmp_path / "u.h5")], capsys)[0] == 0
    assert sorted(read_split(tmp_path / "u.h5"), key=int) == [str(n) for n in range(11, 21)]  # fold 2's test
    code, err = run_main([*base, "--option", "annotator", "--out", str(tmp_path / "y.h5")], capsys)
    assert code == 2 and "'annotator' is not KEY=VALUE" in err, err
