"""The count command: images, videos, streams and cameras."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline import strictjson
from pipeline.cli import options
from pipeline.cli.group import cli
from pipeline.errors import ConfigError


@cli.command("count")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A training checkpoint (.pt) or an ONNX model (.onnx, from export-model; runs on ONNX Runtime). "
    "Default: the shipped real-photo model (pipeline/weights/photo.pt), which counts images.",
)
@click.option(
    "--heatmap",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Images: save the density overlaid on the image (OUT_<stem>.png for several images).",
)
@click.option(
    "--points",
    "points_out",
    default=None,
    help="Images: also write the decoded head points as image_id,x,y rows (what `score` reads) to FILE.csv, "
    "or - for stdout (the counts then go to stderr).",
)
@click.option("--device", callback=options.device, default="auto", show_default=True, help=options.DEVICE_HELP)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="auto: bf16 on a GPU (about 2x as fast), fp32 on a CPU.",
)
@click.option(
    "--batch",
    type=click.IntRange(1),
    default=None,
    help="Video files: frames per model call (default: 8 on a GPU, 1 on a CPU; live sources: 1).",
)
@click.option("--threads", type=click.IntRange(1), default=None, help="CPU threads (default: every core).")
@click.option(
    "--out",
    default="-",
    show_default=True,
    help="Videos and streams: per-frame results, FILE.csv, FILE.jsonl, or - (JSON lines on stdout).",
)
@click.option(
    "--zones",
    "zones_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML/JSON polygons with names and optional alert thresholds.",
)
@click.option(
    "--lines",
    "lines_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Videos and streams: YAML/JSON named lines (two points, the 'in' side); records gain in/out counts.",
)
@click.option(
    "--flow",
    "flow_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Videos: a PNG of where the crowd stood (mean occupancy) and moved (arrows) over the whole video.",
)
@click.option(
    "--tracks",
    "tracks_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Videos: the head tracks as MOTChallenge rows (frame,id,left,top,w,h,1,-1,-1,-1) for trackeval/motmetrics.",
)
@click.option(
    "--line-method",
    type=click.Choice(["auto", "tracks", "flux"]),
    default="auto",
    show_default=True,
    help="tracks: linked head points; flux: density times optical flow; auto: tracks where heads are apart.",
)
@click.option(
    "--threshold", type=options.FiniteRange(0), default=None, help="Alert when the (smoothed) total count reaches this."
)
@click.option(
    "--smooth", type=options.FiniteRange(0), default=2.0, show_default=True, help="EMA time constant, seconds."
)
@click.option(
    "--hysteresis",
    type=options.FiniteRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="An alert clears below threshold x (1 - this).",
)
@click.option(
    "--alerts", "alerts_out", type=click.Path(dir_okay=False, path_type=Path), help="Also append alerts (JSON lines)."
)
@click.option(
    "--snapshots", type=click.Path(file_okay=False, path_type=Path), help="Folder for a PNG of each alert's frame."
)
@click.option(
    "--overlay", type=click.Path(dir_okay=False, path_type=Path), help="Write an overlay video (heatmap, zones)."
)
@click.option("--every", type=click.IntRange(1), default=1, show_default=True, help="Count every N-th frame.")
@click.option("--fps", "sample_fps", type=options.FiniteRange(0, min_open=True), help="Count F frames per second.")
@click.option("--live", is_flag=True, help="Treat files as cameras: frames arrive in real time, late ones drop.")
@click.option(
    "--reconnect",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Streams and cameras: open a dropped source again up to N times in a row (back-off 0.5, 1, 2, 4, 8 s); "
    "the first record after a gap has 'gap' (seconds) and a 'reconnected' event is written. 0: never.",
)
@click.option(
    "--stall",
    type=options.FiniteRange(0, min_open=True),
    default=10.0,
    show_default=True,
    help="Streams and cameras: seconds without data that count as a drop.",
)
@click.option("--json", "as_json", is_flag=True, help="Images: one JSON line per image instead of PATH<TAB>COUNT.")
@options.scale(
    1.0,
    "Count images and frames resized by F (zones and points stay in the input's pixels): heads at the size "
    "the model learned, and F^2 of the pixels. Which F counts best depends on the model (the demo's: 0.5 for "
    "640x360 frames); see docs/video.md.",
)
def count_cmd(
    inputs: tuple[str, ...],
    checkpoint: Path | None,
    heatmap: Path | None,
    points_out: str | None,
    device: str,
    precision: str,
    batch: int | None,
    threads: int | None,
    out: str,
    zones_file: Path | None,
    lines_file: Path | None,
    flow_out: Path | None,
    tracks_out: Path | None,
    line_method: str,
    threshold: float | None,
    smooth: float,
    hysteresis: float,
    alerts_out: Path | None,
    snapshots: Path | None,
    overlay: Path | None,
    every: int,
    sample_fps: float | None,
    live: bool,
    reconnect: int,
    stall: float,
    scale: float,
    as_json: bool,
) -> None:
    """Count people in images (one count per line), videos, streams and cameras (one record per frame).

    INPUTS are image files, video files, stream URLs (rtsp://, http(s)://) or
    camera devices (/dev/video0). Exit code 3: an alert fired; 130: stopped by Ctrl-C
    (everything counted so far is written).

    \b
    Examples:
      headcount count photo.jpg --heatmap overlay.png --points heads.csv
      headcount count video.mp4 --zones zones.yaml --alerts alerts.jsonl --out counts.csv
      headcount count video.mp4 --lines lines.yaml --tracks tracks.txt --flow flow.png
    """
    from pipeline.infer.counter import check_points_output, load_counter
    from pipeline.live.alerts import AlertConfig
    from pipeline.live.flow import LineCounting
    from pipeline.live.lines import load_lines
    from pipeline.live.sources import is_live, is_video
    from pipeline.live.stream import Alerting, Outputs, Sampling, check_tracks, claim_video_outputs
    from pipeline.live.zones import load_zones
    from pipeline.presets.shipped import default_model

    checkpoint = default_model(checkpoint)
    videos = [i for i in inputs if is_video(i)]
    images = [Path(i) for i in inputs if not is_video(i)]
    if overlay is not None and len(videos) > 1:
        raise click.BadParameter("one overlay video per run: count one video at a time", param_hint="--overlay")
    if flow_out is not None and len(videos) != 1:
        raise click.BadParameter("one flow map per video: count one video", param_hint="--flow")
    if tracks_out is not None and len(videos) != 1:
        raise click.BadParameter("one tracks file per video: count one video", param_hint="--tracks")
    zones = load_zones(zones_file) if zones_file else []
    lines = LineCounting(tuple(load_lines(lines_file)), line_method) if lines_file else LineCounting()
    try:
        check_tracks(lines, tracks_out)
    except ConfigError as exc:  # the library's rule, said as click says a bad option
        raise click.BadParameter(exc.problem, param_hint="--tracks") from None
    if lines.lines and not videos:
        raise click.BadParameter("lines count what moves: give a video, stream or camera", param_hint="--lines")
    # every output is checked before anything is counted or written (pipeline/outputs.py)
    given = [str(f) for f in (zones_file, lines_file) if f]
    inputs = [i for i in inputs if not is_live(i)] + [str(checkpoint), *given]
    if videos:
        claim_video_outputs(out, alerts_out, overlay, inputs, flow_out, tracks_out)
    if points_out is not None and not images:
        raise click.BadParameter("points are decoded for images; give image files", param_hint="--points")
    if points_out is not None:  # before any image is counted: outputs are checked before the work
        check_points_output(points_out, images, [*images, checkpoint])
    counter = load_counter(checkpoint, device, precision, threads)
    if videos and counter.target != "density":
        raise click.UsageError(
            f"{checkpoint} is a {counter.target} model: it counts images; videos and zones need a density model"
        )
    if images:
        _count_images(images, counter, heatmap, scale, points_out, checkpoint, as_json)
    alerting = Alerting(tuple(zones), threshold, AlertConfig(smooth, hysteresis))
    sampling = Sampling(every, sample_fps, True if live else None, batch or counter.batch, reconnect, stall, scale)
    outputs = Outputs(out, alerts_out, True, snapshots, overlay, None, flow_out, tracks_out)
    fired, interrupted = _count_videos(videos, counter, outputs, alerting, sampling, inputs, lines, live)
    if interrupted:
        sys.exit(130)
    if fired:
        sys.exit(3)


def _count_images(images, counter, heatmap, scale, points_out, checkpoint, as_json) -> None:  # noqa: ANN001
    """The image path of `count`: one line (or JSON line) per image, and the decoded heads' CSV."""
    from pipeline.infer.counter import count_images, write_points_csv

    results = count_images(images, counter, heatmap, scale)
    for path, (n, pts) in zip(images, results, strict=True):
        row = {"image": str(path), "count": n, "heads": len(pts)}
        click.echo(strictjson.dumps(row) if as_json else f"{path}\t{n:.1f}", err=points_out == "-")
    if points_out is not None:
        rows = [(path.stem, pts) for path, (_, pts) in zip(images, results, strict=True)]
        write_points_csv(points_out, rows, [*images, checkpoint])


def _count_videos(videos, counter, outputs, alerting, sampling, inputs, lines, live) -> tuple[int, bool]:  # noqa: ANN001
    """The video path of `count`: each video, stream or camera in turn into `outputs` (one records file
    shared by several videos, each row naming its source); returns (alerts fired, interrupted)."""
    from dataclasses import replace

    from pipeline.live.sinks import RecordWriter
    from pipeline.live.sources import is_live
    from pipeline.live.stream import count_video

    fired, shared = 0, None
    if len(videos) > 1 and outputs.records != "-":  # one file for all: each row says its video, none is lost
        any_live = live or any(is_live(v) for v in videos)
        extra = ("source", *(("lag", "gap") if any_live else ()))
        zones = [z.name for z in alerting.zones]
        shared = RecordWriter(outputs.records, zones, extra=extra, line_names=[n.name for n in lines.lines])
    try:
        for spec in videos:
            source = spec if len(videos) > 1 else None
            s = count_video(
                spec,
                counter,
                outputs=replace(outputs, records=shared or outputs.records, source=source),
                alerting=alerting,
                sampling=sampling,
                inputs=inputs,
                lines=lines,
            )
            fired += s.alerts
            drops = f", dropped {s.dropped} of {s.decoded} ({s.dropped / max(s.decoded, 1):.0%})" if s.dropped else ""
            lag = f", lag {s.lag_mean_s * 1e3:.0f} ms mean / {s.lag_max_s * 1e3:.0f} ms max" if s.lag_max_s else ""
            click.echo(
                f"{spec}: {s.frames} frames in {s.seconds:.1f} s ({s.fps:.1f} fps, {counter.name}){drops}{lag}, "
                f"{s.alerts} alert(s){f', {s.gaps} reconnect(s)' if s.gaps else ''}"
                f"{' - interrupted' if s.interrupted else ''}",
                err=True,
            )
            if s.interrupted:
                return fired, True
    finally:
        if shared is not None:
            shared.close()
    return fired, False
