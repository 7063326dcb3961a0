import http.client
import io
import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from conftest import start_annotate, write_image
from PIL import Image
from starlette.testclient import TestClient

from annotate.guard import is_loopback_host
from annotate.server import create_app

MUT = {"X-Headcount": "1"}


@pytest.fixture
def folder(tmp_path):
    write_image(tmp_path / "images" / "a.jpg", 64, 48)
    write_image(tmp_path / "images" / "b.png", 40, 30, fmt="PNG")
    return tmp_path


@pytest.fixture
def client(folder):
    return TestClient(create_app(folder), base_url="http://127.0.0.1:8000")


def test_image_list_and_empty_points(client):
    base = {"count": 0, "revision": 0, "status": "todo", "annotators": []}
    assert client.get("/api/images").json() == [
        {"id": "a", "name": "a.jpg", "width": 64, "height": 48, **base},
        {"id": "b", "name": "b.png", "width": 40, "height": 30, **base},
    ]
    empty = {"points": [], "ids": [], "by": [], "revision": 0, "status": "todo", "tiles": None}
    assert client.get("/api/images/a/points").json() == {**empty, "status_by": None, "review": None}


def test_save_writes_the_point_file_contract_and_bumps_the_revision(client, folder):
    r = client.put("/api/images/a/points", json={"points": [[1.5, 2.5], [10, 20]], "revision": 0}, headers=MUT)
    assert r.status_code == 200 and r.json() == {"revision": 1, "count": 2, "status": "todo"}
    doc = json.loads((folder / "points" / "a.json").read_text())
    assert doc == {
        "format": "headcount-points",
        "version": 4,
        "image": "images/a.jpg",
        "width": 64,
        "height": 48,
        "revision": 1,
        "status": "todo",
        "tiles": None,
        "points": [[1.5, 2.5], [10.0, 20.0]],
        "ids": [0, 1],
        "next_id": 2,
        "by": [None, None],
        "status_by": None,
        "review": None,
    }
    assert client.put("/api/images/a/points", json={"points": [], "revision": 1}, headers=MUT).json()["revision"] == 2
    assert client.get("/api/images").json()[0]["revision"] == 2


