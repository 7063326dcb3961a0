"""The team's rules on one server: named users on loopback (a link each, no token) and the review's roles.

Each of these was a defect found by trying the tool: anyone could pick "reviewed"; editing an accepted
image kept "accepted by rita"; an annotator could accept their own image; a review overwrote a broken
point file; and ``--user A --user B`` could not be served on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from conftest import served, write_image
from starlette.testclient import TestClient

from annotate.server import create_app

MUT = {"X-Headcount": "1"}


@pytest.fixture
def folder(tmp_path):
    write_image(tmp_path / "images" / "a.jpg", 64, 48)
    return tmp_path


def _team(folder, reviewers=("rita",)):
    return TestClient(create_app(folder, users=("ann", "bo", "rita"), reviewers=reviewers), base_url="http://127.0.0.1")


def _as(name):
    return {**MUT, "X-Headcount-User": name}


def _saved(folder):
    return json.loads((folder / "points" / "a.json").read_text())


def test_named_users_on_loopback_need_no_token_and_each_tab_saves_as_its_own_name(folder):
    c = _team(folder)
    assert c.get("/api/images").status_code == 200  # reading needs no name
    assert c.post("/api/images/a/edits", json={"base": 0, "added": [[1, 1]]}, headers=MUT).status_code == 403
    assert c.post("/api/images/a/edits", json={"base": 0, "added": [[1, 1]]}, headers=_as("eve")).status_code == 403
    assert not (folder / "points" / "a.json").exists()
    assert c.post("/api/images/a/edits", json={"base": 0, "added": [[1, 1]]}, headers=_as("ann")).status_code == 200
    assert c.post("/api/images/a/edits", json={"base": 1, "added": [[2, 2]]}, headers=_as("bo")).status_code == 200
    assert _saved(folder)["by"] == ["ann", "bo"]
    assert c.get("/api/config", headers={"X-Headcount-User": "rita"}).json()["reviewer"] is True
    me = c.get("/api/config", headers={"X-Headcount-User": "bo"}).json()
    assert me["user"] == "bo" and me["reviewer"] is False


def test_only_a_reviewers_accept_makes_an_image_reviewed(folder):
    c = _team(folder)
    c.post("/api/images/a/edits", json={"base": 0, "added": [[1, 1]], "status": "done"}, headers=_as("ann"))
    for body in ({"base": 1, "added": [], "status": "reviewed"}, {"base": 1, "added": [[3, 3]], "status": "reviewed"}):
        r = c.post("/api/images/a/edits", json=body, headers=_as("ann"))
        assert r.status_code == 403 and "reviewer" in r.json()["error"]
    body = {"points": [[1, 1]], "revision": 1, "status": "reviewed"}
    put = c.put("/api/images/a/points", json=body, headers=_as("ann"))
    assert put.status_code == 403
    r = c.post("/api/images/a/review", json={"verdict": "accepted"}, headers=_as("bo"))
    assert r.status_code == 403 and "bo is not a reviewer" in r.json()["error"]
    assert _saved(folder)["status"] == "done" and _saved(folder)["revision"] == 1  # nothing written
    r = c.post("/api/images/a/review", json={"verdict": "accepted"}, headers=_as("rita"))
    assert r.status_code == 200 and r.json()["status"] == "reviewed"


def test_an_annotator_cannot_accept_their_own_work_but_may_send_it_back(folder):
    c = _team(folder, reviewers=("rita", "ann"))
    c.post("/api/images/a/edits", json={"base": 0, "added": [[1, 1]], "status": "done"}, headers=_as("ann"))
    r = c.post("/api/images/a/review", json={"verdict": "accepted"}, headers=_as("ann"))
    assert r.status_code == 403 and "cannot accept their own work" in r.json()["error"]
    r = c.post("/api/images/a/review", json={"verdict": "rejected", "comment": "redo"}, headers=_as("ann"))
    assert r.status_code == 200 and r.json()["status"] == "todo"


def test_an_edit_after_acceptance_sends_the_image_back_to_review_and_keeps_who_accepted(folder):
    c = _team(folder)
    c.post("/api/images/a/edits", json={"base": 0, "added": [[1, 1]], "status": "done"}, headers=_as("ann"))
    c.post("/api/images/a/review", json={"verdict": "accepted", "comment": "fine"}, headers=_as("rita"))
    r = c.post("/api/images/a/edits", json={"base": 2, "added": [[5, 5]]}, headers=_as("bo"))
    assert r.status_code == 200 and r.json()["status"] == "done"
    doc = _saved(folder)
    assert doc["status"] == "done" and doc["review"] == {"verdict": "accepted", "by": "rita", "comment": "fine"}
    # a save that changes no head (tiles, say) leaves it reviewed
    c.post("/api/images/a/review", json={"verdict": "accepted"}, headers=_as("rita"))
    tiles = {"base": 4, "added": [], "tiles": {"cols": 2, "rows": 2, "done": [0]}}
    r = c.post("/api/images/a/edits", json=tiles, headers=_as("bo"))
    assert r.status_code == 200 and r.json()["status"] == "reviewed"


def test_a_review_of_a_broken_point_file_is_409_and_leaves_it_as_it_was(folder):
    (folder / "points").mkdir()
    (folder / "points" / "a.json").write_text("{garbage")
    c = _team(folder)
    r = c.post("/api/images/a/review", json={"verdict": "accepted"}, headers=_as("rita"))
    assert r.status_code == 409 and "nothing written" in r.json()["error"]
    assert (folder / "points" / "a.json").read_text() == "{garbage"
    assert sorted(p.name for p in (folder / "points").iterdir()) == ["a.json"]


def test_without_a_reviewer_nobody_reviews(folder):
    c = TestClient(create_app(folder, user="ann"), base_url="http://127.0.0.1")
    r = c.post("/api/images/a/review", json={"verdict": "accepted"}, headers=MUT)
    assert r.status_code == 403 and "--reviewer ann" in r.json()["error"]


@pytest.mark.slow
def test_the_command_serves_a_team_on_loopback_with_a_link_each(folder):
    with served(folder, "--user", "ann", "--user", "bo", "--reviewer", "rita") as url:
        req = urllib.request.Request(
            url + "api/images/a/edits",
            data=json.dumps({"base": 0, "added": [[2, 2]]}).encode(),
            headers={**_as("bo"), "Content-Type": "application/json"},
            method="POST",
        )
        assert json.loads(urllib.request.urlopen(req, timeout=10).read())["revision"] == 1
        config = urllib.request.Request(url + "api/config", headers={"X-Headcount-User": "rita"})
        assert json.loads(urllib.request.urlopen(config, timeout=10).read())["reviewer"] is True
    assert _saved(folder)["by"] == ["bo"]
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", "annotate", str(folder), "--user", "ann", "--user", "ann"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "each name once" in r.stderr
