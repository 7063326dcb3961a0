"""Counting video files, streams and cameras frame by frame, with zones, lines, alerts and outputs that stream.

Frames come from `pipeline.live.sources` (files, URLs, cameras; the reader thread that never falls behind a
live source; reconnects after a drop or stall). A live source's records carry the lag from capture to
result, and the first record after a reconnect says how long the gap was (``"gap"``, seconds), with a
``reconnected`` event. `--live` treats a file as a camera (its frames arrive at their timestamps), which
is how the drop policy is tested without one.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from pipeline.errors import ConfigError, DataError
from pipeline.infer.counter import Counter
from pipeline.infer.scale import MAX_SCALE
from pipeline.live.alerts import AlertConfig, AlertMonitor
from pipeline.live.flow import LineCounter, LineCounting
from pipeline.live.flowmap import FlowMap
from pipeline.live.flux import Motion
from pipeline.live.lines import Line
from pipeline.live.sinks import RecordWriter
from pipeline.live.sources import (
    Frame,
    _Reader,
    _within_bound,
    decode,
    is_live,
    paced,
    reconnecting,
    sample,
    source_info,
)
from pipeline.live.zones import Zone, cell_weights, zone_counts
from pipeline.runner import same_shape_batches


def _counted(frames: Iterable[Frame], counter: Counter, batch: int) -> Iterator[tuple[Frame, np.ndarray]]:
    """(frame, density) pairs, running the model on up to `batch` frames of one size at a time."""
    for group in same_shape_batches(frames, batch, lambda f: f.image.shape):
        yield from zip(group, counter(np.stack([g.image for g in group])), strict=True)


@dataclass
class StreamSummary:
    frames: int = 0  # counted
    decoded: int = 0  # read from the source
    dropped: int = 0  # live only: frames replaced by newer ones before the model took them
    seconds: float = 0.0
    lag_mean_s: float = 0.0
    lag_max_s: float = 0.0
    alerts: int = 0
    interrupted: bool = False
    gaps: int = 0  # live only: times the source dropped and came back

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "decoded": self.decoded,
            "dropped": self.dropped,
            "dropped_ratio": self.dropped / self.decoded if self.decoded else 0.0,
            "seconds": self.seconds,
            "fps": self.fps,
            "lag_mean_s": self.lag_mean_s,
            "lag_max_s": self.lag_max_s,
            "alerts": self.alerts,
            "interrupted": self.interrupted,
            "gaps": self.gaps,
        }


Sink = Callable[[dict], None]


@dataclass(frozen=True)
class Alerting:
    """What raises an alert: zones with thresholds, a threshold on the total, and the smoothing of both."""

    zones: tuple[Zone, ...] = ()
    total_threshold: float | None = None
    config: AlertConfig = AlertConfig()


@dataclass(frozen=True)
class Sampling:
    """Which frames are counted and how: every N-th or F per second, live pacing, frames per model call."""

    every: int = 1
    fps: float | None = None
    live: bool | None = None  # None: URLs and devices are live, files are not; True replays a file at its pace
    batch: int = 1
    reconnect: int = 5  # URLs and devices: times in a row to open a source again after it drops (0: never)
    stall_s: float = 10.0  # URLs and devices: no data for this long is a drop
    scale: float = 1.0  # frames are counted resized by this: heads at the size the model learned, fewer pixels

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and 0 < self.scale <= MAX_SCALE):
            raise ConfigError("scale", f"must be in (0, {MAX_SCALE:g}], got {self.scale}")


@dataclass(frozen=True)
class Outputs:
    """Where a video's results go; `source` names the video in each record when several share `records`."""

    records: str | RecordWriter | None = "-"  # FILE.csv, FILE.jsonl, - (stdout), a shared writer, or None
    alerts: str | Path | None = None
    alerts_stdout: bool = True
    snapshots: str | Path | None = None
    overlay: str | Path | None = None
    source: str | None = None
    flow: str | Path | None = None  # a PNG: where the crowd stood and moved over the whole video
    tracks: str | Path | None = None  # MOTChallenge rows of the head tracks (`pipeline.live.sinks.TrackWriter`)