def test_stale_revision_is_409_and_writes_nothing(client, folder):
    client.put("/api/images/a/points", json={"points": [[1, 1]], "revision": 0}, headers=MUT)
    before = (folder / "points" / "a.json").read_bytes()
    r = client.put("/api/images/a/points", json={"points": [[2, 2]], "revision": 0}, headers=MUT)
    assert r.status_code == 409 and r.json()["revision"] == 1
    assert (folder / "points" / "a.json").read_bytes() == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"points": [[1, NaN]], "revision": 0}',
        b'{"points": [[1, 1e999]], "revision": 0}',
        b'{"points": [[64, 10]], "revision": 0}',
        b'{"points": [[-0.1, 10]], "revision": 0}',
        b'{"points": [[1, 2, 3]], "revision": 0}',
        b'{"points": [["1", 2]], "revision": 0}',
        b'{"points": [[1, 2]]}',
        b"not json",
    ],
)
def test_bad_points_are_400_and_nothing_is_written(client, folder, body):
    r = client.put("/api/images/a/points", content=body, headers={**MUT, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert not (folder / "points").exists()


def test_ids_are_looked_up_never_joined_into_paths(client, folder):
    (folder / "secret.json").write_text("{}")
    for bad in ["..%2Fsecret", "..%2F..%2Fetc%2Fpasswd", "a.jpg", "%2E%2E", "A"]:
        assert client.get(f"/api/images/{bad}/points").status_code == 404
        assert (
            client.put(f"/api/images/{bad}/points", json={"points": [], "revision": 0}, headers=MUT).status_code == 404
        )
    assert not (folder / "points").exists()


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.5:8000", ""])
def test_non_loopback_host_is_refused(folder, host):
    c = TestClient(create_app(folder), base_url="http://127.0.0.1:8000")
    assert c.get("/api/images", headers={"Host": host}).status_code == 403
    assert (
        c.put("/api/images/a/points", json={"points": [], "revision": 0}, headers={**MUT, "Host": host}).status_code
        == 403
    )
    assert not (folder / "points").exists()


def test_loopback_host_names():
    for ok in ["localhost", "localhost:8000", "127.0.0.1", "127.0.0.1:9", "127.1.2.3", "[::1]:8000", "[::1]"]:
        assert is_loopback_host(ok), ok
    for bad in ["evil.com", "127.0.0.1.evil.com", "[::2]", "0.0.0.0", "localhost.", "::1x"]:
        assert not is_loopback_host(bad), bad


def test_mutation_without_the_header_is_refused(client, folder):
    r = client.put("/api/images/a/points", json={"points": [[1, 1]], "revision": 0})
    assert r.status_code == 403
    r = client.put("/api/images/a/points", json={"points": [[1, 1]], "revision": 0}, headers={"X-Headcount": "0"})
    assert r.status_code == 403
    assert not (folder / "points").exists()


def test_images_are_served_with_caching_headers(client, folder):
    r = client.get("/api/images/a/image")
    assert r.status_code == 200 and r.content == (folder / "images" / "a.jpg").read_bytes()
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    again = client.get("/api/images/a/image", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_density_preview_follows_the_saved_points_and_kernel_params(folder):
    from pipeline.kernels import DensityParams

    client = TestClient(create_app(folder, DensityParams(method="fixed", sigma=2.0)), base_url="http://127.0.0.1")
    client.put("/api/images/a/points", json={"points": [[10.5, 20.5]], "revision": 0}, headers=MUT)
    r = client.get("/api/images/a/density.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))  # a palette with alpha: RGBA when read
    assert img.shape == (48, 64, 4)
    assert img[20, 10, 3] > 150 and img[20, 19, 3] == 0  # opaque at the head, clear past 4 sigma


def test_proposals_need_a_checkpoint(client):
    assert client.get("/api/config").json()["proposals"] is False
    assert client.get("/api/images/a/proposals").status_code == 404


def test_concurrent_saves_of_one_revision_let_exactly_one_win(client):
    results = []

    def put(x):
        results.append(
            client.put("/api/images/a/points", json={"points": [[x, 1]], "revision": 0}, headers=MUT).status_code
        )

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [409] * 7


# ---- a real server process, killed with SIGKILL during a burst of saves ----


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (json.loads(data) if data else None)


@pytest.mark.slow
def test_kill_9_during_a_burst_of_saves_loses_no_acknowledged_save(folder):
    proc, url = start_annotate(folder)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    acked = {}  # revision -> points the server acknowledged
    stop = threading.Event()

    def burst():
        revision, i = 0, 0
        rng = np.random.default_rng(0)
        while not stop.is_set():
            pts = np.round(rng.uniform(0, 40, (200 + i % 50, 2)), 3).tolist()
            try:
                status, body = _request(
                    port,
                    "PUT",
                    "/api/images/a/points",
                    {"points": pts, "revision": revision},
                    {**MUT, "Content-Type": "application/json"},
                )
            except OSError:
                return
            if status == 200:
                revision = body["revision"]
                acked[revision] = pts
            i += 1

    t = threading.Thread(target=burst, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    t.join(timeout=10)
    assert len(acked) >= 20, "the server acknowledged too few saves"

    doc = json.loads((folder / "points" / "a.json").read_text())  # complete, parseable JSON
    last = max(acked)
    assert doc["revision"] in (last, last + 1)  # the one in flight may or may not have landed
    if doc["revision"] == last:
        assert doc["points"] == acked[last]
    proc, _ = start_annotate(folder, port=port)
    try:
        status, body = _request(port, "GET", "/api/images/a/points")
        assert status == 200 and body["revision"] == doc["revision"] and body["points"] == doc["points"]
        status, _ = _request(
            port,
            "PUT",
            "/api/images/a/points",
            {"points": [], "revision": doc["revision"]},
            {**MUT, "Content-Type": "application/json"},
        )
        assert status == 200
        assert [p.name for p in (folder / "points").iterdir()] == ["a.json"]  # leftover temp files cleaned up
    finally:
        proc.kill()
        proc.wait()


def test_proposals_from_a_checkpoint(folder, tmp_path):
    import torch

    from pipeline.model import CSRNet, ModelConfig
    from pipeline.train import save_checkpoint

    model = CSRNet(0.0625)
    with torch.no_grad():
        model.output.bias.fill_(0.6)  # every cell a head-sized peak: a plateau over the whole image
    save_checkpoint(tmp_path / "ck.pt", model=model.state_dict(), model_config=ModelConfig(width=0.0625).__dict__)
    c = TestClient(create_app(folder, checkpoint=tmp_path / "ck.pt"), base_url="http://127.0.0.1")
    assert c.get("/api/config").json()["proposals"] is True
    body = c.get("/api/images/a/proposals").json()
    pts = np.array(body["points"])
    assert body["count"] > 0 and len(pts) >= 1
    assert ((pts >= 0) & (pts < [64, 48])).all()


def test_a_declared_body_over_the_bound_is_refused_before_it_is_read(folder):
    """A 100 GB Content-Length is answered 413 at once instead of waiting for the body."""
    proc, url = start_annotate(folder)
    try:
        conn = http.client.HTTPConnection(url.split("//")[1].rstrip("/"), timeout=10)
        conn.putrequest("PUT", "/api/images/a/points", skip_host=True)
        conn.putheader("Host", "127.0.0.1")
        conn.putheader("X-Headcount", "1")
        conn.putheader("Content-Length", str(100 * 1024**3))
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        proc.terminate()
        proc.wait(10)
    assert not (folder / "points" / "a.json").exists()


def test_a_streamed_body_over_the_bound_and_too_many_points_are_refused(folder):
    from annotate.guard import GuardMiddleware

    app = create_app(folder)
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    r = client.put("/api/images/a/points", json={"points": [[1, 1]] * 200_001, "revision": 0}, headers=MUT)
    assert r.status_code == 400 and "points: list should have at most 200000 items" in r.json()["error"]
    small = TestClient(GuardMiddleware(app, max_body=1000), base_url="http://127.0.0.1:8000")

    def chunks():
        for _ in range(10):
            yield b" " * 500

    r = small.put("/api/images/a/points", content=chunks(), headers=MUT)
    assert r.status_code == 413
    assert not (folder / "points" / "a.json").exists()


def test_a_second_server_on_the_same_folder_refuses_to_start_and_names_the_first(folder):
    import subprocess
    import sys

    proc, url = start_annotate(folder, "--no-model")  # the lock is taken before any model loads
    try:
        second = subprocess.run(
            [sys.executable, "-m", "pipeline", "annotate", str(folder), "--port", "1", "--no-model"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, second.stderr
        assert f"already served by headcount annotate (pid {proc.pid}, {url})" in second.stderr
        assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1
    finally:
        proc.terminate()
        proc.wait(10)
    proc, _ = start_annotate(folder, "--no-model")  # the lock goes with its holder
    proc.kill()
    proc.wait(10)


def test_a_network_bind_needs_the_token_on_every_request(folder):
    client = TestClient(create_app(folder, token="s3cret"), base_url="http://192.168.1.20:8000")
    assert client.get("/api/images").status_code == 401
    assert client.get("/api/images", headers={"X-Headcount-Token": "wrong"}).status_code == 401
    assert client.get("/api/images", headers={"X-Headcount-Token": "s3cret"}).status_code == 200
    page = client.get("/?token=s3cret")  # the link printed at start: the page gets a cookie
    assert page.status_code == 200 and "headcount_token=s3cret" in page.headers["set-cookie"]
    assert client.get("/api/images").status_code == 200  # now from the cookie
    r = client.put("/api/images/a/points", json={"points": [[1, 1]], "revision": 0})
    assert r.status_code == 403  # the token does not replace the X-Headcount header


def test_stored_frame_neutralises_only_the_orientation(tmp_path):
    import io

    from PIL import Image

    from annotate.frame import stored_frame

    for fmt in ("JPEG", "PNG"):
        exif = Image.Exif()
        exif[0x0112] = 6
        exif[0x010F] = "phone"  # another tag, kept
        buf = io.BytesIO()
        Image.new("RGB", (40, 30), (10, 20, 30)).save(buf, format=fmt, exif=exif.tobytes())
        data = buf.getvalue()
        fixed, old = stored_frame(data)
        assert old == 6 and len(fixed) == len(data)
        assert sum(a != b for a, b in zip(fixed, data, strict=True)) <= 5  # one value (and a PNG chunk CRC)
        with Image.open(io.BytesIO(fixed)) as im:
            im.load()  # still a valid file (the PNG CRC was fixed)
            assert im.getexif()[0x0112] == 1 and im.getexif()[0x010F] == "phone" and im.size == (40, 30)
    plain = io.BytesIO()
    Image.new("RGB", (8, 8)).save(plain, format="JPEG")
    assert stored_frame(plain.getvalue()) == (plain.getvalue(), None)
    broken = b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00\x2a\xff\xff"  # IFD offset past the end
    assert stored_frame(broken) == (broken, None)


def test_a_broken_point_file_breaks_one_image_which_can_be_repaired_and_is_kept_as_a_backup(client, folder):
    (folder / "points").mkdir()
    (folder / "points" / "a.json").write_text('{"format": "headcount-points", "version": 1, "points": [[1, 2]')
    listing = client.get("/api/images")
    assert listing.status_code == 200
    a, b = listing.json()
    assert "a.json" in a["error"] and "not a readable JSON point file" in a["error"] and "error" not in b
    got = client.get("/api/images/a/points").json()
    assert got["points"] == [] and got["revision"] == 0 and "a.json" in got["error"]
    r = client.put("/api/images/a/points", json={"points": [[3.5, 4.5]], "revision": 0}, headers=MUT)
    assert r.status_code == 200 and r.json() == {"revision": 1, "count": 1, "status": "todo"}
    assert (folder / "points" / "a.json.broken-1").read_text().endswith("[[1, 2]")  # kept, byte for byte
    fixed = client.get("/api/images").json()[0]
    assert "error" not in fixed and fixed["count"] == 1 and fixed["revision"] == 1
    from pipeline.readers import read

    (s,) = [s for s in read("points", folder, "all", unannotated="skip")]  # the backup is not a point file
    assert s.image_id == "a" and s.points.tolist() == [[3.5, 4.5]]


def test_the_listing_reads_a_point_file_only_when_it_changed(client, folder, monkeypatch):
    import annotate.catalog as catalog_mod

    client.put("/api/images/a/points", json={"points": [[1, 1]], "revision": 0}, headers=MUT)
    reads = []
    real = catalog_mod.read_point_file
    monkeypatch.setattr(catalog_mod, "read_point_file", lambda p: reads.append(p) or real(p))
    for _ in range(3):
        assert client.get("/api/images").json()[0]["count"] == 1
    assert reads == []  # a save updates its own summary; nothing changed since
    client.put("/api/images/a/points", json={"points": [[1, 1], [2, 2]], "revision": 1}, headers=MUT)
    assert client.get("/api/images").json()[0]["count"] == 2 and len(reads) == 1  # the save's own revision check


def test_status_is_saved_kept_across_edits_and_version_1_files_still_read(client, folder):
    put = client.put
    assert put(
        "/api/images/a/points", json={"points": [[1, 1]], "revision": 0, "status": "done"}, headers=MUT
    ).json() == {
        "revision": 1,
        "count": 1,
        "status": "done",
    }
    put("/api/images/a/points", json={"points": [[1, 1], [2, 2]], "revision": 1}, headers=MUT)  # no status: kept
    assert client.get("/api/images/a/points").json()["status"] == "done"
    assert client.get("/api/images").json()[0]["status"] == "done"
    bad = put("/api/images/a/points", json={"points": [], "revision": 2, "status": "finished"}, headers=MUT)
    assert bad.status_code == 400
    assert "status: input should be 'todo', 'done' or 'reviewed' (got 'finished')" in bad.json()["error"]
    v1 = {"format": "headcount-points", "version": 1, "image": "images/b.png", "width": 40, "height": 30}
    (folder / "points" / "b.json").write_text(json.dumps({**v1, "revision": 3, "points": [[5, 5]]}))
    b = client.get("/api/images").json()[1]
    assert (b["count"], b["revision"], b["status"]) == (1, 3, "todo")  # saved once is not done


def _edit(client, base, added=(), removed=(), moved=(), **extra):
    body = {"base": base, "added": [list(p) for p in added], "removed": list(removed), **extra}
    return client.post("/api/images/a/edits", json={**body, "moved": [list(m) for m in moved]}, headers=MUT)


def _saved(folder):
    doc = json.loads((folder / "points" / "a.json").read_text())
    return {i: tuple(p) for i, p in zip(doc["ids"], doc["points"], strict=True)}


def test_edits_from_one_revision_in_two_tabs_are_both_kept_head_by_head(client, folder):
    first = _edit(client, 0, added=[(1.25, 2.5), (3, 4), (5, 6)]).json()
    assert first == {
        "revision": 1,
        "count": 3,
        "status": "todo",
        "merged": False,
        "added_ids": [0, 1, 2],
        "conflicts": [],
    }
    # tab A (at revision 1) adds a head and moves head 1 (3, 4); tab B, also at revision 1, deletes head 2 and adds one
    a = _edit(client, 1, added=[(7, 8)], moved=[(1, 3, 4, 3.5, 4.5)]).json()
    assert a["revision"] == 2 and not a["merged"] and "points" not in a and a["added_ids"] == [3]
    b = _edit(client, 1, added=[(9, 9)], removed=[2]).json()
    assert b["merged"] and b["revision"] == 3 and b["added_ids"] == [4] and b["conflicts"] == []
    # a move is a move: head 1 is where A put it, once; nothing of A's or B's is lost
    assert _saved(folder) == {0: (1.25, 2.5), 1: (3.5, 4.5), 3: (7, 8), 4: (9, 9)}
    assert dict(zip(b["ids"], map(tuple, b["points"]), strict=True)) == _saved(folder)
    # two equal heads on one spot are two heads: removing one keeps the other
    _edit(client, 3, added=[(9, 9)])
    r = _edit(client, 4, removed=[4]).json()
    assert r["count"] == 4 and _saved(folder)[5] == (9, 9)


def test_two_tabs_moving_one_head_give_one_head_and_the_later_move_wins_and_is_told(client, folder):
    _edit(client, 0, added=[(10, 10), (20, 20)])
    assert not _edit(client, 1, moved=[(0, 10, 10, 12, 10)]).json()["conflicts"]  # tab A drags head 0
    b = _edit(client, 1, moved=[(0, 10, 10, 10, 14)]).json()  # tab B dragged it too, from where it saw it
    assert b["conflicts"] == [{"id": 0, "kind": "moved"}] and b["count"] == 2
    assert _saved(folder) == {0: (10, 14), 1: (20, 20)}


def test_a_delete_wins_over_a_move_either_way_and_the_mover_is_told(client, folder):
    _edit(client, 0, added=[(10, 10), (20, 20), (30, 30)])
    _edit(client, 1, removed=[0])  # tab A deletes head 0 ...
    b = _edit(client, 1, moved=[(0, 10, 10, 11, 11)]).json()  # ... while tab B moves it: it stays deleted
    assert b["conflicts"] == [{"id": 0, "kind": "deleted"}] and 0 not in _saved(folder)
    _edit(client, 3, moved=[(1, 20, 20, 21, 21)])  # B moves head 1 first; A, at an older base, deletes it
    a = _edit(client, 2, removed=[1]).json()
    assert a["conflicts"] == [] and _saved(folder) == {2: (30, 30)}


def test_ids_are_never_reused_and_a_whole_save_keeps_the_ids_of_unmoved_heads(client, folder):
    _edit(client, 0, added=[(1, 1), (2, 2)])
    _edit(client, 1, removed=[1])
    assert _edit(client, 2, added=[(3, 3)]).json()["added_ids"] == [2]  # not 1 again
    r = client.put("/api/images/a/points", json={"points": [[3, 3], [1, 1], [4, 4]], "revision": 3}, headers=MUT)
    assert r.status_code == 200 and _saved(folder) == {2: (3, 3), 0: (1, 1), 3: (4, 4)}


def test_saves_record_who_added_each_head_and_who_set_the_status(folder):
    c = TestClient(create_app(folder, user="ann"), base_url="http://127.0.0.1:8000")
    c.post("/api/images/a/edits", json={"base": 0, "added": [[1, 1]], "status": "done"}, headers=MUT)
    doc = json.loads((folder / "points" / "a.json").read_text())
    assert doc["by"] == ["ann"] and doc["status_by"] == "ann"
    assert c.get("/api/images").json()[0]["annotators"] == ["ann"]
    remote = TestClient(create_app(folder, tokens={"t-bo": "bo", "t-cy": "cy"}), base_url="http://192.168.1.20:8000")
    remote.post(
        "/api/images/a/edits", json={"base": 1, "added": [[2, 2]]}, headers={**MUT, "X-Headcount-Token": "t-cy"}
    )
    doc = json.loads((folder / "points" / "a.json").read_text())
    assert doc["by"] == ["ann", "cy"] and doc["status_by"] == "ann"  # cy did not touch the status
    bad = remote.get("/api/images", headers={"X-Headcount-Token": "t-nobody"})
    assert bad.status_code == 401


def test_a_reviewer_accepts_or_rejects_with_a_comment_and_a_rejected_image_is_todo_again(folder):
    ann = TestClient(create_app(folder, user="ann"), base_url="http://127.0.0.1:8000")
    ann.post("/api/images/a/edits", json={"base": 0, "added": [[1, 1]], "status": "done"}, headers=MUT)
    rev = TestClient(create_app(folder, user="rita", reviewers=("rita",)), base_url="http://127.0.0.1:8000")
    r = rev.post(
        "/api/images/a/review", json={"verdict": "rejected", "comment": "heads missed at the left"}, headers=MUT
    )
    assert r.status_code == 200 and r.json()["status"] == "todo" and r.json()["revision"] == 2
    assert r.json()["review"] == {"verdict": "rejected", "by": "rita", "comment": "heads missed at the left"}
    listed = ann.get("/api/images").json()[0]
    assert listed["status"] == "todo" and listed["review"]["comment"] == "heads missed at the left"
    assert listed["annotators"] == ["ann", "rita"]
    ann.post("/api/images/a/edits", json={"base": 2, "added": [[2, 2]], "status": "done"}, headers=MUT)
    assert "review" not in ann.get("/api/images").json()[0]  # the verdict was on the old status
    r = rev.post("/api/images/a/review", json={"verdict": "accepted"}, headers=MUT).json()
    assert r["status"] == "reviewed" and r["status_by"] == "rita" and r["review"]["verdict"] == "accepted"
    assert rev.post("/api/images/a/review", json={"verdict": "maybe"}, headers=MUT).status_code == 400
    assert (
        rev.post("/api/images/a/review", json={"verdict": "accepted", "comment": "x" * 2001}, headers=MUT).status_code
        == 400
    )


def test_a_bad_edit_is_400_a_base_from_the_future_409_and_neither_writes(client, folder):
    _edit(client, 0, added=[(1, 1)])
    before = (folder / "points" / "a.json").read_bytes()
    for body, code in (
        ({"base": 1, "added": [[64.5, 1]], "removed": []}, 400),  # outside the 64x48 image
        ({"base": 1, "added": [[float("nan"), 1]], "removed": []}, 400),
        ({"base": 1, "added": [], "removed": [], "status": "finished"}, 400),
        ({"base": "1", "added": [], "removed": []}, 400),
        ({"base": 1, "added": [], "removed": [], "tiles": {"cols": 2, "rows": 2, "done": [4]}}, 400),
        ({"base": 1, "added": [], "removed": [0.5]}, 400),  # ids, not coordinates
        ({"base": 1, "added": [], "moved": [[0, 1, 1, 2]]}, 400),  # [id, x0, y0, x, y]
        ({"base": 1, "added": [], "moved": [[0, 1, 1, 2, 2]], "removed": [0]}, 400),  # moved and removed
        ({"base": 1, "added": [], "moved": [[0, 1, 1, 64.5, 2]]}, 400),  # moved outside the image
        ({"base": 5, "added": [[2, 2]], "removed": []}, 409),
    ):
        r = client.post("/api/images/a/edits", content=json.dumps(body), headers=MUT)
        assert r.status_code == code, body
    assert (folder / "points" / "a.json").read_bytes() == before


def test_tile_progress_merges_per_tile_and_is_saved_in_the_point_file(client, folder):
    _edit(client, 0, tiles={"cols": 4, "rows": 3, "done": [0, 5]})
    _edit(client, 0, tiles={"cols": 4, "rows": 3, "done": [11], "undone": [5]})  # another tab, same base
    doc = json.loads((folder / "points" / "a.json").read_text())
    assert doc["version"] == 4 and doc["tiles"] == {"cols": 4, "rows": 3, "done": [0, 11]}
    assert client.get("/api/images/a/points").json()["tiles"] == doc["tiles"]
    _edit(client, 2, added=[(1, 1)], status="done")  # no tile change: the progress stays
    assert json.loads((folder / "points" / "a.json").read_text())["tiles"]["done"] == [0, 11]
    _edit(client, 3, tiles={"cols": 2, "rows": 2, "done": [1]})  # a new grid starts afresh
    assert json.loads((folder / "points" / "a.json").read_text())["tiles"] == {"cols": 2, "rows": 2, "done": [1]}


def test_open_tabs_learn_what_was_saved_since_their_last_look(client):
    r = client.get("/api/images")
    seq = r.headers["X-Headcount-Seq"]
    assert client.get("/api/changes", params={"since": seq}).json() == {"seq": seq, "images": []}
    _edit(client, 0, added=[(1, 1)])
    client.put("/api/images/b/points", json={"points": [[2, 2]], "revision": 0}, headers=MUT)
    _edit(client, 1, added=[(3, 3)])
    changed = client.get("/api/changes", params={"since": seq}).json()
    assert [(i["id"], i["count"], i["revision"]) for i in changed["images"]] == [("a", 2, 2), ("b", 1, 1)]
    assert client.get("/api/changes", params={"since": changed["seq"]}).json()["images"] == []
    other = TestClient(create_app(client.app.state.catalog.root), base_url="http://127.0.0.1:8000")
    assert other.get("/api/changes", params={"since": seq}).json()["reset"]  # another server: reload the list


def test_the_density_preview_is_drawn_at_the_size_asked_for_and_names_the_count(client):
    client.put("/api/images/a/points", json={"points": [[10, 10], [30, 20], [50, 40]], "revision": 0}, headers=MUT)
    r = client.get("/api/images/a/density.png", params={"max_side": 32})
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (32, 24)
    assert 2.0 < float(r.headers["X-Headcount-Count"]) <= 3.0
    assert Image.open(io.BytesIO(client.get("/api/images/a/density.png").content)).size == (64, 48)  # full size
    for bad in ("0", "x", "100000"):
        assert client.get("/api/images/a/density.png", params={"max_side": bad}).status_code == 400


def test_the_density_overlay_is_not_darkened_by_one_narrow_kernel(tmp_path):
    write_image(tmp_path / "images" / "wide.png", 200, 100, fmt="PNG")
    spread = [[x + 0.5, 50.5] for x in range(10, 190, 20)]
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1:8000")
    pts = spread + [[100.5, 20.5], [101.5, 20.5], [100.5, 21.5], [101.5, 21.5]]  # 4 heads: kernels of sigma 0.34
    client.put("/api/images/wide/points", json={"points": pts, "revision": 0}, headers=MUT)
    overlay = np.asarray(Image.open(io.BytesIO(client.get("/api/images/wide/density.png").content)).convert("RGBA"))
    alpha = [overlay[int(y), int(x), 3] for x, y in spread]
    assert min(alpha) > 100  # every spread-out head shows, not only the sharp pair


HOSTILE_POINT_FILES = {
    "infinite revision": '{"format": "headcount-points", "version": 3, "image": "images/a.jpg", "width": 64, '
    '"height": 48, "revision": Infinity, "points": []}',
    "400-digit coordinate": '{"format": "headcount-points", "version": 3, "image": "images/a.jpg", "width": 64, '
    '"height": 48, "revision": 1, "points": [[' + "9" * 400 + ", 1]]}",
    "deep nesting": '{"format": "headcount-points", "points": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "revision as text": '{"format": "headcount-points", "version": 3, "image": "images/a.jpg", "width": 64, '
    '"height": 48, "revision": "7", "points": []}',
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_POINT_FILES))
def test_whatever_is_wrong_inside_a_point_file_breaks_only_its_image(client, folder, kind):
    (folder / "points").mkdir()
    (folder / "points" / "a.json").write_text(HOSTILE_POINT_FILES[kind])
    listing = client.get("/api/images")
    assert listing.status_code == 200
    a, b = listing.json()
    assert "a.json" in a["error"] and "error" not in b
    got = client.get("/api/images/a/points")
    assert got.status_code == 200 and got.json()["revision"] == 0 and "a.json" in got.json()["error"]
    assert client.get("/api/images/a/density.png").status_code < 500  # 409: the broken file is named
    r = client.post("/api/images/a/edits", json={"base": 0, "added": [[3, 4]], "removed": []}, headers=MUT)
    assert r.status_code == 200 and r.json()["count"] == 1  # the first save sets the broken file aside
    assert (folder / "points" / "a.json.broken-1").read_text() == HOSTILE_POINT_FILES[kind]


@pytest.mark.parametrize(
    "body",
    [
        '{"base": 0, "added": [[' + "1" * 400 + ', 2]], "removed": []}',
        '{"base": 0, "added": [[' + "1" * 5000 + ', 2]], "removed": []}',  # past Python's int() digit limit
        '{"base": 0, "added": [[1e999, 2]], "removed": []}',
        '{"base": 0, "added": [[NaN, 2]], "removed": []}',
        '{"base": 0, "added": [["3", 2]], "removed": []}',
        '{"base": 0, "base": 1, "added": [], "removed": []}',
        '{"base": 0, "added": ' + "[" * 50_000 + "]" * 50_000 + ', "removed": []}',
    ],
    ids=["400 digits", "5000 digits", "1e999", "NaN", "string", "duplicate key", "deep"],
)
def test_a_hostile_edit_is_400_never_500_and_writes_nothing(client, folder, body):
    r = client.post("/api/images/a/edits", content=body, headers={**MUT, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert not (folder / "points" / "a.json").exists()


def test_query_numbers_are_ascii_digits_only(client):
    """'²'.isdigit() is true and int('²') fails: that was a 500."""
    assert client.get("/api/images/a/density.png?max_side=%C2%B2").status_code == 400
    instance = client.get("/api/images").headers["X-Headcount-Seq"].split(":")[0]
    r = client.get(f"/api/changes?since={instance}:%C2%B2")
    assert r.status_code == 200 and r.json()["reset"] is True


def test_edits_cannot_pass_the_point_bound_together(client, folder, monkeypatch):
    """Two edits of 150k points each used to save 300k, past the bound each request was checked against."""
    import annotate.catalog

    monkeypatch.setattr(annotate.catalog, "MAX_POINTS", 10)
    first = client.post("/api/images/a/edits", json={"base": 0, "added": [[1, 1]] * 6, "removed": []}, headers=MUT)
    assert first.status_code == 200
    second = client.post("/api/images/a/edits", json={"base": 1, "added": [[2, 2]] * 6, "removed": []}, headers=MUT)
    assert second.status_code == 400 and "would save 12 points; at most 10" in second.json()["error"]
    assert json.loads((folder / "points" / "a.json").read_text())["revision"] == 1


def test_a_request_sent_a_byte_at_a_time_is_disconnected_but_a_slow_answer_is_not(folder):
    """200 stalled connections used to be held for as long as their clients liked."""
    import socket

    import uvicorn
    from conftest import free_port

    from annotate.guard import deadline_protocol

    port = free_port()
    config = uvicorn.Config(create_app(folder), host="127.0.0.1", port=port, log_level="error")
    config.http = deadline_protocol(0.5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)

        def closed_after(first: bytes) -> float:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(first)
                t = time.monotonic()
                assert s.recv(1024) == b""  # the server hung up without an answer
                return time.monotonic() - t

        assert 0.2 < closed_after(b"GET /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\n") < 3  # headers never end
        body_head = b"PUT /api/images/a/points HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Headcount: 1\r\n"
        assert 0.2 < closed_after(body_head + b"Content-Length: 100\r\n\r\n{") < 3  # body never ends
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # a whole request is answered
            s.sendall(b"GET /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert s.recv(1024).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(10)


def test_saves_to_different_images_at_once_get_distinct_sequence_numbers(tmp_path):
    """The change feed numbers every save once: two images saved at the same moment used to share a number
    (`seq` was counted under each image's own lock), and an idle tab then missed one of them. Reading the
    counter is slowed down here so that the threads meet in the window every time."""
    from annotate.catalog import Catalog

    class SlowCounter(Catalog):
        @property
        def seq(self) -> int:
            time.sleep(0.002)
            return self._seq_value

        @seq.setter
        def seq(self, value: int) -> None:
            self._seq_value = value

    (tmp_path / "images").mkdir()
    for i in range(4):
        write_image(tmp_path / "images" / f"im{i}.jpg", 32, 24)
    catalog = SlowCounter(tmp_path)

    def burst(image_id: str) -> None:
        for r in range(10):
            catalog.save(image_id, [[1.0 + r, 2.0]], r)

    threads = [threading.Thread(target=burst, args=(f"im{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [seq for seq, _ in catalog._changes] == list(range(1, 41)) and catalog.seq == 40
    for since in range(40):  # an idle tab that saw `since` is told of every image saved after it
        assert set(catalog.changes(since)) == {image_id for seq, image_id in catalog._changes if seq > since}


def test_a_compared_head_far_outside_its_image_is_refused_as_read_not_a_500(folder, tmp_path):
    """A point file's heads must lie inside its image (as the writer keeps them): a head at (1e300, 1e300) in the
    --compare folder is a 409 naming that file, where the matching used to overflow into a 500."""
    other = tmp_path / "other"
    (other / "points").mkdir(parents=True)
    doc = {"format": "headcount-points", "version": 1, "image": "images/a.jpg", "width": 64, "height": 48}
    (other / "points" / "a.json").write_text(json.dumps({**doc, "revision": 1, "points": [[1e300, 1e300]]}))
    c = TestClient(create_app(folder, compare=other), base_url="http://127.0.0.1:8000")
    r = c.get("/api/images/a/compare")
    assert r.status_code == 409 and "a.json: a point outside the 64x48 image" in r.json()["error"]


def test_a_save_onto_a_broken_point_file_says_it_is_broken_not_older(client, folder):
    """Issue 34, a misleading message: a 409 on a broken file said "the saved file is older than this tab's copy"."""
    (folder / "points").mkdir()
    (folder / "points" / "a.json").write_text("garbage{")
    for r in (
        client.post("/api/images/a/edits", json={"base": 1, "added": [[1, 1]]}, headers=MUT),
        client.put("/api/images/a/points", json={"points": [[1, 1]], "revision": 3}, headers=MUT),
    ):
        assert r.status_code == 409 and "not a readable JSON point file" in r.json()["error"]
        assert "older" not in r.json()["error"] and r.json()["revision"] == 0
    assert (folder / "points" / "a.json").read_text() == "garbage{"


@pytest.mark.parametrize(
    ("route", "body", "problem"),
    [  # read before the bodies were declared: a save from revision -1 went on to the catalog (a 409 there),
        # an id past 2**53 (which the page cannot hold exactly) was taken as a head's
        ("points", {"points": [[1, 2]], "revision": -1}, "revision: input should be greater than or equal to 0"),
        ("edits", {"base": 0, "added": [], "removed": [2**54]}, "removed[0]: input should be less than or equal to"),
        ("edits", {"base": 0, "added": [], "moved": [[1, 2, 3, 4, "5"]]}, "moved[0][4]: input should be a valid"),
        ("review", {"verdict": "accepted", "comment": None}, "comment: input should be a valid string"),
    ],
)
def test_a_request_body_is_checked_against_its_declared_structure(client, route, body, problem):
    method = client.put if route == "points" else client.post
    r = method(f"/api/images/a/{route}", json=body, headers=MUT)
    assert r.status_code == 400 and problem in r.json()["error"], (r.status_code, r.text)
