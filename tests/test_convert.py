import json
import re

import numpy as np
import pytest
from conftest import write_image, write_sha

from pipeline.errors import ConfigError, DataError
from pipeline.readers import read
from pipeline.writers import writable
from pipeline.writers.convert import convert


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


@pytest.mark.filterwarnings("ignore:.*not found; skipped")
def test_shanghaitech_to_ucf_cc_50_reads_back_with_the_fold_protocol(tmp_path):
    pts = {3: np.array([[4.0, 5.0], [30.25, 40.5]]), 12: np.array([[1.5, 2.5]])}
    write_sha(tmp_path / "sha", "test", pts)
    assert convert(read("shanghaitech", tmp_path / "sha", "test"), "ucf_cc_50", tmp_path / "ucf", "test") == (2, 0)
    # image 3 is in fold 1's test split, image 12 in its training split
    test = {s.image_id: s.points for s in read("ucf_cc_50", tmp_path / "ucf", "test", fold=1)}
    train = {s.image_id: s.points for s in read("ucf_cc_50", tmp_path / "ucf", "train", fold=1)}
    assert list(test) == ["3"] and np.array_equal(test["3"], pts[3])
    assert list(train) == ["12"] and np.array_equal(train["12"], pts[12])


def test_ucf_cc_50_needs_numbered_images(tmp_path):
    from conftest import write_points

    write_points(tmp_path / "ann", "crowd", [[1.0, 1.0]])
    with pytest.raises(DataError, match="crowd.png: ucf_cc_50 names images by number"):
        convert(read("points", tmp_path / "ann", "all"), "ucf_cc_50", tmp_path / "ucf", "test")


def test_unknown_target_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot write"):
        convert([], "vgg", tmp_path, "all")


# how to read back what each writer wrote: (split to write, read options per split)
READ_BACK = {
    "shanghaitech": ("test", [("test", {})]),
    "ucf_cc_50": ("all", [("test", {"fold": 1}), ("train", {"fold": 1})]),
    "points": ("all", [("all", {})]),
    "qnrf": ("test", [("test", {})]),
    "jhu": ("val", [("val", {})]),
    "nwpu": ("val", [("val", {})]),
    "labelme": ("all", [("all", {})]),
    "cvat": ("train", [("train", {})]),
    "label_studio": ("all", [("all", {})]),
    "coco": ("all", [("all", {})]),
}


@pytest.mark.filterwarnings("ignore:.*not found; skipped")
@pytest.mark.parametrize("fmt", writable())
def test_every_writable_format_reads_back_what_it_wrote(tmp_path, fmt):
    """A round trip through each registered writer and its reader keeps every in-image point."""
    assert set(writable()) <= set(READ_BACK), "a new writer needs its read-back recipe here"
    pts = {3: np.array([[4.0, 5.0], [30.25, 40.5]]), 12: np.array([[1.5, 2.5]]), 17: np.zeros((0, 2))}
    write_sha(tmp_path / "sha", "test", pts)
    split, reads = READ_BACK[fmt]
    assert convert(read("shanghaitech", tmp_path / "sha", "test"), fmt, tmp_path / fmt, split) == (3, 0)
    back = {}
    for read_split, options in reads:
        for s in read(fmt, tmp_path / fmt, read_split, **options):
            back[int(re.search(r"(\d+)$", s.image_id).group(1))] = s.points
    assert back.keys() == pts.keys()
    assert all(np.array_equal(back[n], pts[n]) for n in pts)


def test_export_writes_a_stores_annotations_in_another_format(tmp_path, sha_root):
    from click.testing import CliRunner

    from pipeline.build import build_split
    from pipeline.cli import cli
    from pipeline.store import read_split

    build_split("shanghaitech", sha_root, "test", tmp_path / "test.h5", progress=False)
    r = CliRunner().invoke(cli, ["export", str(tmp_path / "test.h5"), "--to", "jhu", "--out", str(tmp_path / "j")])
    assert r.exit_code == 0, r.output
    (back,) = read("jhu", tmp_path / "j", "test")
    rec = read_split(tmp_path / "test.h5")["IMG_3"]
    assert back.image_id == "IMG_3" and np.array_equal(back.points, rec.points.astype(np.float64))


def test_convert_from_an_annotation_folder_takes_the_annotated_images_and_says_how_many_it_skipped(tmp_path):
    """It used to fail on the whole folder when any image had no point file yet."""
    from click.testing import CliRunner

    from pipeline.cli import cli
    from pipeline.pointfile import PointFile, write_point_file

    ann = tmp_path / "ann"
    (ann / "images").mkdir(parents=True)
    for name in ("a", "b", "c"):
        write_image(ann / "images" / f"{name}.jpg", 40, 30)
    for name, status in (("a", "done"), ("b", "todo")):  # c: not annotated yet
        write_point_file(
            ann / "points" / f"{name}.json",
            PointFile(f"images/{name}.jpg", width=40, height=30, revision=3, points=[[5.5, 6.5]], status=status),
        )
    args = ["convert", "--from", "points", "--root", str(ann), "--split", "all", "--to", "shanghaitech"]
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "all"), "--out-split", "train"])
    assert r.exit_code == 0, r.output
    assert "wrote 2 images" in r.output and "skipped 1 image(s) not annotated yet" in r.output
    assert sorted(s.image_id for s in read("shanghaitech", tmp_path / "all", "train")) == ["a", "b"]
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "done"), "--out-split", "train", "--status", "done"])
    assert r.exit_code == 0 and "wrote 1 images" in r.output and "skipped 2 image(s) not done" in r.output
    assert [s.image_id for s in read("shanghaitech", tmp_path / "done", "train")] == ["a"]


def test_the_readmes_convert_to_points_gives_a_folder_that_annotate_opens(tmp_path):
    """Defect: ``convert --split test --to points --out DIR`` wrote DIR/test/, and ``annotate DIR`` then failed
    with "DIR/images: folder not found". An annotation folder is written at --out itself."""
    from click.testing import CliRunner

    from annotate.catalog import Catalog
    from pipeline.cli import cli

    write_sha(tmp_path / "sha", "test", {1: np.array([[1.5, 2.5]]), 2: np.array([[3.0, 4.0]])})
    args = ["convert", "--from", "shanghaitech", "--root", str(tmp_path / "sha"), "--split", "test"]
    r = CliRunner().invoke(cli, [*args, "--to", "points", "--out", str(tmp_path / "fix")])
    assert r.exit_code == 0, r.output
    assert sorted(Catalog(tmp_path / "fix").entries) == ["IMG_1", "IMG_2"]
    r = CliRunner().invoke(cli, [*args, "--to", "points", "--out", str(tmp_path / "nested"), "--out-split", "test"])
    assert r.exit_code == 0 and (tmp_path / "nested" / "test" / "points" / "IMG_1.json").is_file()  # asked for
