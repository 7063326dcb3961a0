"""Counting videos and live sources: frames in order, zones, alerts, drop policy, ONNX, and the command."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pipeline.checkpoint import save_checkpoint
from pipeline.cli import cli
from pipeline.errors import ConfigError, DataError
from pipeline.infer.counter import OnnxCounter, TorchCounter
from pipeline.infer.export import export_onnx, quantize_onnx
from pipeline.live.alerts import AlertConfig, AlertMonitor
from pipeline.live.sources import Frame, decode, paced, sample
from pipeline.live.stream import Alerting, Outputs, Sampling, count_frames, count_video
from pipeline.live.synth_video import make_video
from pipeline.live.zones import Zone, cell_weights, load_zones, polygon_mask, zone_counts
from pipeline.model import CSRNet, ModelConfig

CPU = torch.device("cpu")
FRAMES, SHAPE = 12, (96, 128)  # (H, W)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = ModelConfig(width=0.125, batch_norm=True)
    model = CSRNet(cfg.width, cfg.batch_norm).eval()
    path = tmp_path_factory.mktemp("model") / "ck.pt"
    save_checkpoint(path, model=model.state_dict(), model_config=asdict(cfg))
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "crowd.mp4"
    truth = make_video(path, frames=FRAMES, shape=SHAPE, fps=25, heads=(20, 60))
    return path, truth


def test_the_synthetic_video_pans_across_a_crowd_with_known_counts(video):
    path, truth = video
    frames = list(decode(str(path)))
    assert len(frames) == len(truth) == FRAMES and frames[0].image.shape == (96, 128, 3)
    assert [f.index for f in frames] == list(range(FRAMES))
    assert [round(f.t, 3) for f in frames] == [round(i / 25, 3) for i in range(FRAMES)]
    assert truth.min() > 0 and len(set(truth.tolist())) > 1  # heads enter and leave the view


def test_every_frame_is_counted_in_order_as_the_model_counts_it(video, checkpoint, tmp_path):
    path, _ = video
    counter = TorchCounter(checkpoint, CPU)
    out = tmp_path / "counts.jsonl"
    summary = count_video(str(path), counter, outputs=Outputs(str(out), alerts_stdout=False), progress=False)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [float(counter(f.image[None])[0].sum(dtype=np.float64)) for f in decode(str(path))]
    assert [r["frame"] for r in records] == list(range(FRAMES)) and summary.frames == FRAMES
    assert [r["count"] for r in records] == pytest.approx(expected, rel=1e-6)
    assert summary.dropped == 0 and not summary.interrupted
    # in batches of 5 (how a GPU is fed): the same frames, the same counts, the last batch short
    quiet = Outputs(str(out), alerts_stdout=False)
    count_video(str(path), counter, outputs=quiet, sampling=Sampling(batch=5), progress=False)
    batched = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in batched] == list(range(FRAMES))
    assert [r["count"] for r in batched] == pytest.approx(expected, rel=1e-5)


def test_sampling_on_purpose_by_frame_and_by_rate(video):
    path, _ = video
    frames = list(decode(str(path)))
    assert [f.index for f in sample(frames, every=3)] == [0, 3, 6, 9]
    assert [f.index for f in sample(frames, fps=10)] == [0, 3, 5, 8, 10]  # 25 fps source: 0, 0.1, 0.2 ... s


def test_onnx_export_counts_like_pytorch_within_1e_4(checkpoint, video, tmp_path):
    onnx_path = export_onnx(checkpoint, tmp_path / "m.onnx")
    ort, torch_counter = OnnxCounter(onnx_path), TorchCounter(checkpoint, CPU)
    rng = np.random.default_rng(0)
    frames = [f.image for f in decode(str(video[0]))][:4]
    frames += [rng.integers(0, 256, (101, 149, 3), dtype=np.uint8)]  # not a multiple of 8: padding in the graph
    for f in frames:
        a, b = ort(f[None]), torch_counter(f[None])
        assert a.shape == b.shape
        assert abs(a.sum(dtype=np.float64) - b.sum(dtype=np.float64)) <= 1e-4 * abs(b.sum(dtype=np.float64))
    batch = np.stack(frames[:3])
    assert ort(batch).shape[0] == 3  # dynamic batch too


def test_int8_export_keeps_counts_close(checkpoint, video, tmp_path):
    fp32 = export_onnx(checkpoint, tmp_path / "m.onnx")
    frames = [f.image for f in decode(str(video[0]))]
    int8 = OnnxCounter(quantize_onnx(fp32, tmp_path / "m8.onnx", frames[::2]))
    ref = OnnxCounter(fp32)
    for f in frames[1::2]:
        a, b = int8(f[None]).sum(dtype=np.float64), ref(f[None]).sum(dtype=np.float64)
        assert a != b and abs(a - b) <= 0.1 * abs(b)


def test_export_never_overwrites_a_file_that_is_not_an_onnx_model(checkpoint, tmp_path):
    precious = tmp_path / "notes.onnx"
    precious.write_text("my notes")
    r = CliRunner().invoke(cli, ["export-model", str(checkpoint), "--out", str(precious)])
    assert r.exit_code != 0 and precious.read_text() == "my notes"


def test_zones_that_tile_the_frame_add_up_to_the_total():
    h, w = 45, 70  # not multiples of 8: border cells hold fewer pixels
    density = np.random.default_rng(0).random((6, 9)).astype(np.float32)
    tiles = [
        Zone("left-top", np.array([[0, 0], [35, 0], [0, 45]], float)),  # split along a diagonal
        Zone("left-rest", np.array([[35, 0], [35, 45], [0, 45]], float)),
        Zone("right", np.array([[35, 0], [70, 0], [70, 45], [35, 45]], float)),
    ]
    w_ = cell_weights(tiles, (h, w))
    masks = [polygon_mask(z.polygon, (h, w)) for z in tiles]
    assert (sum(m.astype(int) for m in masks) == 1).all()  # every pixel in exactly one zone
    # edges through pixel centres (x = 4.5, y = 4.5): each such pixel still lands in exactly one zone
    quads = [[[0, 0], [4.5, 0], [4.5, 4.5], [0, 4.5]], [[4.5, 0], [10, 0], [10, 4.5], [4.5, 4.5]]]
    quads += [[[0, 4.5], [10, 4.5], [10, 10], [0, 10]]]
    assert (sum(polygon_mask(np.array(q), (10, 10)).astype(int) for q in quads) == 1).all()
    counts = zone_counts(density, w_)
    assert counts.sum() == pytest.approx(float(density.sum(dtype=np.float64)), rel=1e-9)
    # pixels 35..39 of cell column 4 (32..39) are "right": 5/8 of it
    assert counts[2] == pytest.approx(float(density[:, 5:].sum() + 0.625 * density[:, 4].sum()), rel=1e-6)


def test_a_bad_zone_file_names_itself_and_the_problem(tmp_path):
    cases = {
        "a.yaml": ("zones: [{name: a, polygon: [[0, 0], [1, 1]]}]", "at least 3"),
        "b.yaml": (
            "zones: [{name: a, polygon: [[0,0],[1,0],[1,1]]}, {name: a, polygon: [[0,0],[1,0],[1,1]]}]",
            "twice",
        ),
        "c.json": ('{"zones": [{"name": "a", "polygon": [[0,0],[1,0],[1,1]], "threshold": "x"}]}', "threshold"),
        "d.yaml": ("zones: [", "not a YAML"),
    }
    for name, (text, problem) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=problem) as err:
            load_zones(tmp_path / name)
        assert name in str(err.value)


def test_alerts_fire_once_and_clear_with_hysteresis():
    monitor = AlertMonitor({"z": 10.0}, AlertConfig(smoothing_s=0, hysteresis=0.2))
    series = [5, 9, 10, 11, 9.5, 8.5, 10.2, 7.9, 7.0, 10.0]
    events = []
    for t, c in enumerate(series):
        events += [(t, e["event"]) for e in monitor.update(float(t), {"z": c})[1]]
    # 9.5 and 8.5 stay above 10 x 0.8: no flapping; 7.9 clears; 10.0 fires again
    assert events == [(2, "alert"), (7, "clear"), (9, "alert")] and monitor.fired == 2


def test_smoothing_follows_time_not_frames():
    a = AlertMonitor({}, AlertConfig(smoothing_s=1.0))
    b = AlertMonitor({}, AlertConfig(smoothing_s=1.0))
    a.update(0.0, {"z": 0.0})
    b.update(0.0, {"z": 0.0})
    for t in np.arange(1, 11) / 10:  # 10 frames over a second ...
        sa, _ = a.update(float(t), {"z": 100.0})
    sb, _ = b.update(1.0, {"z": 100.0})  # ... or one frame a second later: the same smoothed value
    assert sa["z"] == pytest.approx(sb["z"], rel=1e-9) == pytest.approx(100 * (1 - np.exp(-1)), rel=1e-9)


def _frames(n: int, fps: float):
    image = np.zeros((16, 16, 3), np.uint8)
    return (Frame(i, i / fps, image) for i in range(n))


class SlowCounter:
    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, frames):
        time.sleep(self.seconds)
        return np.ones((len(frames), 2, 2), np.float32)


def test_a_live_source_drops_frames_instead_of_falling_behind():
    n, fps, cost = 60, 100.0, 0.03  # the model takes 3 frame-times per frame
    s = count_frames(paced(_frames(n, fps)), SlowCounter(cost), live=True)
    assert s.frames + s.dropped == n and s.dropped >= n // 2
    # a frame waits for at most the one being counted (a queue would reach ~1 s here); 50 ms for the scheduler
    assert s.lag_max_s < 2 * cost + 0.05
    assert s.seconds < n / fps + 4 * cost  # done soon after the source ends, not a queue later
    f = count_frames(_frames(20, fps), SlowCounter(0.005), live=False)
    assert f.frames == 20 and f.dropped == 0  # a file: every frame, as fast as the model goes


def test_count_command_writes_zones_overlay_snapshots_and_exits_3_on_an_alert(video, tmp_path):
    path, _ = video
    torch.manual_seed(0)
    cfg = ModelConfig(width=0.125, batch_norm=True)
    model = CSRNet(cfg.width, cfg.batch_norm).eval()
    with torch.no_grad():
        model.output.bias.fill_(0.5)  # positive counts: --threshold is a head count, never below 0
    checkpoint = tmp_path / "positive.pt"
    save_checkpoint(checkpoint, model=model.state_dict(), model_config=asdict(cfg))
    counter = TorchCounter(checkpoint, CPU)
    totals = [float(counter(f.image[None])[0].sum(dtype=np.float64)) for f in decode(str(path))]
    zones = tmp_path / "zones.yaml"  # an untrained model: a zone's count may be negative, hence its threshold
    zones.write_text(
        "zones:\n- {name: left, polygon: [[0,0],[64,0],[64,96],[0,96]]}\n"
        "- {name: right, polygon: [[64,0],[128,0],[128,96],[64,96]], threshold: -1.0e+6}\n"
    )
    args = [
        "count",
        str(path),
        "--checkpoint",
        str(checkpoint),
        "--zones",
        str(zones),
        "--out",
        str(tmp_path / "c.csv"),
    ]
    args += ["--threshold", str(min(totals) - 1), "--overlay", str(tmp_path / "o.mp4"), "--snapshots", str(tmp_path)]
    r = CliRunner().invoke(cli, [*args, "--smooth", "0"])
    assert r.exit_code == 3, r.output
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    assert [int(row["frame"]) for row in rows] == list(range(FRAMES))
    for row, total in zip(rows, totals, strict=True):
        assert float(row["count"]) == pytest.approx(total, rel=1e-6)
        assert float(row["zone:left"]) + float(row["zone:right"]) == pytest.approx(total, rel=1e-6)
    alerts = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert {(a["event"], a["zone"], a["frame"]) for a in alerts} == {("alert", "total", 0), ("alert", "right", 0)}
    assert len(list(tmp_path.glob("alert_000000_*.png"))) == 2
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == FRAMES


def test_count_streams_json_lines_to_stdout(video, checkpoint):
    r = CliRunner().invoke(cli, ["count", str(video[0]), "--checkpoint", str(checkpoint), "--every", "4"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["frame"] for x in lines] == [0, 4, 8] and all(set(x) == {"frame", "t", "count", "zones"} for x in lines)


def test_ctrl_c_stops_cleanly_and_keeps_every_line_written(checkpoint, tmp_path):
    path = tmp_path / "long.mp4"
    # 10 s when replayed live: a loaded CI machine still sends Ctrl-C long before the end (4 s was too short once)
    make_video(path, frames=250, shape=(48, 64), fps=25, heads=(5, 20))
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "pipeline", "count", str(path), "--checkpoint", str(checkpoint), "--live"]
    # as from a terminal: a test run in the background (`make test &`) inherits SIGINT ignored, and Python
    # then never turns Ctrl-C into KeyboardInterrupt
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen([*cmd, "--out", str(out)], stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 5):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = out.read_text().splitlines()
    assert 5 <= len(lines) < 250 and all(json.loads(line)["lag"] >= 0 for line in lines)
    assert "interrupted" in err and "Traceback" not in err


@pytest.mark.slow
def test_bad_video_input_exits_1_naming_the_file(checkpoint, tmp_path):
    (tmp_path / "bad.mp4").write_text("not a video")
    cases = [
        (["bad.mp4", "--checkpoint", str(checkpoint)], "bad.mp4: cannot open as video"),
        (["gone.mp4", "--checkpoint", str(checkpoint)], "gone.mp4: video file not found"),
        (["bad.mp4", "--checkpoint", "gone.onnx"], "gone.onnx: ONNX model not found"),
    ]
    for args, message in cases:
        r = subprocess.run(
            [sys.executable, "-m", "pipeline", "count", *args], cwd=tmp_path, capture_output=True, text=True
        )
        assert r.returncode == 1 and f"error: {message}" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_bench_stream_reports_fps_drops_and_error_against_the_truth(tmp_path):
    """A model that answers 0.25 heads in every cell counts 24 on a 96x64 frame (12x8 cells): the error against
    the video's true counts is then known exactly."""
    cfg = ModelConfig(width=0.125, batch_norm=True)
    state = {
        k: torch.zeros_like(v) if k.endswith(("weight", "bias")) else v
        for k, v in CSRNet(0.125, True).state_dict().items()
    }
    state["output.bias"] = torch.tensor([0.25])
    save_checkpoint(tmp_path / "flat.pt", model=state, model_config=asdict(cfg))
    args = ["--size", "96x64", "--frames", "6", "--runtime", "onnx", "--checkpoint", str(tmp_path / "flat.pt")]
    truth = make_video(tmp_path / "same.mp4", frames=6, shape=(64, 96), fps=25)  # the bench's video, made again
    for scale, cells in ((["--scale", "1"], 12 * 8), ([], 6 * 4)):  # by default frames are counted at half size
        r = CliRunner().invoke(cli, ["bench", "stream", *args, *scale, "--json"])
        assert r.exit_code == 0, r.output
        x = json.loads(r.stdout)
        assert x["frames"] == x["decoded"] == 6 and x["dropped"] == 0 and x["fps"] > 0
        assert x["counter"] == "onnxruntime:cpu" and x["scale"] == (1.0 if scale else 0.5)
        assert x["mae_vs_truth"] == pytest.approx(np.abs(cells / 4 - truth).mean(), abs=1e-3)


