"""Counting video end to end: decode, model, zones and writing, on a synthetic crowd video."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from pipeline.checkpoint import save_checkpoint
from pipeline.infer.counter import OnnxCounter, TorchCounter, is_onnx
from pipeline.infer.export import export_onnx, quantize_onnx
from pipeline.live.sources import decode
from pipeline.live.stream import Alerting, Outputs, Sampling, count_video
from pipeline.live.synth_video import make_video
from pipeline.live.zones import Zone
from pipeline.model import CSRNet, ModelConfig

DEMO_CHECKPOINT = Path("models/best.pt")  # what `dvc repro` trains, relative to the project root


def default_checkpoint() -> Path | None:
    """The demo pipeline's checkpoint when there is one: an untrained model's speed is not a trained one's."""
    return DEMO_CHECKPOINT if DEMO_CHECKPOINT.is_file() else None


def bench_counter(
    checkpoint: str | Path | None,
    runtime: str,
    tmp: Path,
    video: Path,
    *,
    width: float = 0.25,
    threads: int | None = None,
    scale: float = 1.0,
):  # noqa: ANN201 - a Counter
    """The counter a benchmark times: the checkpoint (or an untrained model of the demo's shape, written to
    `tmp`) on `runtime`; int8 is calibrated on 8 frames of `video`, resized by `scale` as they will be counted."""
    if checkpoint is None:
        torch.manual_seed(0)
        cfg = ModelConfig(width=width, batch_norm=True)
        checkpoint = tmp / "untrained.pt"
        save_checkpoint(checkpoint, model=CSRNet(width, True).state_dict(), model_config=asdict(cfg))
    if threads:
        torch.set_num_threads(threads)
    if is_onnx(checkpoint):
        return OnnxCounter(checkpoint, threads)
    if runtime == "pytorch":
        return TorchCounter(checkpoint, torch.device("cpu"))
    model = export_onnx(checkpoint, tmp / "model.onnx")
    if runtime == "int8":
        frames = [f.image for f in decode(str(video), scale=scale)]
        model = quantize_onnx(model, tmp / "model-int8.onnx", frames[:: max(len(frames) // 8, 1)])
    return OnnxCounter(model, threads)


def bench_stream(
    checkpoint: str | Path | None = None,
    *,
    shape: tuple[int, int] = (360, 640),
    frames: int = 250,
    fps: float = 25.0,
    live: bool = False,
    runtime: str = "int8",
    width: float = 0.25,
    threads: int | None = None,
    scale: float = 1.0,
) -> dict:
    """`count` end to end (decode, model, zones, writing) on a synthetic crowd video of `shape` (H, W).

    `runtime`: ``int8`` / ``onnx`` (ONNX Runtime, exported here) or ``pytorch``.
    Without a checkpoint an untrained model of the demo's shape (`width`, BatchNorm)
    is timed (``weights: "untrained"``, and ``mae_vs_truth`` is null); the command
    times the demo pipeline's ``models/best.pt`` where there is one (`default_checkpoint`).
    An untrained model's int8 graph runs as a trained one's does: the export gives each
    convolution its own weights (`infer.export`), which the quantizer otherwise left in float.
    `live` replays the video at `fps` as a camera would (frames drop when the model is slower).
    `scale` resizes frames in the decoder before the model (`count --scale`).
    """
    h, w = shape
    with tempfile.TemporaryDirectory(prefix="headcount-bench-") as tmp:
        tmp = Path(tmp)
        video = tmp / "crowd.mp4"
        truth = make_video(video, frames=frames, shape=shape, fps=fps)
        weights = "untrained" if checkpoint is None else str(checkpoint)
        counter = bench_counter(checkpoint, runtime, tmp, video, width=width, threads=threads, scale=scale)
        halves = [
            Zone("left", np.array([[0, 0], [w / 2, 0], [w / 2, h], [0, h]], float)),
            Zone("right", np.array([[w / 2, 0], [w, 0], [w, h], [w / 2, h]], float)),
        ]
        out = tmp / "counts.jsonl"
        s = count_video(
            str(video),
            counter,
            outputs=Outputs(str(out), alerts_stdout=False),
            alerting=Alerting(tuple(halves)),
            sampling=Sampling(live=live, scale=scale),
            progress=False,
        )
        records = [json.loads(line) for line in out.read_text().splitlines()]
    counted = np.array([r["count"] for r in records])
    return {
        "size": f"{w}x{h}",
        "scale": scale,
        "counter": counter.name + (":int8" if runtime == "int8" and not (checkpoint and is_onnx(checkpoint)) else ""),
        "live": live,
        "source_fps": fps,
        **s.as_dict(),
        "weights": weights,
        # an untrained model's counts are noise: its error against the truth would only mislead
        "mae_vs_truth": float(np.abs(counted - truth[[r["frame"] for r in records]]).mean())
        if records and weights != "untrained"
        else None,
    }