def check_tracks(lines: LineCounting, tracks: object | None) -> None:
    """Refuse head tracks (`tracks` not None: a file or a callback) asked of lines counted by flux, which
    tracks nothing: before any work."""
    if tracks is not None and lines.method == "flux":
        raise ConfigError("--tracks", "tracks come from the tracks method: not with --line-method flux")


def count_frames(
    frames: Iterable[Frame],
    counter: Counter,
    *,
    live: bool,
    alerting: Alerting = Alerting(),
    on_record: Sink = lambda r: None,
    on_event: Sink = lambda e: None,
    on_density: Callable[[Frame, np.ndarray, dict], None] | None = None,
    progress=None,
    batch: int = 1,
    lines: LineCounting = LineCounting(),
    flow_map: FlowMap | None = None,
    on_tracks: Callable[[int, list], None] | None = None,
) -> StreamSummary:
    """Count each frame and hand on one record per frame, as it is made.

    A record is ``{"frame", "t", "count", "zones": {name: count}}`` (plus ``"lag"``
    for live sources: seconds from capture to result, and ``"lines": {name: {"in", "out",
    "step_in", "step_out", "method"}}`` with `lines`: cumulative crossings, `pipeline.live.flow`).
    `flow_map` gathers where the crowd stands and moves (`pipeline.live.flowmap`); `on_tracks` sees each
    frame's tracked heads, ``[(id, (x, y)), ...]`` (tracked with or without lines). Alert events go to
    `on_event`; `on_density` sees every frame with its density (overlays,
    snapshots). Ctrl-C ends the loop cleanly: the summary says ``interrupted``.
    A file's frames go to the model `batch` at a time (a GPU's pace); a live
    source's one at a time, the newest.
    """
    reader = _Reader(frames, latest=live)
    check_tracks(lines, on_tracks)
    line_counter = LineCounter(lines) if lines.lines or on_tracks is not None else None
    motion = None
    if flow_map is not None:  # the whole frame's motion
        motion = Motion()
    elif line_counter is not None and line_counter.needs_flow and lines.lines:  # the lines' box's
        motion = Motion(list(lines.lines))
    zones = list(alerting.zones)
    thresholds = {z.name: z.threshold for z in zones}
    line_thresholds = {}
    for line in lines.lines:  # in - out, and crossings a minute: named "<line>:occupancy", "<line>:rate"
        line_thresholds.update(
            {f"{line.name}:occupancy": line.occupancy_threshold, f"{line.name}:rate": line.rate_threshold}
        )
    monitor = AlertMonitor({**thresholds, "total": alerting.total_threshold, **line_thresholds}, alerting.config)
    last_t: float | None = None
    summary = StreamSummary()
    weights, shape = None, None
    lag_sum, lag_n = 0.0, 0  # running figures: a 24/7 stream keeps no per-frame history
    start = time.monotonic()
    try:
        for f, density in _counted(reader, counter, 1 if live else batch):
            if f.image.shape[:2] != shape:
                shape = f.image.shape[:2]
                weights = cell_weights(zones, shape) if zones else None
            total = float(density.sum(dtype=np.float64))
            if not math.isfinite(total):  # an error of this frame, recorded as such: never NaN in a JSON line
                on_record({"frame": f.index, "t": round(f.t, 6), "count": None, "error": "model output not finite"})
                summary.frames += 1
                summary.decoded = f.index + 1
                continue
            per_zone = dict(zip(thresholds, zone_counts(density, weights).tolist(), strict=True)) if zones else {}
            record = {"frame": f.index, "t": round(f.t, 6), "count": total, "zones": per_zone}
            flow = motion.step(f.image) if motion is not None else None
            line_values = {}
            if line_counter is not None:
                crossed = line_counter.update(f.image.shape[:2], density, counter.stride, flow)
                if lines.lines:
                    record["lines"] = crossed
                if on_tracks is not None:
                    on_tracks(f.index, line_counter.tracker.active())
                dt = f.t - last_t if last_t is not None and f.t > last_t else None
                for name, c in crossed.items():
                    line_values[f"{name}:occupancy"] = c["in"] - c["out"]
                    if dt is not None:
                        line_values[f"{name}:rate"] = (c["step_in"] + c["step_out"]) * 60.0 / dt
            last_t = f.t
            if flow_map is not None:
                flow_map.update(density, flow, counter.stride, f.image)
            if live:
                lag = time.monotonic() - f.arrived
                lag_sum, lag_n = lag_sum + lag, lag_n + 1
                summary.lag_max_s = max(summary.lag_max_s, lag)
                record["lag"] = round(lag, 4)
            if f.gap:
                record["gap"] = round(f.gap, 3)
                summary.gaps += 1
                on_event({"event": "reconnected", "t": round(f.t, 6), "frame": f.index, "gap": round(f.gap, 3)})
            _, events = monitor.update(f.t, {"total": total, **per_zone, **line_values})
            on_record(record)
            for e in events:
                e["frame"] = f.index
                on_event(e)
            if on_density is not None:
                info = {"events": events, "zones": per_zone, "count": total, "active": set(monitor.active)}
                info["lines"] = record.get("lines", {})
                on_density(f, density, info)
            summary.frames += 1
            summary.decoded = f.index + 1
            if progress is not None:
                progress.update(1)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        reader.stop.set()
    summary.seconds = time.monotonic() - start
    summary.dropped = reader.dropped
    summary.alerts = monitor.fired
    if lag_n:
        summary.lag_mean_s = lag_sum / lag_n
    return summary