def test_two_videos_into_one_out_file_keep_every_row_with_its_source(video, checkpoint, tmp_path):
    """The second video used to truncate the file: the first one's rows were lost, with exit 0."""
    import shutil

    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    shutil.copy(video[0], first)
    shutil.copy(video[0], second)
    out = tmp_path / "rows.csv"
    base = ["count", str(first), str(second), "--checkpoint", str(checkpoint), "--every", "4"]
    for _ in range(2):  # a second run replaces the file it wrote itself
        r = CliRunner().invoke(cli, [*base, "--out", str(out)])
        assert r.exit_code == 0, r.output
        rows = list(csv.DictReader(out.open()))
        assert [(row["source"], int(row["frame"])) for row in rows] == [
            (str(v), f) for v in (first, second) for f in (0, 4, 8)
        ]


def test_an_overlay_it_wrote_is_replaced_on_a_rerun_and_says_whose_it_is(video, checkpoint, tmp_path):
    from pipeline.outputs import is_overlay_video

    args = ["count", str(video[0]), "--checkpoint", str(checkpoint), "--every", "6", "--out", str(tmp_path / "r.jsonl")]
    for _ in range(2):
        r = CliRunner().invoke(cli, [*args, "--overlay", str(tmp_path / "o.mp4")])
        assert r.exit_code == 0, r.output
    assert is_overlay_video(tmp_path / "o.mp4") and not is_overlay_video(video[0])


