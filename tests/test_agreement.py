"""`headcount agree`: two annotators' heads matched one to one, against a case worked out by hand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.pointfile import PointFile, write_point_file
from pipeline.scoring.agreement import agree

A = {"img1": [[10, 10], [20, 20], [30, 30]], "img2": [[5, 5]], "only_a": [[1, 1]]}
B = {"img1": [[11, 10], [20, 27], [50, 50], [30, 31]], "img2": [], "only_b": [[2, 2]]}


@pytest.fixture
def folders(tmp_path):
    for name, images in (("a", A), ("b", B)):
        for stem, pts in images.items():
            pf = PointFile(
                f"images/{stem}.jpg", width=64, height=64, revision=1, points=[[x + 0.5, y + 0.5] for x, y in pts]
            )
            write_point_file(tmp_path / name / "points" / f"{stem}.json", pf)
    return tmp_path / "a", tmp_path / "b"


def test_agreement_at_4_px_is_the_hand_computed_one(folders):
    """img1 at 4 px: (11,10)~(10,10) and (30,31)~(30,30) match, (20,27) is 7 px from (20,20), (50,50) is
    nobody's: TP 2, FP 2, FN 1. img2: A's one head is missed: FN 1. Overall TP 2, FP 2, FN 2."""
    r = agree(*folders, radius=4)
    img1, img2 = r["images"]["img1"], r["images"]["img2"]
    assert (img1["tp"], img1["fp"], img1["fn"], img1["count_difference"]) == (2, 2, 1, 1)
    assert img1["precision"] == 0.5 and img1["recall"] == pytest.approx(2 / 3) and img1["f1"] == pytest.approx(4 / 7)
    assert (img2["tp"], img2["fp"], img2["fn"], img2["precision"], img2["recall"], img2["f1"]) == (0, 0, 1, None, 0, 0)
    assert r["overall"] == {
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "count_difference": 1.0,
        "tp": 2,
        "fp": 2,
        "fn": 2,
    }
    assert r["only_a"] == ["only_a"] and r["only_b"] == ["only_b"] and r["n_images"] == 2


def test_a_wider_radius_matches_the_head_7_px_away_and_each_head_once(folders):
    r = agree(*folders, radius=8)
    assert (r["overall"]["tp"], r["overall"]["fp"], r["overall"]["fn"]) == (3, 1, 1)
    assert r["images"]["img1"]["f1"] == pytest.approx(6 / 7)


def test_the_command_prints_a_table_or_one_json_object(folders):
    a, b = (str(f) for f in folders)
    r = CliRunner().invoke(cli, ["agree", a, b, "--radius", "4", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["overall"]["f1"] == 0.5
    r = CliRunner().invoke(cli, ["agree", a, b, "--radius", "4"])
    assert r.exit_code == 0
    assert "2 images within 4 px: precision 50.0%, recall 50.0%, F1 50.0%, mean |count difference| 1.00" in r.stdout
    assert "img1" in r.stdout and "+1" in r.stdout


def test_folders_that_share_no_image_or_hold_no_points_are_one_line(tmp_path, folders):
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(cli, ["agree", str(folders[0]), str(tmp_path / "empty")])
    assert r.exit_code == 1 and "no point files" in str(r.exception)