def claim_video_outputs(
    out: str | None,
    alerts_out: str | Path | None,
    overlay: str | Path | None,
    inputs: Iterable[str | Path],
    flow: str | Path | None = None,
    tracks: str | Path | None = None,
) -> None:
    """Refuse (before anything is opened) a records file, alert log, overlay, flow map or tracks file that is
    an input or of another kind."""
    from pipeline.outputs import claim, is_alert_log, is_mot_tracks, is_overlay_video, is_png, is_records

    if out is not None and out != "-":
        claim(out, is_records, "a headcount records file (CSV or JSON lines)", inputs)
    if alerts_out is not None:
        claim(alerts_out, is_alert_log, "a headcount alert log (JSON lines)", inputs)
    if overlay is not None:
        claim(overlay, is_overlay_video, "a headcount overlay video", inputs)
    if flow is not None:
        claim(flow, is_png, "a PNG image", inputs)
    if tracks is not None:
        claim(tracks, is_mot_tracks, "a headcount tracks file (MOTChallenge rows)", inputs)


def count_video(
    spec: str,
    counter: Counter,
    *,
    outputs: Outputs = Outputs(),
    alerting: Alerting = Alerting(),
    sampling: Sampling = Sampling(),
    inputs: Iterable[str | Path] = (),
    progress: bool | None = None,
    lines: LineCounting = LineCounting(),
) -> StreamSummary:
    """Count one file, URL or camera into `outputs` (see `count_frames`), with in/out counts on `lines`.

    ``outputs.records`` may be a `RecordWriter` shared by several videos:
    ``outputs.source`` then names this one in every record and alert. No output
    may be the video or one of `inputs`, and an existing file is replaced only
    if it is of the output's kind (`pipeline.outputs`), before anything is opened.
    """
    out, alerts_out, snapshots, overlay = outputs.records, outputs.alerts, outputs.snapshots, outputs.overlay
    every, fps, live, source = sampling.every, sampling.fps, sampling.live, outputs.source
    zones = list(alerting.zones)
    from tqdm import tqdm

    from pipeline.live.sinks import EventWriter, OverlayVideo, TrackWriter, draw_overlay, save_snapshot

    check_tracks(lines, outputs.tracks)
    is_live_source = is_live(spec) if live is None else live
    if not is_live(spec) and not Path(spec).is_file():
        raise DataError(spec, "video file not found")
    inputs = [*inputs, *([] if is_live(spec) else [spec])]
    records_out = out if isinstance(out, str) else None
    claim_video_outputs(records_out, alerts_out, overlay, inputs, outputs.flow, outputs.tracks)
    if snapshots is not None and Path(snapshots).exists() and not Path(snapshots).is_dir():
        raise ConfigError(snapshots, "exists and is not a folder; --snapshots needs a folder")
    src_fps, n_frames = source_info(spec)
    scale = sampling.scale
    if scale != 1.0:  # zones are drawn in the source's pixels; the model sees the resized frame
        zones = [Zone(z.name, z.polygon * scale, z.threshold) for z in zones]
        alerting = replace(alerting, zones=tuple(zones))
        scaled = tuple(Line(n.name, n.a * scale, n.b * scale, n.in_side) for n in lines.lines)
        lines = replace(lines, lines=scaled)
    if is_live(spec):
        frames: Iterable[Frame] = reconnecting(
            spec, sampling.reconnect, timeout_s=sampling.stall_s, open_frames=partial(decode, scale=scale)
        )
    else:
        frames = decode(spec, scale=scale)
    if live and not is_live(spec):
        frames = paced(frames)
    frames = _within_bound(sample(frames, every, fps), spec)
    shared = isinstance(out, RecordWriter)
    if shared or not out:
        records = out or None
    else:
        records = RecordWriter(
            out,
            [z.name for z in zones],
            extra=("lag", "gap") if is_live_source else (),
            line_names=[n.name for n in lines.lines],
        )
    events = EventWriter(alerts_out, outputs.alerts_stdout)
    tracks = TrackWriter(outputs.tracks, counter.stride, scale) if outputs.tracks is not None else None
    video: OverlayVideo | None = None
    quiet = not sys.stderr.isatty() if progress is None else not progress
    bar = tqdm(total=n_frames and -(-n_frames // every), unit="frame", desc=Path(spec).name, disable=quiet)

    def tagged(item: dict) -> dict:
        return {**item, "source": source} if source else item

    def on_density(f: Frame, density: np.ndarray, info: dict) -> None:
        nonlocal video
        if overlay is None and not (snapshots and info["events"]):
            return
        image = draw_overlay(f.image, density, info["count"], zones, info["active"], lines.lines, info["lines"])
        if flow_map is not None:  # where the crowd moves now, over the last seconds
            flow_map.draw_arrows(image, recent=True)
        if overlay is not None:
            if video is None:
                rate = (fps or (src_fps or 25.0) / every) if not is_live_source else (fps or 10.0)
                video = OverlayVideo(overlay, rate, f.image.shape[:2])
            video.write(image)
        if snapshots:
            for e in info["events"]:
                if e["event"] == "alert":
                    save_snapshot(Path(snapshots), e, image)

    flow_map = FlowMap(fps or (src_fps or 25.0) / every) if outputs.flow is not None else None
    try:
        summary = count_frames(
            frames,
            counter,
            live=is_live_source,
            alerting=alerting,
            on_record=(lambda r: records.write(tagged(r))) if records else (lambda r: None),
            on_event=lambda e: events.write(tagged(e)),
            on_density=on_density if (overlay is not None or snapshots) else None,
            progress=bar,
            batch=sampling.batch,
            lines=lines,
            flow_map=flow_map,
            on_tracks=tracks.write if tracks is not None else None,
        )
        if flow_map is not None and flow_map.frames:
            from pipeline.atomic import write_bytes
            from pipeline.image import encode

            write_bytes(outputs.flow, encode(flow_map.render(flow_map.last_frame.shape[:2]), "PNG"))
        return summary
    finally:
        bar.close()
        if records and not shared:
            records.close()
        events.close()
        if tracks is not None:
            tracks.close()
        if video is not None:
            video.close()