def _onnx_graph(path, input_shape, body: str, output_type, output_shape):
    """A small ONNX model: uint8 frames in, through `body` ('identity' or 'mean'), one output."""
    import onnx
    from onnx import TensorProto, helper

    frames = helper.make_tensor_value_info("frames", TensorProto.UINT8, input_shape)
    out = helper.make_tensor_value_info("density", output_type, output_shape)
    if body == "identity":
        nodes = [helper.make_node("Identity", ["frames"], ["density"])]
    else:
        nodes = [
            helper.make_node("Cast", ["frames"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["f"], ["density"], axes=[3], keepdims=0),
        ]
    graph = helper.make_graph(nodes, "g", [frames], [out])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


@pytest.mark.parametrize(
    ("name", "input_shape", "body", "output", "message"),
    [
        ("identity", ["B", "H", "W", 3], "identity", ("uint8", ["B", "H", "W", 3]), "expects one float"),
        ("fixed size", [1, 64, 96, 3], "mean", ("float", [1, 64, 96]), "has a fixed input size"),
        ("full resolution", ["B", "H", "W", 3], "mean", ("float", ["B", "H", "W"]), "answers a blank 96x64 frame"),
    ],
)
def test_an_onnx_model_that_is_not_a_counter_is_refused_on_load(tmp_path, name, input_shape, body, output, message):
    """A foreign identity model used to 'count' 1,904,640; a fixed-size one crashed on another frame size."""
    from onnx import TensorProto

    kind = {"uint8": TensorProto.UINT8, "float": TensorProto.FLOAT}[output[0]]
    path = _onnx_graph(tmp_path / "m.onnx", input_shape, body, kind, output[1])
    with pytest.raises(DataError, match=message):
        OnnxCounter(path)


def test_a_frame_the_model_answers_with_nan_is_an_error_of_that_frame():
    frames = [Frame(i, i / 25, np.zeros((16, 16, 3), np.uint8), 0.0) for i in range(3)]

    def counter(batch):
        out = np.ones((len(batch), 2, 2), np.float32)
        out[0, 0, 0] = np.nan
        return out

    records = []
    count_frames(iter(frames), counter, live=False, on_record=records.append)
    assert all(r["count"] is None and r["error"] == "model output not finite" for r in records)
    assert "NaN" not in json.dumps(records)


def test_a_video_frame_over_the_pixel_bound_of_one_model_call_is_refused_before_the_model_runs(monkeypatch):
    import pipeline.infer.scale
    from pipeline.live.sources import _within_bound

    monkeypatch.setattr(pipeline.infer.scale, "MAX_MODEL_PIXELS", 32 * 32)
    frames = [Frame(0, 0.0, np.zeros((32, 32, 3), np.uint8)), Frame(1, 0.04, np.zeros((48, 64, 3), np.uint8))]
    checked = _within_bound(iter(frames), "cam.mp4")
    assert next(checked).index == 0
    with pytest.raises(DataError, match=r"cam.mp4: 64x48 is over the 0.0-megapixel bound"):
        next(checked)


def test_an_untrained_models_int8_graph_quantizes_every_convolution(tmp_path):
    """The exporter shared the equal all-zero biases of an untrained BatchNorm through Identity nodes, and the
    quantizer then left those convolutions in float: int8 ran 7.7 fps against 28.7 trained (issue 24)."""
    import onnx

    from pipeline.infer.export import calibration_frames

    torch.manual_seed(0)
    cfg = ModelConfig(width=0.125, batch_norm=True)
    save_checkpoint(tmp_path / "u.pt", model=CSRNet(0.125, True).state_dict(), model_config=asdict(cfg))
    fp32 = export_onnx(tmp_path / "u.pt", tmp_path / "u.onnx")
    graph = onnx.load(str(fp32)).graph
    inits = {t.name for t in graph.initializer}
    assert not [n for n in graph.node if n.op_type == "Identity" and n.input[0] in inits]
    q = onnx.load(str(quantize_onnx(fp32, tmp_path / "u8.onnx", calibration_frames(None, (96, 128), n=2)))).graph
    made_by = {o: n.op_type for n in q.node for o in n.output}
    convs = [n for n in q.node if n.op_type == "Conv"]
    assert len(convs) == 17 and all(made_by.get(n.input[1]) == "DequantizeLinear" for n in convs)


@pytest.mark.parametrize("runtime", ["pytorch", "int8"])
def test_bench_stream_without_a_checkpoint_says_its_weights_are_untrained_and_gives_no_error_figure(
    runtime, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no demo pipeline here: no models/best.pt
    r = CliRunner().invoke(cli, ["bench", "stream", "--size", "96x64", "--frames", "3", "--runtime", runtime, "--json"])
    assert r.exit_code == 0, r.output
    x = json.loads(r.stdout)
    assert x["weights"] == "untrained" and x["mae_vs_truth"] is None and x["frames"] == 3
    assert x["counter"] == "onnxruntime:cpu:int8" if runtime == "int8" else x["counter"] == "pytorch:cpu"


def test_bench_stream_times_the_demo_pipelines_checkpoint_where_there_is_one(checkpoint, tmp_path, monkeypatch):
    """An untrained model's speed is not a trained one's: without --checkpoint the bench takes models/best.pt."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "best.pt").write_bytes(checkpoint.read_bytes())
    r = CliRunner().invoke(
        cli, ["bench", "stream", "--size", "96x64", "--frames", "2", "--runtime", "pytorch", "--json"]
    )
    assert r.exit_code == 0, r.output
    x = json.loads(r.stdout)
    assert x["weights"] == "models/best.pt" and x["mae_vs_truth"] is not None


class CellCounter:
    """One head in every output cell, whatever the frame: a count that shows the size the model was given."""

    name, batch, target, stride, relative = "cells", 1, "density", 8, None

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.shapes.append(frames.shape[1:3])
        return np.ones((len(frames), -(-frames.shape[1] // 8), -(-frames.shape[2] // 8)), np.float32)


def test_scale_counts_frames_resized_in_the_decoder_with_zones_kept_in_the_sources_pixels(video, tmp_path):
    path, _ = video  # 128x96
    assert {f.image.shape for f in decode(str(path), scale=0.5)} == {(48, 64, 3)}
    left = Zone("left", np.array([[0, 0], [64, 0], [64, 96], [0, 96]], float))  # the source's left half
    out, counter = tmp_path / "scaled.jsonl", CellCounter()
    quiet = Outputs(str(out), alerts_stdout=False)
    count_video(str(path), counter, outputs=quiet, alerting=Alerting((left,)), sampling=Sampling(scale=0.5))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(counter.shapes) == {(48, 64)} and len(records) == FRAMES
    # 6x8 cells: 48 in all, and the left half of the source is the left half of what the model saw
    assert {(r["count"], r["zones"]["left"]) for r in records} == {(48.0, 24.0)}
    with pytest.raises(ConfigError, match="scale"):
        Sampling(scale=0.0)


def test_scale_on_images_gives_points_in_the_images_pixels(tmp_path):
    from PIL import Image

    from pipeline.infer.counter import count_images

    class OnePeak(CellCounter):
        def __call__(self, frames: np.ndarray) -> np.ndarray:
            out = np.zeros((1, -(-frames.shape[1] // 8), -(-frames.shape[2] // 8)), np.float32)
            out[0, 2, 3] = 1.0  # one head in the cell of row 2, column 3: its centre is (28, 20) in the model's input
            self.shapes.append(frames.shape[1:3])
            return out

    image = tmp_path / "crowd.png"
    Image.new("RGB", (160, 120)).save(image)
    counter = OnePeak()
    [(n, points)] = count_images([image], counter, scale=0.5)
    assert counter.shapes == [(60, 80)] and n == 1.0
    assert points.tolist() == [[56.0, 40.0]]  # (28, 20) at half size is (56, 40) in the image
    Image.new("RGB", (150, 110)).save(image)  # a third: 50x37, rounded, so each axis has its own ratio
    [(_, points)] = count_images([image], counter, scale=1 / 3)
    assert counter.shapes[-1] == (37, 50) and points[0].tolist() == pytest.approx([84.0, 20 * 110 / 37])


def test_count_command_passes_scale_to_videos_and_images(video, checkpoint, tmp_path):
    path, _ = video
    out = tmp_path / "cli.jsonl"
    r = CliRunner().invoke(
        cli, ["count", str(path), "--checkpoint", str(checkpoint), "--out", str(out), "--scale", "0.5"]
    )
    assert r.exit_code == 0, r.output
    counter = TorchCounter(checkpoint, CPU)
    expected = [float(counter(f.image[None])[0].sum(dtype=np.float64)) for f in decode(str(path), scale=0.5)]
    assert [json.loads(line)["count"] for line in out.read_text().splitlines()] == pytest.approx(expected, rel=1e-6)
    frame = next(decode(str(path))).image
    from PIL import Image

    Image.fromarray(frame).save(tmp_path / "frame.png")
    r = CliRunner().invoke(
        cli, ["count", str(tmp_path / "frame.png"), "--checkpoint", str(checkpoint), "--scale", "0.5"]
    )
    small = np.asarray(Image.fromarray(frame).resize((64, 48), Image.BOX))
    assert r.exit_code == 0 and r.output.split("\t")[1].strip() == f"{float(counter(small[None])[0].sum()):.1f}"
