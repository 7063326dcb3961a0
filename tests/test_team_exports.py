"""Exports keep the team's work: who added each head, the status and who set it, and the last review travel
through CVAT, Label Studio and COCO in their own fields, and the project's readers give them back.

Defect from trying the product: the CVAT export put all 1,602 heads of an image in one ``<points>`` shape,
and ``by`` and the review were not exported at all.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import write_image

from pipeline.pointfile import PointFile, write_point_file
from pipeline.readers import read
from pipeline.work import Review
from pipeline.writers.convert import convert


@pytest.fixture
def team_folder(tmp_path):
    """An annotation folder: one image reviewed (ann and bo's heads, accepted by rita), one still to do."""
    folder = tmp_path / "ann"
    write_image(folder / "images" / "a.jpg", 64, 48)
    write_image(folder / "images" / "b.jpg", 64, 48)
    (folder / "points").mkdir()
    a = PointFile(
        "images/a.jpg", width=64, height=48, revision=5, status="reviewed",
        points=np.array([[1.5, 2.5], [10.25, 20.0], [30.0, 40.0]]),
        by=("ann", "bo", None), status_by="rita", review=Review("accepted", "rita", "good & <fine>"),
    )  # fmt: skip
    write_point_file(folder / "points" / "a.json", a)
    write_point_file(
        folder / "points" / "b.json",
        PointFile("images/b.jpg", width=64, height=48, revision=1, points=np.array([[5.0, 5.0]])),
    )
    return folder


@pytest.mark.parametrize("fmt", ["cvat", "label_studio", "coco", "points"])
def test_the_team_record_reads_back_from_each_format(team_folder, tmp_path, fmt):
    out = tmp_path / fmt
    convert(read("points", team_folder, "all"), fmt, out, "all")
    back = {s.image_id: s for s in read(fmt, out, "all")}
    a = back["a"]
    assert np.array_equal(a.points, [[1.5, 2.5], [10.25, 20.0], [30.0, 40.0]])
    assert a.work.by == ("ann", "bo", None) and a.work.status == "reviewed" and a.work.status_by == "rita"
    assert a.work.review == Review("accepted", "rita", "good & <fine>")
    b = back["b"].work
    assert b is None or (not b.named and b.status == "todo")  # nothing to carry: nothing written


def test_cvat_gets_one_points_shape_per_head_with_who_added_it(team_folder, tmp_path):
    convert(read("points", team_folder, "all"), "cvat", tmp_path / "cvat", "all")
    root = ET.parse(tmp_path / "cvat" / "annotations.xml").getroot()
    image = next(im for im in root.iter("image") if im.attrib["name"] == "a.jpg")
    shapes = image.findall("points")
    assert len(shapes) == 3 and all(";" not in s.attrib["points"] for s in shapes)
    assert [[a.text for a in s.findall("attribute")] for s in shapes] == [["ann"], ["bo"], []]
    tag = image.find("tag")
    assert tag.attrib["label"] == "headcount"
    assert {a.attrib["name"]: a.text for a in tag.findall("attribute")}["review_verdict"] == "accepted"


def test_label_studio_names_the_annotator_in_completed_by_and_the_review_in_reviews(team_folder, tmp_path):
    convert(read("points", team_folder, "all"), "label_studio", tmp_path / "ls", "all")
    task = json.loads((tmp_path / "ls" / "tasks.json").read_text())[0]
    annotation = task["annotations"][0]
    assert annotation["completed_by"] == {"email": "rita"}
    assert annotation["reviews"] == [{"accepted": True, "created_by": {"email": "rita"}, "comment": "good & <fine>"}]
    assert [r.get("meta") for r in annotation["result"]] == [{"by": "ann"}, {"by": "bo"}, None]
