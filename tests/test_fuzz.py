"""The fuzz tier: valid files of each JSON and YAML format, mutated at random (types swapped, values huge,
negative or deep, keys dropped, entries repeated, paths with .. or absolute), read by the project's readers.

The property: a read gives samples of finite in-image points, or the project's one-line error
(`DataError`, `ConfigError`), never another exception. Seeded (`derandomize`), a few dozen cases a format
in `make test`; ``HEADCOUNT_FUZZ=2000 pytest -m fuzz tests/test_fuzz.py`` runs a long campaign.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import write_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import ConfigError, DataError
from pipeline.live.lines import load_lines
from pipeline.live.zones import load_zones
from pipeline.readers import read

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("HEADCOUNT_FUZZ", "40"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.sampled_from([10**400, -1, 0, 1e308, -1e308, 5e-324, 2**63]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["../x.jpg", "/etc/passwd", "", "a/../../b", "images/../../x", "NaN", "1e999"]),
    st.just([]),
    st.just({}),
    st.recursive(st.integers(0, 3), lambda inner: st.lists(inner, max_size=3), max_leaves=40),
)


def _slots(doc: object, at: tuple = ()) -> list[tuple]:
    """Every place in a JSON tree a value sits: (path of keys and indices)."""
    out = [at] if at else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _slots(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _slots(v, (*at, i))
    return out


def _parent(doc: object, path: tuple) -> object:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw, valid: object) -> object:
    doc = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(doc)
        if not slots:
            break
        path = draw(st.sampled_from(slots))
        parent, key = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["replace", "replace", "drop", "repeat"]))
        if action == "drop":
            del parent[key]
        elif action == "repeat" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        else:
            parent[key] = draw(ODD)
    return doc


def _outcome(fmt: str, root: Path, split: str = "all") -> None:
    """Read everything; only the project's own errors may stop it, and points must be sane."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            for sample in read(fmt, root, split):
                pts = sample.points
                assert pts.dtype == np.float64 and pts.ndim == 2 and pts.shape[1] == 2
                assert np.isfinite(pts).all()
        except (DataError, ConfigError) as exc:
            assert "\n" not in str(exc), str(exc)


COCO = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48, "headcount_status": "done"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [10.0, 20.0, 2], "headcount_by": "ann"},
        {"id": 2, "image_id": 1, "category_id": 1, "keypoints": [30.0, 40.0, 1]},
    ],
    "categories": [{"id": 1, "name": "person", "keypoints": ["head"]}],
}
LABEL_STUDIO = [
    {
        "id": 1,
        "data": {"image": "/data/upload/1/a.jpg"},
        "annotations": [
            {
                "id": 3,
                "completed_by": {"email": "ann@x"},
                "updated_at": "2026-12-01T00:00:00Z",
                "result": [
                    {
                        "type": "keypointlabels",
                        "original_width": 64,
                        "original_height": 48,
                        "value": {"x": 25.0, "y": 50.0, "keypointlabels": ["head"]},
                        "meta": {"by": "ann"},
                    }
                ],
                "reviews": [{"accepted": True, "created_by": {"email": "rita@x"}}],
            }
        ],
        "meta": {"headcount_status": "reviewed"},
    }
]
LABELME = {
    "imagePath": "a.jpg",
    "imageHeight": 48,
    "imageWidth": 64,
    "shapes": [{"label": "head", "points": [[5.5, 6.5]], "shape_type": "point"}],
    "imageData": None,
}
POINTS = {
    "format": "headcount-points",
    "version": 4,
    "image": "images/a.jpg",
    "width": 64,
    "height": 48,
    "revision": 2,
    "status": "done",
    "tiles": {"cols": 2, "rows": 2, "done": [0]},
    "points": [[10.0, 20.0], [30.5, 40.5]],
    "ids": [0, 1],
    "next_id": 2,
    "by": ["ann", None],
    "status_by": "ann",
    "review": {"verdict": "accepted", "by": "rita", "comment": ""},
}
NWPU = {"img_id": "0001.jpg", "human_num": 2, "points": [[5.0, 6.0], [20, 30]], "boxes": [[1, 2, 9, 10], [5, 5, 9, 9]]}
FORMATS = {  # format: (valid document, where it goes, where the image goes, split)
    "coco": (COCO, "annotations.json", "images/a.jpg", "all"),
    "label_studio": (LABEL_STUDIO, "tasks.json", "images/a.jpg", "all"),
    "labelme": (LABELME, "a.json", "a.jpg", "all"),
    "points": (POINTS, "points/a.json", "images/a.jpg", "all"),
    "nwpu": (NWPU, "jsons/0001.json", "images/0001.jpg", "train"),
}


def _layout(root: Path, fmt: str, image: str) -> None:
    """The files of `fmt` around its annotation: its image, and NWPU's split list."""
    write_image(root / image, 64, 48)
    if fmt == "nwpu":
        (root / "train.txt").write_text("0001 1 1\n")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_valid_seed_of_each_format_reads(fmt):
    valid, name, image, split = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        _layout(root, fmt, image)
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(valid))
        (sample,) = read(fmt, root, split)
        assert len(sample.points) >= 1  # so the mutations start from a file that works


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_mutated_file_reads_or_is_refused_in_one_line(fmt):
    valid, name, image, split = FORMATS[fmt]

    @FUZZ
    @given(doc=mutated(valid))
    def check(doc):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d) / "data"
            _layout(root, fmt, image)
            (Path(d) / "x.jpg").write_bytes((root / image).read_bytes())  # what a ../ path would reach
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(json.dumps(doc))
            _outcome(fmt, root, split)

    check()


