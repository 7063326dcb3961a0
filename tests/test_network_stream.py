"""Live sources over the network: a synthetic crowd video served over HTTP as MPEG-TS from this test
process (loopback only), read as a camera, and sources that drop or stall mid-stream and come back."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from pipeline.errors import DataError
from pipeline.live import sources
from pipeline.live.stream import Outputs, Sampling, count_video
from pipeline.live.synth_video import make_video

FRAMES = 50


class OnesCounter:
    """A model stand-in: a 2x2 map of ones a frame (count 4), at once."""

    name, batch, target, stride, relative = "ones", 1, "density", 8, None

    def __call__(self, frames):
        return np.ones((len(frames), 2, 2), np.float32)


@pytest.fixture(scope="module")
def video_ts(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "crowd.ts"
    make_video(path, frames=FRAMES, shape=(72, 128), fps=25.0, seed=2, heads=(20, 40))
    return path.read_bytes()


def serve(data: bytes, plan: list[str]):
    """An HTTP server on 127.0.0.1 that streams `data` to each connection as the next entry of `plan` says:
    "all" (the whole video), "drop" (half of it, then the connection closes), "stall" (half, then silence
    for 3 s), "404"; connections past the plan get "all"."""
    state = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):  # noqa: N802 - http.server's name
            k = state["n"]
            state["n"] += 1
            mode = plan[k] if k < len(plan) else "all"
            if mode == "404":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(data)))  # a drop or stall sends less than it promised
            self.end_headers()
            end = len(data) if mode == "all" else len(data) // 2
            try:
                for i in range(0, end, 8192):
                    self.wfile.write(data[i : min(i + 8192, end)])
                    self.wfile.flush()
                    time.sleep(0.005)  # about a live stream's pace for this small video
                if mode == "stall":
                    time.sleep(3)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/crowd.ts", state


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_mpeg_ts_stream_over_http_is_counted_as_a_live_source(video_ts, tmp_path):
    server, url, state = serve(video_ts, ["all"])
    try:
        s = count_video(url, OnesCounter(), outputs=Outputs(records=str(tmp_path / "r.jsonl")), progress=False)
    finally:
        server.shutdown()
    records = _lines(tmp_path / "r.jsonl")
    assert s.frames == len(records) > 0 and s.frames + s.dropped == s.decoded == FRAMES and s.gaps == 0
    assert all(r["count"] == 4.0 and "lag" in r and "gap" not in r for r in records)
    assert [r["frame"] for r in records] == sorted({r["frame"] for r in records})  # in order, each once
    assert state["n"] == 1


def test_a_stream_that_drops_and_stalls_is_reconnected_with_its_gaps_in_the_records(video_ts, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "RECONNECT_BACKOFF_S", (0.2, 0.4))
    server, url, state = serve(video_ts, ["drop", "stall", "all"])
    events = tmp_path / "events.jsonl"
    try:
        s = count_video(
            url,
            OnesCounter(),
            outputs=Outputs(records=str(tmp_path / "r.csv"), alerts=events, alerts_stdout=False),
            sampling=Sampling(reconnect=3, stall_s=1.0),
            progress=False,
        )
    finally:
        server.shutdown()
    assert state["n"] == 3 and s.gaps == 2 and not s.interrupted
    rows = (tmp_path / "r.csv").read_text().splitlines()
    header, body = rows[0].split(","), [dict(zip(rows[0].split(","), r.split(","), strict=True)) for r in rows[1:]]
    assert header == ["frame", "t", "count", "lag", "gap"] and len(body) == s.frames  # no lost line
    frames = [int(r["frame"]) for r in body]
    assert frames == sorted(set(frames))  # numbering continues across the reconnects
    gaps = [r for r in body if r["gap"]]
    assert len(gaps) == 2 and all(float(g["gap"]) > 0.1 for g in gaps)
    stall = max(float(g["gap"]) for g in gaps)
    assert 0.9 < stall < 3.0  # the stall is cut at 1 s of silence, not waited out
    times = [float(r["t"]) for r in body]
    assert times == sorted(times)  # time keeps going through the gaps
    log = _lines(events)
    assert [e["event"] for e in log] == ["reconnected", "reconnected"]
    assert [e["frame"] for e in log] == [int(g["frame"]) for g in gaps]


def test_a_source_that_never_comes_back_is_one_error_after_the_attempts(video_ts, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "RECONNECT_BACKOFF_S", (0.05,))
    server, url, state = serve(video_ts, ["404"] * 10)
    try:
        with pytest.raises(DataError, match="cannot open as video"):
            count_video(
                url, OnesCounter(), outputs=Outputs(records=None), sampling=Sampling(reconnect=2), progress=False
            )
    finally:
        server.shutdown()
    assert state["n"] == 3  # the first try and 2 reconnects


def test_a_reconnect_is_reported_even_when_the_live_reader_drops_its_first_frame():
    """The first frame after a gap carries the gap; when the model is busy and a newer frame replaces
    it in the live reader, the newer frame carries the gap instead, so no reconnect goes unrecorded."""
    took_first, done = threading.Event(), threading.Event()
    image = np.zeros((4, 4, 3), np.uint8)

    def frames():
        yield sources.Frame(0, 0.0, image)
        took_first.wait(5)  # the model is busy with frame 0 while the next three arrive
        yield sources.Frame(1, 1.0, image, gap=0.7)  # the first frame after a reconnect
        yield sources.Frame(2, 1.1, image)
        yield sources.Frame(3, 1.2, image)
        done.wait(5)

    reader = sources._Reader(frames(), latest=True)
    it = iter(reader)
    got = [next(it)]
    took_first.set()
    time.sleep(0.3)  # frames 1 and 2 are replaced unread
    got.append(next(it))
    done.set()
    got += list(it)
    assert [f.index for f in got] == [0, 3] and reader.dropped == 2
    assert [f.gap for f in got] == [0.0, 0.7]
