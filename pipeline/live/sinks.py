"""Where per-frame results go: CSV or JSON lines (flushed per frame), an overlay video, alert snapshots.

Every line is flushed as it is written, so ``tail -f`` and a pipe into ``jq``
see each frame as it is counted, and a stop at any moment leaves a file whose
every line is complete.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np
from PIL import ImageDraw, ImageFont

from pipeline import strictjson
from pipeline.atomic import write_bytes
from pipeline.image import encode
from pipeline.live.lines import Line
from pipeline.live.zones import Zone
from pipeline.outputs import OVERLAY_TAG, is_overlay_video, is_png, refuse_foreign
from pipeline.overlay import heatmap


class RecordWriter:
    """Frame records as CSV (``.csv``) or JSON lines (anything else; ``-`` is stdout)."""

    def __init__(
        self, target: str | Path, zone_names: list[str], extra: tuple[str, ...] = (), line_names: list[str] = ()
    ) -> None:
        self.target = str(target)
        self.csv = self.target.lower().endswith(".csv")
        if self.target == "-":
            self.f: IO[str] = sys.stdout
        else:
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
            self.f = open(self.target, "w", newline="")  # noqa: SIM115 - closed by close()
        self.writer = None
        if self.csv:
            crossings = [f"line:{n}:{d}" for n in line_names for d in ("in", "out")]
            self.columns = ["frame", "t", "count", *[f"zone:{n}" for n in zone_names], *crossings, *extra]
            self.writer = csv.DictWriter(self.f, self.columns, extrasaction="ignore", lineterminator="\n")
            self.writer.writeheader()
            self.f.flush()

    def write(self, record: dict) -> None:
        if self.writer is not None:
            row = {k: v for k, v in record.items() if k not in ("zones", "lines")}
            row.update({f"zone:{k}": v for k, v in record.get("zones", {}).items()})
            for name, c in record.get("lines", {}).items():
                row.update({f"line:{name}:in": c["in"], f"line:{name}:out": c["out"]})
            self.writer.writerow(row)
        else:
            self.f.write(strictjson.dumps(record) + "\n")
        self.f.flush()

    def close(self) -> None:
        if self.f is not sys.stdout:
            self.f.close()


class TrackWriter:
    """Head tracks as MOTChallenge rows, ``frame,id,left,top,width,height,conf,-1,-1,-1`` (frames from 1),
    written as they are made, so that trackeval or motmetrics score them against the walking crowd's
    ``gt.txt`` (`pipeline.live.walkers.write_mot`) or a head-tracking benchmark's ground truth. A point
    has no size: each head's box is one model cell (`box` px) square around it, in the source's pixels
    (`scale`: the frames' resize, undone)."""

    def __init__(self, path: str | Path, box: float, scale: float = 1.0) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "w", newline="")  # noqa: SIM115 - closed by close()
        self.box, self.scale = box / scale, scale

    def write(self, frame: int, tracks: list[tuple[int, np.ndarray]]) -> None:
        half, box = self.box / 2, f"{self.box:.2f}"
        for track_id, (x, y) in tracks:
            x, y = x / self.scale, y / self.scale
            self.f.write(f"{frame + 1},{track_id},{x - half:.2f},{y - half:.2f},{box},{box},1,-1,-1,-1\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


class EventWriter:
    """Alert events as JSON lines to stdout and/or a file."""

    def __init__(self, path: str | Path | None, stdout: bool) -> None:
        self.stdout = stdout
        self.f = open(path, "a") if path else None  # noqa: SIM115 - closed by close()

    def write(self, event: dict) -> None:
        line = strictjson.dumps(event) + "\n"
        for f in (sys.stdout if self.stdout else None, self.f):
            if f is not None:
                f.write(line)
                f.flush()

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


def draw_overlay(
    image: np.ndarray,
    density: np.ndarray,
    count: float,
    zones: list[Zone],
    active: set[str],
    lines: Sequence[Line] = (),
    crossings: dict | None = None,
):
    """The density heatmap over the frame, the total, each zone's outline and count, and each line with its
    running in/out (red when alerting)."""
    out = heatmap(image, density, count)
    if not zones and not lines:
        return out
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(10, image.shape[0] // 30))
    width = max(2, image.shape[0] // 240)
    for line in lines:
        alerting = any(name.startswith(f"{line.name}:") for name in active)
        colour = (255, 40, 40) if alerting else (255, 220, 60)
        a, b = tuple(line.a.tolist()), tuple(line.b.tolist())
        draw.line([a, b], fill=colour, width=width)
        tip = (line.a + line.b) / 2 + line.normal * 4 * width * 3  # an arrow to the "in" side
        draw.line([tuple(((line.a + line.b) / 2).tolist()), tuple(tip.tolist())], fill=colour, width=width)
        c = (crossings or {}).get(line.name)
        label = f"{line.name} in {c['in']:.0f} out {c['out']:.0f}" if c else line.name
        draw.text(a, label, fill=colour, font=font)
    for z in zones:
        colour = (255, 40, 40) if z.name in active else (80, 220, 255)
        pts = [tuple(p) for p in z.polygon.tolist()]
        draw.line([*pts, pts[0]], fill=colour, width=max(2, image.shape[0] // 240))
        draw.text(pts[0], z.name, fill=colour, font=font)
    return out


def add_video_stream(container, fps: float, shape: tuple[int, int], crf: int | None = None):  # noqa: ANN001, ANN201 - PyAV's types
    """An H.264 stream (MPEG-4 Part 2 where the FFmpeg build lacks x264) of `shape` (H, W) at `fps` in `container`.

    yuv420p needs even sizes, so an odd side loses its last pixel row or column.
    `crf` sets x264's quality (18: near-lossless; its default is 23).
    """
    import av

    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25))
    h, w = shape
    stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
    if codec == "libx264" and crf is not None:
        stream.options = {"crf": str(crf), "preset": "veryfast"}
    return stream


class OverlayVideo:
    """A video of overlays, written as frames come (`add_video_stream`)."""

    def __init__(self, path: str | Path, fps: float, shape: tuple[int, int]) -> None:
        import av

        path = Path(path)
        refuse_foreign(path, is_overlay_video, "a headcount overlay video")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), "w")
        self.container.metadata["comment"] = OVERLAY_TAG  # what lets a later run replace it, and nothing else
        self.stream = add_video_stream(self.container, fps, shape)
        self.n = 0

    def write(self, image) -> None:
        import av

        frame = av.VideoFrame.from_image(image.crop((0, 0, self.stream.width, self.stream.height)))
        frame.pts = self.n
        self.n += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def save_snapshot(folder: Path, event: dict, image) -> Path:
    """The overlay of the frame an alert fired on, as ``alert_<frame>_<zone>.png``."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in event["zone"])
    path = Path(folder) / f"alert_{event['frame']:06d}_{safe}.png"
    refuse_foreign(path, is_png, "a PNG image")
    write_bytes(path, encode(image, "PNG"))
    return path