CVAT = [  # (element, attributes) of a valid CVAT for images 1.1 export: an image, a points shape, a box
    ("image", {"id": "0", "name": "a.jpg", "width": "64", "height": "48", "subset": "Train"}),
    ("points", {"label": "head", "points": "10.5,20.25;30,40", "occluded": "0"}),
    ("box", {"label": "head", "xtl": "1", "ytl": "2", "xbr": "9", "ybr": "10"}),
]
XML_TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["nan", "inf", "-1", "0", "64.9", "1e999", "1e300", "../a.jpg", "/etc/passwd", "1,2;", ";;"]),
    st.sampled_from(["1,2,3", "a,b", "1;2", "1e300,1", "-5,-5", "64.9"]),
    st.integers(-(10**6), 10**12).map(str),
)


def _cvat_xml(elements: list[tuple[str, dict]]) -> str:
    from xml.sax.saxutils import quoteattr

    def tag(name, attrs, body=""):
        return f"<{name} {' '.join(f'{k}={quoteattr(v)}' for k, v in attrs.items())}>{body}</{name}>"

    (_, image), shapes = elements[0], elements[1:]
    body = tag("image", image, "".join(tag(n, a) for n, a in shapes))
    return f"<annotations><version>1.1</version>{body}</annotations>"


@st.composite
def mutated_cvat(draw) -> list[tuple[str, dict]]:
    elements = [(name, dict(attrs)) for name, attrs in CVAT]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(elements) - 1))
        attrs = elements[i][1]
        key = draw(st.sampled_from(sorted(attrs) or ["x"]))
        action = draw(st.sampled_from(["replace", "replace", "drop", "repeat"]))
        if action == "drop":
            attrs.pop(key, None)
        elif action == "repeat" and i > 0:
            elements.append(copy.deepcopy(elements[i]))
        else:
            attrs[key] = draw(XML_TEXT)
    return elements


def test_a_mutated_cvat_export_reads_or_is_refused_in_one_line():
    """CVAT's XML attributes, each declared (`pipeline.readers.cvat`), given text of every odd kind."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        write_image(root / "images" / "Train" / "a.jpg", 64, 48)
        (root / "annotations.xml").write_text(_cvat_xml(CVAT))
        (sample,) = read("cvat", root, "all")
        assert len(sample.points) == 3  # the seed works

    @FUZZ
    @given(elements=mutated_cvat())
    def check(elements):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d) / "data"
            write_image(root / "images" / "Train" / "a.jpg", 64, 48)
            (root / "annotations.xml").write_text(_cvat_xml(elements))
            _outcome("cvat", root)

    check()


ZONES = {"zones": [{"name": "door", "polygon": [[0, 0], [10, 0], [10, 10]], "threshold": 4}]}
LINES = {"lines": [{"name": "gate", "points": [[0, 0], [10, 10]], "in": "left", "rate_threshold": 3}]}


@pytest.mark.parametrize(("valid", "load"), [(ZONES, load_zones), (LINES, load_lines)], ids=["zones", "lines"])
def test_a_mutated_zone_or_line_file_loads_or_is_refused_in_one_line(valid, load):
    @FUZZ
    @given(doc=mutated(valid))
    def check(doc):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "f.yaml"
            path.write_text(yaml.safe_dump(doc))
            try:
                for item in load(path):
                    assert item.name
            except DataError as exc:
                assert "\n" not in str(exc), str(exc)

    check()


EDIT = {"base": 0, "added": [[10.0, 20.0], [30.0, 40.0]], "removed": [], "moved": [], "status": "done"}
SAVE = {"points": [[1.5, 2.5], [10.0, 20.0]], "revision": 0, "status": "todo"}
REVIEW = {"verdict": "accepted", "comment": "fine"}


@pytest.mark.parametrize(
    ("method", "route", "valid"),
    [("post", "edits", EDIT), ("put", "points", SAVE), ("post", "review", REVIEW)],
    ids=["edits", "points", "review"],
)
def test_the_server_answers_a_mutated_body_with_a_4xx_never_a_500(method, route, valid):
    from starlette.testclient import TestClient

    from annotate.server import create_app

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        write_image(root / "images" / "a.jpg", 64, 48)
        client = TestClient(create_app(root, user="ann", reviewers=("ann",)), base_url="http://127.0.0.1:8000")

        @FUZZ
        @given(doc=mutated(valid))
        def check(doc):
            r = getattr(client, method)(f"/api/images/a/{route}", content=json.dumps(doc), headers={"X-Headcount": "1"})
            assert r.status_code < 500, (r.status_code, r.text)
            assert r.status_code in (200, 400, 403, 409), (r.status_code, r.text)
            body = r.json()
            assert "error" in body or "revision" in body or "points" in body

        check()
