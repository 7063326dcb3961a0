"""The dataset report: the numbers, the problems table and a page that needs nothing from outside."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_sha
from PIL import Image

from pipeline.build import build_split
from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.report import write_report


@pytest.fixture
def problem_store(tmp_path):
    grid = np.stack(np.meshgrid(np.arange(6) * 10 + 5.5, np.arange(5) * 9 + 4.5), -1).reshape(-1, 2)
    items = {
        1: grid,  # 30 heads, none on a shared pixel
        2: np.array([[10.2, 10.2], [10.7, 10.4], [30.5, 20.5], [70.0, 5.0]]),  # a duplicate pixel, one outside
        3: np.zeros((0, 2)),  # no one
    }
    write_sha(tmp_path / "sha", "train", items)
    build_split("shanghaitech", tmp_path / "sha", "train", tmp_path / "train.h5", progress=False)
    return tmp_path / "train.h5"


def test_report_counts_problems_by_kind_and_names_the_images(problem_store, tmp_path):
    index = write_report(problem_store, tmp_path / "rep")
    r = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert r["images"] == 3 and r["heads"] == 30 + 3 and r["count"]["max"] == 30 and r["count"]["min"] == 0
    kinds = r["problem_kinds"]
    assert kinds["duplicate points merged"] == 1 and kinds["points outside the image"] == 1
    assert kinds["empty images"] == 1
    by_image = {p["image_id"]: p["problems"] for p in r["problems"]}
    assert by_image["IMG_2"] == ["1 point(s) outside the image", "1 duplicate point(s) merged"]
    assert r["examples"] == {"densest": "IMG_1", "median": "IMG_2", "sparsest": "IMG_3"}
    page = index.read_text()
    assert "IMG_2" in page and "duplicate points merged" in page
    assert not re.search(r"<script|https?://|src=\"/", page)  # self-contained: nothing from outside
    for name in re.findall(r'src="([^"]+)"', page):
        with Image.open(tmp_path / "rep" / name) as im:  # every image the page shows is there, as a PNG
            assert im.format == "PNG" and im.width >= 64
    counts = (tmp_path / "rep" / "counts.csv").read_text().splitlines()
    assert counts[0] == "image,count" and len(counts) == 4


def test_report_never_overwrites_a_page_it_did_not_write(problem_store, tmp_path):
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "index.html").write_text("<html>my page</html>")
    r = CliRunner().invoke(cli, ["report", str(problem_store), "--out", str(tmp_path / "rep")])
    assert isinstance(r.exception, ConfigError) and "index.html: exists and is not a headcount report" in str(
        r.exception
    )
    assert (tmp_path / "rep" / "index.html").read_text() == "<html>my page</html>"
    write_report(problem_store, tmp_path / "rep2")
    write_report(problem_store, tmp_path / "rep2")  # its own page it replaces


def test_a_nan_sigma_is_reported_as_its_images_problem_not_a_crash(tiny_stores, tmp_path):
    import shutil

    import h5py

    store = shutil.copy(tiny_stores["train"], tmp_path / "s.h5")
    with h5py.File(store, "a") as f:
        group = f["images"][next(iter(f["images"]))]
        sigma = group["sigma"][...]
        sigma[0] = np.nan
        group["sigma"][...] = sigma
    page = write_report(store, tmp_path / "rep").read_text()
    assert "non-finite sigma" in page
    stats = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert "NaN" not in json.dumps(stats)
