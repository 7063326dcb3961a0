"""Crowd flow's ground truth and geometry: counting lines, the synthetic video of people who walk, and
tracks of head points counted on lines."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import DataError
from pipeline.live.lines import Line, load_lines
from pipeline.live.tracking import PointTracker, TrackerConfig
from pipeline.live.walkers import WalkConfig, render, simulate, true_crossings, write_mot

DOWN = Line("gate", np.array([10.0, 0.0]), np.array([10.0, 20.0]), "right")  # drawn downwards: right is -x


def test_a_step_across_the_segment_is_one_crossing_with_its_direction():
    before = [[12, 5], [8, 5], [12, 5], [12, 25], [12, 5], [np.nan, 5]]
    after = [[8, 5], [12, 5], [11, 6], [8, 25], [10, 5], [8, 5]]
    # in (to the right of a->b: smaller x), out, no crossing, past the segment's end, onto the line (which
    # counts as its left), no step
    assert DOWN.crossings(before, after).tolist() == [1, -1, 0, 0, 0, 0]
    assert DOWN.crossings([[10, 5]], [[8, 5]]).tolist() == [1]  # ... and from the line on to the right: once
    flipped = Line("gate", DOWN.a, DOWN.b, "left")
    assert flipped.crossings(before, after).tolist() == [-1, 1, 0, 0, 0, 0]
    assert np.allclose(DOWN.normal, [-1, 0]) and np.allclose(flipped.normal, [1, 0])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("lines: []", "non-empty list under 'lines'"),
        ("lines:\n- {name: a, points: [[0, 0], [1, 1]]}\n- {name: a, points: [[0, 0], [2, 2]]}", "used twice"),
        ("lines:\n- {name: a, points: [[0, 0]]}", "points: list should have at least 2 items, not 1"),
        ("lines:\n- {name: a, points: [[0, 0], [0, 0]]}", "two points are the same"),
        ("lines:\n- {name: a, points: [[0, 0], [true, 1]]}", "points[1][0]: input should be a valid number"),
        ("lines:\n- {name: a, points: [[0, 0], [1, 1]], in: up}", "in: input should be 'left' or 'right' (got 'up')"),
        ("lines:\n- {name: a, points: [[0, 0], [1, 1]], zone: x}", "line 'a': unknown key 'zone'"),
        ("lines:\n- {name: a, name: b, points: [[0, 0], [1, 1]]}", "appears twice"),
        ("[unclosed", "not a YAML or JSON line file"),
    ],
)
def test_a_bad_line_file_is_one_line_naming_it(tmp_path, text, problem):
    path = tmp_path / "lines.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=str(path)) as err:
        load_lines(path)
    assert problem in str(err.value) and "\n" not in str(err.value)


def test_a_line_file_reads_its_lines():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "lines.json"
        path.write_text('{"lines": [{"name": "door", "points": [[1, 2], [3, 4]], "in": "left"}]}')
        (door,) = load_lines(path)
    assert door.name == "door" and door.in_side == "left" and door.a.tolist() == [1, 2]


def test_the_walking_crowd_is_the_same_by_seed_and_its_crossings_are_each_persons():
    cfg = WalkConfig(frames=40, width=160, height=96, arrivals=2.0, seed=3)
    a, b = simulate(cfg), simulate(cfg)
    assert np.array_equal(a.positions, b.positions, equal_nan=True) and a.flows == b.flows
    assert {"stream-right", "stream-left", "cross"} <= set(a.flows)
    frames = list(render(a))
    assert all(np.array_equal(x, y) for x, y in zip(frames, render(b), strict=True))
    assert frames[0].shape == (96, 160, 3) and not np.array_equal(frames[0], frames[-1])  # they walk
    line = Line("mid", np.array([80.0, 20.0]), np.array([80.0, 96.0]))
    truth = true_crossings(a, line)
    brute = [0, 0]  # person by person, step by step
    for i in range(a.positions.shape[1]):
        for k in range(1, cfg.frames):
            c = line.crossings(a.positions[k - 1, i], a.positions[k, i])[0]
            brute[0 if c > 0 else 1] += c != 0
    assert truth.sum(axis=0).tolist() == brute and sum(brute) > 0
    assert (
        simulate(WalkConfig(frames=40, width=160, height=96, arrivals=2.0, seed=4)).positions.shape != a.positions.shape
    )


def test_the_ground_truth_reads_as_motchallenge(tmp_path):
    scene = simulate(WalkConfig(frames=20, width=160, height=96, arrivals=2.0))
    n = write_mot(tmp_path / "gt.txt", scene)
    rows = np.loadtxt(tmp_path / "gt.txt", delimiter=",").reshape(-1, 9)
    assert n == len(rows) == np.isfinite(scene.positions[..., 0]).sum()
    assert rows[:, 0].min() == 1 and rows[:, 0].max() <= 20 and set(rows[:, 1].astype(int)) <= set(scene.ids)
    frame, pid, left, top, w, h = rows[0, :6]
    x, y = scene.positions[int(frame) - 1, int(pid) - 1]
    assert left + w / 2 == pytest.approx(x, abs=0.01) and top + h / 2 == pytest.approx(y, abs=0.01)


def test_tracks_of_the_true_heads_count_exactly_what_crossed():
    scene = simulate(WalkConfig(frames=120, arrivals=2.0, seed=1))
    line = Line("mid", np.array([320.0, 90.0]), np.array([320.0, 360.0]), "left")
    tracker = PointTracker([line], TrackerConfig(point_noise=0.5))
    per_frame = [tracker.update(scene.heads(k)[1])["mid"] for k in range(120)]
    truth = true_crossings(scene, line)
    assert tuple(tracker.totals["mid"]) == tuple(truth.sum(axis=0)) and truth.sum() > 5
    assert np.array_equal(np.array(per_frame), truth)  # and in the frame they happened


def test_a_crossing_made_before_its_track_is_confirmed_counts_once_confirmed_and_a_blip_never():
    line = Line("gate", np.array([50.0, 0.0]), np.array([50.0, 100.0]), "right")
    tracker = PointTracker([line], TrackerConfig(min_hits=2))
    steps = [tracker.update(np.array([[x, 40.0]]))["gate"] for x in (48.0, 52.0, 56.0, 60.0)]
    assert steps[1] == (0, 0) and sum(i + o for i, o in steps) == 1  # held at 52, counted at 56
    assert tracker.totals["gate"] in ([1, 0], [0, 1])
    blip = PointTracker([line], TrackerConfig(min_hits=2))
    for points in ([[48.0, 40.0]], [[52.0, 40.0]], [], [], [], [], [], [], []):  # seen twice, then gone
        blip.update(np.array(points).reshape(-1, 2))
    assert blip.totals["gate"] == [0, 0]


def test_tracks_of_jittered_heads_stay_close_to_the_truth():
    scene = simulate(WalkConfig(frames=150, arrivals=2.0))
    line = Line("mid", np.array([320.0, 90.0]), np.array([320.0, 360.0]), "left")
    rng = np.random.default_rng(1)
    tracker = PointTracker([line], TrackerConfig(point_noise=1.5))
    for k in range(150):
        points = scene.heads(k)[1]
        tracker.update(points + rng.normal(0, 1.5, points.shape))
    truth = true_crossings(scene, line).sum(axis=0)
    assert np.abs(np.array(tracker.totals["mid"]) - truth).max() <= 2


@pytest.mark.slow
def test_flux_of_the_true_density_and_the_frames_optical_flow_is_near_the_true_crossings():
    from pipeline.density import compute_density
    from pipeline.kernels import DensityParams
    from pipeline.live.flow import LineCounter, LineCounting
    from pipeline.live.flux import Motion

    scene = simulate(WalkConfig(frames=100, arrivals=2.0, seed=1))
    line = Line("mid", np.array([320.0, 90.0]), np.array([320.0, 360.0]), "left")
    counter, motion = LineCounter(LineCounting((line,), "flux")), Motion()
    kernel = DensityParams(method="fixed", sigma=4.0, border="renormalize")
    for k, frame in enumerate(render(scene)):
        density = compute_density(scene.heads(k)[1], (360, 640), kernel).density
        cells = density.reshape(45, 8, 80, 8).sum(axis=(1, 3))
        got = counter.update(frame.shape[:2], cells, 8, motion.step(frame))["mid"]
    truth = true_crossings(scene, line).sum(axis=0)
    assert got["method"] == "flux" and truth.sum() >= 10
    assert abs(got["in"] - truth[0]) <= 1.5 and abs(got["out"] - truth[1]) <= 1.5


def test_flow_for_lines_alone_is_the_box_around_them_and_counts_as_the_whole_frames_does():
    from pipeline.density import compute_density
    from pipeline.kernels import DensityParams
    from pipeline.live.flow import LineCounter, LineCounting
    from pipeline.live.flux import MARGIN, Motion, lines_box

    scene = simulate(WalkConfig(frames=40, arrivals=6.0, seed=2))
    line = Line("mid", np.array([320.0, 90.0]), np.array([320.0, 360.0]), "left")
    rows, cols = lines_box([line], (360, 640))
    assert (rows, cols) == (slice(90 - MARGIN, 360), slice(320 - MARGIN, 321 + MARGIN))
    assert lines_box([Line("edge", np.array([-5.0, 0.0]), np.array([700.0, 10.0]), "left")], (360, 640))[1] == slice(
        0, 640
    )
    whole, boxed = Motion(), Motion([line])
    counters = [LineCounter(LineCounting((line,), "flux")) for _ in range(2)]
    kernel = DensityParams(method="fixed", sigma=4.0, border="renormalize")
    for k, frame in enumerate(render(scene)):
        cells = compute_density(scene.heads(k)[1], (360, 640), kernel).density.reshape(45, 8, 80, 8).sum(axis=(1, 3))
        flows = whole.step(frame), boxed.step(frame)
        got = [c.update(frame.shape[:2], cells, 8, f)["mid"] for c, f in zip(counters, flows, strict=True)]
        if flows[1] is not None:
            outside = np.ones((360, 640), bool)
            outside[rows, cols] = False
            assert not flows[1][outside].any() and flows[1][rows, cols].any()
    assert got[0]["in"] + got[0]["out"] > 5
    assert (
        abs(got[1]["in"] - got[0]["in"]) <= 0.05 * got[0]["in"]
        and abs(got[1]["out"] - got[0]["out"]) <= 0.05 * got[0]["out"]
    )


def test_count_gives_cumulative_in_and_out_per_line_in_json_lines_and_csv(tmp_path):
    import json

    import torch
    from click.testing import CliRunner
    from PIL import Image

    from pipeline.cli import cli
    from pipeline.live.walkers import write_video
    from pipeline.model import CSRNet, ModelConfig
    from pipeline.train import save_checkpoint

    write_video(tmp_path / "walk.mp4", simulate(WalkConfig(frames=12, width=160, height=96, arrivals=3.0)))
    torch.manual_seed(0)
    model = CSRNet(0.0625)
    with torch.no_grad():
        model.output.bias.fill_(0.05)
    save_checkpoint(tmp_path / "m.pt", model=model.state_dict(), model_config=ModelConfig(width=0.0625).__dict__)
    (tmp_path / "lines.yaml").write_text(
        "lines:\n- {name: mid, points: [[80, 10], [80, 96]], rate_threshold: 0.001}\n"
        "- {name: low, points: [[0, 70], [160, 70]], in: left}\n"
    )

    common = [
        "count",
        str(tmp_path / "walk.mp4"),
        "--checkpoint",
        str(tmp_path / "m.pt"),
        "--lines",
        str(tmp_path / "lines.yaml"),
    ]
    r = CliRunner().invoke(
        cli,
        [*common, "--line-method", "flux", "--out", str(tmp_path / "r.jsonl"), "--alerts", str(tmp_path / "a.jsonl")]
        + ["--overlay", str(tmp_path / "o.mp4"), "--smooth", "0"],
    )
    assert r.exit_code == 3, r.output  # an alert fired
    alerts = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert any(a["event"] == "alert" and a["zone"] == "mid:rate" for a in alerts)  # crossings a minute
    assert (tmp_path / "o.mp4").stat().st_size > 0
    records = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(records) == 12 and set(records[-1]["lines"]) == {"mid", "low"}
    ins = [x["lines"]["mid"]["in"] for x in records]
    assert ins == sorted(ins) and all(x["lines"]["low"]["method"] == "flux" for x in records)
    tracks = ["--tracks", str(tmp_path / "t.txt")]
    r = CliRunner().invoke(
        cli, [*common, "--out", str(tmp_path / "r.csv"), "--flow", str(tmp_path / "flow.png"), *tracks]
    )
    assert r.exit_code in (0, 3), r.output
    assert Image.open(tmp_path / "flow.png").size == (160, 96)
    assert all(row.count(",") == 9 and row.endswith(",1,-1,-1,-1") for row in (tmp_path / "t.txt").read_text().split())
    (tmp_path / "theirs.txt").write_text("not tracks\n")
    r = CliRunner().invoke(cli, [*common, "--tracks", str(tmp_path / "theirs.txt")])
    assert "theirs.txt: exists and is not a headcount tracks file" in str(r.exception), r.output  # a ConfigError
    r = CliRunner().invoke(cli, [*common, *tracks, "--line-method", "flux"])
    assert r.exit_code == 2 and "tracks come from the tracks method" in r.output, r.output
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert {"line:mid:in", "line:mid:out", "line:low:in", "line:low:out"} <= set(header)
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(photo)
    r = CliRunner().invoke(
        cli, ["count", str(photo), "--checkpoint", str(tmp_path / "m.pt"), "--lines", str(tmp_path / "lines.yaml")]
    )
    assert r.exit_code == 2 and "give a video" in r.output


def test_the_flow_map_shows_a_stream_moving_right_at_its_speed_and_where_people_stand(tmp_path):
    from pipeline.density import compute_density
    from pipeline.kernels import DensityParams
    from pipeline.live.flowmap import MIN_PEOPLE, FlowMap
    from pipeline.live.flux import Motion

    cfg = WalkConfig(frames=40, arrivals=3.0, flows=("stream-right",), stop_and_go=0.0, speed=(2.0, 2.0), seed=2)
    scene = simulate(cfg)
    flow_map, motion = FlowMap(fps=cfg.fps), Motion()
    kernel = DensityParams(method="fixed", sigma=4.0, border="renormalize")
    for k, frame in enumerate(render(scene)):
        cells = compute_density(scene.heads(k)[1], (360, 640), kernel).density.reshape(45, 8, 80, 8).sum(axis=(1, 3))
        flow_map.update(cells, motion.step(frame), 8, frame)
    centres, people, velocity = flow_map.regions()
    assert people.sum() == pytest.approx(np.isfinite(scene.positions[..., 0]).sum(axis=1).mean(), rel=0.02)
    busy = people > 0.5
    assert busy.sum() >= 3 and (velocity[busy, 0] > 0).all()  # every busy region streams right
    assert np.abs(velocity[busy, 1]).max() < 0.3 * velocity[busy, 0].min()
    # speed: 2 px a frame at the bottom, 0.7 at the horizon; 25 fps
    assert 0.6 * 2 * 0.35 * 25 < np.median(velocity[busy, 0]) < 1.2 * 2 * 25
    image = flow_map.render((360, 640))
    assert image.size == (640, 360) and MIN_PEOPLE > 0


def test_the_overlays_arrows_follow_the_crowd_now_and_the_maps_the_whole_video():
    from PIL import Image

    from pipeline.live.flowmap import FlowMap

    flow_map = FlowMap(fps=25.0)
    density = np.full((8, 8), 0.1)
    right, left = np.zeros((64, 64, 2)), np.zeros((64, 64, 2))
    right[..., 0], left[..., 0] = 2.0, -2.0
    for flow in [right] * 100 + [left] * 25:  # four seconds to the right, then one to the left
        flow_map.update(density, flow, 8)
    whole, now = flow_map.regions()[2][:, 0], flow_map.regions(recent=True)[2][:, 0]
    assert np.allclose(whole, (100 * 50 - 25 * 50) / 125)  # px a second
    assert (now < -10).all()  # the fading sums point where the crowd goes now
    assert np.allclose(flow_map.regions(recent=True)[1], flow_map.regions()[1])  # as many people either way

    def mean_column(recent: bool) -> float:  # of the pixels drawn: arrows to the left lie left of those to the right
        drawn = np.asarray(flow_map.draw_arrows(Image.new("RGB", (64, 64)), recent=recent)).max(axis=2) > 0
        return float(np.nonzero(drawn)[1].mean())

    assert mean_column(recent=True) < mean_column(recent=False) - 3


def test_count_draws_the_flow_arrows_on_the_overlay_when_flow_is_asked_for(tmp_path):
    import av
    import torch

    from pipeline.infer.counter import TorchCounter
    from pipeline.live.stream import Outputs, count_video
    from pipeline.live.walkers import write_video
    from pipeline.model import CSRNet, ModelConfig
    from pipeline.train import save_checkpoint

    cfg = WalkConfig(frames=30, width=160, height=96, arrivals=4.0, flows=("stream-right",), stop_and_go=0.0, seed=3)
    write_video(tmp_path / "walk.mp4", simulate(cfg))
    torch.manual_seed(0)
    model = CSRNet(0.0625)
    with torch.no_grad():
        model.output.bias.fill_(0.05)
    save_checkpoint(tmp_path / "m.pt", model=model.state_dict(), model_config=ModelConfig(width=0.0625).__dict__)
    counter = TorchCounter(tmp_path / "m.pt", torch.device("cpu"))
    last = []
    for name, flow in (("plain.mp4", None), ("arrows.mp4", tmp_path / "flow.png")):
        outputs = Outputs(None, overlay=tmp_path / name, flow=flow, alerts_stdout=False)
        count_video(str(tmp_path / "walk.mp4"), counter, outputs=outputs, progress=False)
        with av.open(str(tmp_path / name)) as video:
            last.append([f.to_ndarray(format="rgb24") for f in video.decode(video=0)][-1].astype(int))
    changed = np.abs(last[1] - last[0]).max(axis=2) > 60
    assert changed.sum() > 20 and (last[1][changed].min(axis=1) > 150).mean() > 0.5  # white arrows drawn
    assert (tmp_path / "flow.png").stat().st_size > 0


def test_line_thresholds_are_read_and_a_bad_one_is_one_line(tmp_path):
    path = tmp_path / "lines.yaml"
    path.write_text("lines:\n- {name: door, points: [[0, 0], [9, 0]], occupancy_threshold: 40, rate_threshold: 12.5}\n")
    (door,) = load_lines(path)
    assert (door.occupancy_threshold, door.rate_threshold) == (40.0, 12.5)
    path.write_text("lines:\n- {name: door, points: [[0, 0], [9, 0]], rate_threshold: fast}\n")
    with pytest.raises(DataError, match="line 'door': rate_threshold: input should be a valid number"):
        load_lines(path)


def test_the_tracker_keeps_each_walkers_identity_on_jittered_true_heads():
    """Scored as MOTChallenge scores trackers (motmetrics): IDF1 and MOTA on the walking crowd."""
    import motmetrics as mm

    scene = simulate(WalkConfig(frames=100, arrivals=2.0, seed=5))
    tracker = PointTracker([], TrackerConfig(point_noise=1.5))
    rng = np.random.default_rng(0)
    acc = mm.MOTAccumulator(auto_id=True)
    for k in range(100):
        ids, points = scene.heads(k)
        tracker.update(points + rng.normal(0, 1.5, points.shape))
        hyp = tracker.active()
        hyp_points = np.array([p for _, p in hyp]).reshape(-1, 2)
        acc.update(ids, [i for i, _ in hyp], mm.distances.norm2squared_matrix(points, hyp_points, max_d2=8.0**2))
    summary = mm.metrics.create().compute(acc, metrics=["idf1", "mota", "num_switches"], name="walkers")
    idf1, mota = (float(summary[m].iloc[0]) for m in ("idf1", "mota"))
    assert idf1 > 0.9 and mota > 0.9, summary  # switches happen where two walkers pass through each other


def test_count_writes_tracks_as_motchallenge_rows_that_score_against_the_walking_crowds_truth(tmp_path):
    """`count --tracks` (`TrackWriter` under `count_frames`), fed the true density of each frame: the rows
    read back as tracks, and HOTA against the ground truth's ``gt.txt`` is what benchmarks/flow.py
    measures for the true density (about 0.5, heads decoded at stride 8)."""
    from pipeline.density import compute_density
    from pipeline.kernels import DensityParams
    from pipeline.live.sinks import TrackWriter
    from pipeline.live.sources import Frame
    from pipeline.live.stream import count_frames
    from pipeline.scoring.hota import hota

    scene = simulate(WalkConfig(frames=60, arrivals=1.0, seed=1))
    kernel = DensityParams(method="fixed", sigma=4.0, border="renormalize")
    maps = [
        compute_density(scene.heads(k)[1], (360, 640), kernel).density.reshape(45, 8, 80, 8).sum(axis=(1, 3))
        for k in range(60)
    ]

    class TrueDensity:  # the model's place: each frame's true density, in order
        stride, target, batch = 8, "density", 1

        def __init__(self):
            self.k = 0

        def __call__(self, images):
            self.k += len(images)
            return np.stack(maps[self.k - len(images) : self.k])

    writer = TrackWriter(tmp_path / "tracks.txt", 8.0)
    frames = [Frame(k, k / 25, image) for k, image in enumerate(render(scene))]
    count_frames(frames, TrueDensity(), live=False, on_tracks=writer.write)
    writer.close()
    write_mot(tmp_path / "gt.txt", scene)

    def read(path, columns):
        rows = np.loadtxt(path, delimiter=",").reshape(-1, columns)
        centres = rows[:, 2:4] + rows[:, 4:6] / 2
        return [(rows[rows[:, 0] == k + 1, 1].astype(int), centres[rows[:, 0] == k + 1]) for k in range(60)]

    rows = np.loadtxt(tmp_path / "tracks.txt", delimiter=",").reshape(-1, 10)
    assert (rows[:, 4:6] == 8.0).all() and set(rows[:, 0].astype(int)) <= set(range(1, 61))
    score = hota(read(tmp_path / "gt.txt", 9), read(tmp_path / "tracks.txt", 10), 8.0)
    assert 0.4 < score.hota < 0.7 and score.det_a > 0.3, score
