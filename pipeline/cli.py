"""The ``headcount`` command: parses arguments and calls the library.

Exit codes: 0 success, 1 bad data (one line naming the file), 2 bad usage.
"""

from __future__ import annotations

import math
import signal
import sys
from dataclasses import fields
from pathlib import Path

import click

from pipeline import __version__
from pipeline.density import BORDERS, DUPLICATES, METHODS, DensityParams
from pipeline.errors import HeadcountError
from pipeline.numerics import NUMERICS

_DEF = DensityParams()
_DEVICE_HELP = "auto (a GPU when there is one), cpu, cuda or cuda:N."


def _device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from pipeline.params import DEVICE_SPEC

    if value is not None and not DEVICE_SPEC.fullmatch(value):
        raise click.BadParameter(f"expected auto, cpu, cuda or cuda:N, got {value!r}")
    return value


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"expected WxH with positive integers, got {value!r}") from None
    return w, h


def _infer_cases(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple:
    try:
        cases = [tuple(int(v) for v in case.lower().split("x")) for case in value]
        if any(len(c) != 3 or min(c) <= 0 for c in cases):
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"expected WxHxBATCH with positive integers, got {value!r}") from None
    return tuple((h, w, b) for w, h, b in cases)


class FiniteRange(click.FloatRange):
    """A float range that also refuses nan and inf (``nan`` passes every comparison click makes)."""

    name = "finite float range"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 - click's signature
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="headcount")
def cli() -> None:
    """headcount: crowd-counting density maps, training and evaluation."""


@cli.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Dataset root.")
@click.option("--train", type=click.IntRange(0), default=None, help="Training images.")
@click.option("--test", type=click.IntRange(0), default=None, help="Test images.")
@click.option("--size", callback=_size, default=None, help="Image size WxH.")
@click.option("--min-count", type=click.IntRange(1), default=None, help="Fewest heads per image.")
@click.option("--max-count", type=click.IntRange(1), default=None, help="Most heads per image.")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same bytes).")
def synth(out: Path, train, test, size, min_count, max_count, seed) -> None:
    """Write a synthetic crowd dataset in the ShanghaiTech layout."""
    from pipeline.synth import SynthConfig, make_dataset

    given = {"train": train, "test": test, "min_count": min_count, "max_count": max_count, "seed": seed}
    if size:
        given.update(width=size[0], height=size[1])
    cfg = SynthConfig(**{k: v for k, v in given.items() if v is not None})
    if cfg.min_count > cfg.max_count:
        raise click.BadParameter("--min-count must not exceed --max-count")
    counts = make_dataset(out, cfg)
    click.echo(f"wrote {counts['train']} train and {counts['test']} test images to {out}")


@cli.command()
@click.option(
    "--format",
    "fmt",
    required=True,
    help="Annotation format (shanghaitech, ucf_cc_50, qnrf, jhu, nwpu, labelme, points).",
)
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Dataset root folder.")
@click.option("--split", required=True, help="Split name (train, test; 'all' for a points folder).")
@click.option("--fold", type=click.IntRange(1, 5), default=None, help="UCF_CC_50 fold (1..5).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .h5 file.")
@click.option("--method", type=click.Choice(METHODS), default=_DEF.method, show_default=True)
@click.option("--k", type=click.IntRange(1), default=_DEF.k, show_default=True, help="Neighbours for sigma.")
@click.option("--beta", type=FiniteRange(0, min_open=True), default=_DEF.beta, show_default=True)
@click.option(
    "--sigma",
    type=FiniteRange(0, min_open=True),
    default=_DEF.sigma,
    show_default=True,
    help="Sigma of the fixed kernel.",
)
@click.option(
    "--box-scale",
    type=FiniteRange(0, min_open=True),
    default=_DEF.box_scale,
    show_default=True,
    help="Method box: sigma = this x the annotated head size (JHU-Crowd++, NWPU-Crowd).",
)
@click.option(
    "--max-side",
    type=click.IntRange(8),
    default=None,
    help="Make maps of larger images at this long side (points scaled, count kept; training resizes to match).",
)
@click.option(
    "--encoding",
    type=click.Choice(["map", "heads"]),
    default=_DEF.encoding,
    show_default=True,
    help="heads: keep head kernels and render maps on read (the same maps; 26-500x smaller stores measured).",
)
@click.option("--border", type=click.Choice(BORDERS), default=_DEF.border, show_default=True)
@click.option("--duplicates", type=click.Choice(DUPLICATES), default=_DEF.duplicates, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True, help="Worker processes.")
@click.option("--dataset", default=None, help="Dataset name recorded in the store (default: root folder name).")
def density(fmt, root, split, fold, out, workers, dataset, **kernel) -> None:
    """Make the density maps of one split and write them to an HDF5 store."""
    from pipeline.build import build_split

    options = {} if fold is None else {"fold": fold}
    params = DensityParams(**{f.name: kernel[f.name] for f in fields(DensityParams)})
    n = build_split(fmt, root, split, out, params=params, workers=workers, dataset=dataset, reader_options=options)
    click.echo(f"wrote {n} density maps to {out}")


@cli.command("inspect")
@click.argument("store", type=click.Path(dir_okay=False, path_type=Path))
def inspect_cmd(store: Path) -> None:
    """Per-image counts, density sums, dropped points and sigma range; flags problems."""
    from pipeline.inspection import inspect_store

    attrs, reports = inspect_store(store)
    click.echo(f"{store}: dataset={attrs['dataset']} split={attrs['split']} params={attrs['params']}")
    click.echo(f"{'image':<16}{'count':>7}{'sum':>10}{'dropped':>9}{'sigma min':>11}{'sigma max':>11}  problems")
    for r in reports:
        click.echo(
            f"{r.image_id:<16}{r.count:>7}{r.density_sum:>10.2f}{r.dropped:>9}"
            f"{r.sigma_min:>11.2f}{r.sigma_max:>11.2f}  {'; '.join(r.problems)}"
        )
    bad = sum(bool(r.problems) for r in reports)
    total = sum(r.count for r in reports)
    mass = sum(r.density_sum for r in reports)
    click.echo(f"{len(reports)} images, {total} heads, density sum {mass:.2f}, {bad} image(s) flagged")


@cli.command()
@click.argument("store", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    default="csrnet",
    show_default=True,
    help="csrnet: CSRNet-pytorch density files; or any annotation format convert writes (its points and images).",
)
def export(store: Path, out: Path, fmt: str) -> None:
    """Export a store: CSRNet-pytorch density files (one <image>.h5 with key 'density'), or its annotations."""
    if fmt == "csrnet":
        from pipeline.store import export_csrnet

        click.echo(f"wrote {export_csrnet(store, out)} files to {out}")
        return
    from pipeline.convert import convert, store_samples
    from pipeline.store import read_split

    n, _ = convert(store_samples(store), fmt, out, read_split(store).attrs["split"])
    click.echo(f"wrote {n} images with their {fmt} annotations to {out}")


@cli.command("report")
@click.argument("store", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Report folder.")
def report_cmd(store: Path, out: Path) -> None:
    """A self-contained HTML page on a density store: counts, sigmas, example maps, problems."""
    from pipeline.report import write_report

    click.echo(f"wrote {write_report(store, out)}")


@cli.command("train")
@click.option(
    "--params",
    "params_file",
    default="params.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parameters (model.*, train.*).",
)
@click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Training store (default: data/density/<train.dataset>/train.h5).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("models"),
    show_default=True,
    help="Checkpoint folder (last.pt, best.pt).",
)
@click.option(
    "--live",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dvclive"),
    show_default=True,
    help="dvclive folder for loss and validation MAE.",
)
@click.option("--resume/--no-resume", default=None, help="Override run.resume.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Override run.threads (never changes results).")
@click.option("--device", callback=_device, default=None, help="Override run.device: " + _DEVICE_HELP)
@click.option("--loader-workers", type=click.IntRange(0), default=None, help="Override run.loader_workers.")
def train_cmd(
    params_file: Path,
    store: Path | None,
    out: Path,
    live: Path,
    resume: bool | None,
    threads: int | None,
    device: str | None,
    loader_workers: int | None,
) -> None:
    """Train CSRNet as the DVC `train` stage does (torchrun-compatible)."""
    from dataclasses import replace

    from pipeline.model import ModelConfig
    from pipeline.params import load_params, run_config, section, train_store
    from pipeline.train import train, train_config

    params = load_params(params_file)
    cfg = train_config(params)
    run = run_config(params)
    overrides = {"resume": resume, "threads": threads, "device": device, "loader_workers": loader_workers}
    run = replace(run, **{k: v for k, v in overrides.items() if v is not None})
    store = store or train_store(params, "train")
    summary = train(store, out, cfg, section(params, "model", ModelConfig), run=run, live_dir=live)
    click.echo(f"trained {summary['epochs']} epochs; best validation MAE {summary['best_val_mae']:.3f}")


@cli.command("evaluate")
@click.option(
    "--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=Path("models/best.pt"), show_default=True
)
@click.option("--test", "test_store", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--train",
    "train_store",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Training store (for baseline_mae, the mean training count).",
)
@click.option(
    "--metrics", type=click.Path(dir_okay=False, path_type=Path), default=Path("metrics.json"), show_default=True
)
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("eval/predictions.csv"),
    show_default=True,
)
@click.option(
    "--numerics",
    type=click.Choice(NUMERICS),
    default="reproducible",
    show_default=True,
    help="reproducible: the same bits on any CPU; fast: oneDNN (see train.numerics).",
)
@click.option("--device", callback=_device, default="cpu", show_default=True, help=_DEVICE_HELP)
@click.option("--bf16", is_flag=True, help="bfloat16 autocast (GPUs; the metrics move in the 3rd digit).")
def evaluate_cmd(checkpoint, test_store, train_store, metrics, predictions, numerics, device, bf16) -> None:
    """MAE, RMSE, GAME(0..3) and per-image predictions, as the DVC `evaluate` stage writes them."""
    from pipeline.device import resolve_device
    from pipeline.evaluate import evaluate

    m = evaluate(
        checkpoint,
        test_store,
        train_store,
        metrics_out=metrics,
        predictions_out=predictions,
        numerics=numerics,
        device=resolve_device(device),
        precision="bf16" if bf16 else "fp32",
    )
    click.echo("  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))


@cli.command("count")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A training checkpoint (.pt) or an ONNX model (.onnx, from export-model; runs on ONNX Runtime).",
)
@click.option(
    "--heatmap",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Images: save the density overlaid on the image (OUT_<stem>.png for several images).",
)
@click.option("--device", callback=_device, default="auto", show_default=True, help=_DEVICE_HELP)
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
    "--threshold", type=FiniteRange(0), default=None, help="Alert when the (smoothed) total count reaches this."
)
@click.option("--smooth", type=FiniteRange(0), default=2.0, show_default=True, help="EMA time constant, seconds.")
@click.option(
    "--hysteresis",
    type=FiniteRange(0, 1, max_open=True),
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
@click.option("--fps", "sample_fps", type=FiniteRange(0, min_open=True), help="Count F frames per second.")
@click.option("--live", is_flag=True, help="Treat files as cameras: frames arrive in real time, late ones drop.")
def count_cmd(
    inputs: tuple[str, ...],
    checkpoint: Path,
    heatmap: Path | None,
    device: str,
    precision: str,
    batch: int | None,
    threads: int | None,
    out: str,
    zones_file: Path | None,
    threshold: float | None,
    smooth: float,
    hysteresis: float,
    alerts_out: Path | None,
    snapshots: Path | None,
    overlay: Path | None,
    every: int,
    sample_fps: float | None,
    live: bool,
) -> None:
    """Count people in images (one count per line), videos, streams and cameras (one record per frame).

    INPUTS are image files, video files, stream URLs (rtsp://, http(s)://) or
    camera devices (/dev/video0). Exit code 3: an alert fired; 130: stopped by Ctrl-C
    (everything counted so far is written).
    """
    from pipeline.alerts import AlertConfig
    from pipeline.counter import count_images, load_counter
    from pipeline.sinks import RecordWriter
    from pipeline.stream import claim_video_outputs, count_video, is_live, is_video
    from pipeline.zones import load_zones

    videos = [i for i in inputs if is_video(i)]
    images = [Path(i) for i in inputs if not is_video(i)]
    if overlay is not None and len(videos) > 1:
        raise click.BadParameter("one overlay video per run: count one video at a time", param_hint="--overlay")
    zones = load_zones(zones_file) if zones_file else []
    # every output is checked before anything is counted or written (pipeline/outputs.py)
    inputs = [i for i in inputs if not is_live(i)] + [str(checkpoint)] + ([str(zones_file)] if zones_file else [])
    if videos:
        claim_video_outputs(out, alerts_out, overlay, inputs)
    counter = load_counter(checkpoint, device, precision, threads)
    if images:
        for path, n in zip(images, count_images(images, counter, heatmap), strict=True):
            click.echo(f"{path}\t{n:.1f}")
    fired, interrupted = 0, False
    shared = None
    if len(videos) > 1 and out != "-":  # one file for all: each row says its video, none is lost
        any_live = live or any(is_live(v) for v in videos)
        shared = RecordWriter(out, [z.name for z in zones], extra=("source", *(("lag",) if any_live else ())))
    try:
        for spec in videos:
            s = count_video(
                spec,
                counter,
                out=shared or out,
                zones=zones,
                total_threshold=threshold,
                alert_config=AlertConfig(smooth, hysteresis),
                alerts_out=alerts_out,
                snapshots=snapshots,
                overlay=overlay,
                every=every,
                fps=sample_fps,
                live=True if live else None,
                batch=batch or counter.batch,
                source=spec if len(videos) > 1 else None,
                inputs=inputs,
            )
            fired += s.alerts
            drops = f", dropped {s.dropped} of {s.decoded} ({s.dropped / max(s.decoded, 1):.0%})" if s.dropped else ""
            lag = f", lag {s.lag_mean_s * 1e3:.0f} ms mean / {s.lag_max_s * 1e3:.0f} ms max" if s.lag_max_s else ""
            click.echo(
                f"{spec}: {s.frames} frames in {s.seconds:.1f} s ({s.fps:.1f} fps, {counter.name}){drops}{lag}, "
                f"{s.alerts} alert(s){' - interrupted' if s.interrupted else ''}",
                err=True,
            )
            if s.interrupted:
                interrupted = True
                break
    finally:
        if shared is not None:
            shared.close()
    if interrupted:
        sys.exit(130)
    if fired:
        sys.exit(3)


@cli.command("score")
@click.argument("pred", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--gt",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="NWPU localization ground truth (id num x y sigma_s sigma_l level ...) or a density store (.h5).",
)
@click.option(
    "--radius",
    type=FiniteRange(0, min_open=True),
    multiple=True,
    help="Also match within R px (repeatable; a store's heads have no radii: default 4 and 8).",
)
@click.option("--bins", default="0,10,100,500,1000,inf", show_default=True, help="True-count bin edges.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def score_cmd(pred: Path, gt: Path, radius: tuple[float, ...], bins: str, as_json: bool) -> None:
    """Score anyone's predictions: MAE, MSE, NAE, per-bin errors and localization, as NWPU's evaluation does.

    PRED is an NWPU localization file (``id num x y ...``, .txt) or a CSV of
    ``image_id,count`` or ``image_id,x,y`` (one row per predicted head).
    """
    import json

    from pipeline.score import read_csv_pred, read_nwpu_gt, read_nwpu_pred, score, store_truth

    try:
        edges = tuple(float(b) for b in bins.split(","))
    except ValueError:
        raise click.BadParameter("comma-separated numbers, e.g. 0,10,100,inf", param_hint="--bins") from None
    if len(edges) < 2 or any(b >= a for a, b in zip(edges[1:], edges[:-1], strict=True)) or math.isnan(sum(edges)):
        raise click.BadParameter("at least two increasing edges", param_hint="--bins")
    is_store = gt.suffix.lower() in (".h5", ".hdf5")
    truth = store_truth(gt) if is_store else read_nwpu_gt(gt)
    if pred.suffix.lower() == ".csv":
        points, counts = read_csv_pred(pred)
    else:
        points = read_nwpu_pred(pred)
        counts = {k: float(len(v)) for k, v in points.items()}
    radii = radius or ((4.0, 8.0) if is_store else ())
    r = score(truth, points, counts, pred, radii, edges)
    if as_json:
        click.echo(json.dumps(r))
        return
    nae = "-" if r["nae"] is None else f"{r['nae']:.4f}"
    click.echo(f"{r['n_images']} images: MAE {r['mae']:.4f}  MSE {r['mse']:.4f}  NAE {nae}")
    for name, b in r.get("localization", {}).items():
        click.echo(f"{name:>8}: precision {b['precision']:.4f}  recall {b['recall']:.4f}  F1 {b['f1']:.4f}")


@cli.command("export-model")
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--onnx", "onnx_out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--int8", is_flag=True, help="Quantise the convolutions to int8 (faster on CPUs; counts move a little).")
@click.option(
    "--calibrate",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="--int8: a folder of images like those to be counted (default: synthetic crowds).",
)
@click.option(
    "--max-change",
    type=FiniteRange(0, min_open=True),
    default=0.1,
    show_default=True,
    help="--int8: refuse a model whose counts move more than this fraction from fp32's.",
)
def export_model_cmd(checkpoint: Path, onnx_out: Path, int8: bool, calibrate: Path | None, max_change: float) -> None:
    """Write a checkpoint as ONNX (uint8 frames in, any height and width) and check it against PyTorch."""
    import tempfile

    from pipeline.atomic import write_bytes
    from pipeline.counter import (
        OnnxCounter,
        calibration_frames,
        calibration_images,
        compare_counts,
        export_onnx,
        is_onnx_model,
        quantize_onnx,
        verify_onnx,
    )
    from pipeline.errors import DataError
    from pipeline.outputs import claim

    claim(onnx_out, is_onnx_model, "an ONNX model", inputs=[checkpoint])  # before minutes of work
    if not int8:
        export_onnx(checkpoint, onnx_out)
        diff = verify_onnx(checkpoint, onnx_out)
        click.echo(f"wrote {onnx_out}; ONNX Runtime vs PyTorch count on test frames: {diff:.1e} relative")
        return
    images = calibration_images(calibrate) if calibrate is not None else None  # refuses a folder of nothing usable
    frames, check = calibration_frames(images), calibration_frames(None)
    with tempfile.TemporaryDirectory(prefix="headcount-export-") as tmp:
        fp32 = export_onnx(checkpoint, Path(tmp) / "fp32.onnx")
        int8_path = quantize_onnx(fp32, Path(tmp) / "int8.onnx", frames)
        # on the frames it was calibrated on, and on synthetic crowds it never saw (a 1x1 image calibrates nothing)
        seen = compare_counts(OnnxCounter(fp32), OnnxCounter(int8_path), frames)
        unseen = compare_counts(OnnxCounter(fp32), OnnxCounter(int8_path), check) if images else seen
        where = f"{seen:.1%} on the calibration frames, {unseen:.1%} on synthetic crowds"
        if max(seen, unseen) > max_change:
            raise DataError(onnx_out, f"int8 counts move {where}: over --max-change {max_change:.0%}; not written")
        write_bytes(claim(onnx_out, is_onnx_model, "an ONNX model", inputs=[checkpoint]), int8_path.read_bytes())
    click.echo(f"wrote {onnx_out} (int8); its counts differ from fp32 by at most {where}")


@cli.command("convert")
@click.option("--from", "src", required=True, help="Source format (see density --format).")
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Source dataset root.")
@click.option("--split", required=True, help="Split to convert (train, test; 'all' for a points folder).")
@click.option("--fold", type=click.IntRange(1, 5), default=None, help="UCF_CC_50 fold of the source.")
@click.option("--to", "dst", required=True, help="Target format (any readable one).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Target root.")
@click.option("--out-split", default=None, help="Split name in the target layout (default: --split).")
def convert_cmd(src, root, split, fold, dst, out, out_split) -> None:
    """Convert ground truth between point formats (images are copied)."""
    from pipeline.convert import convert
    from pipeline.readers import read

    options = {} if fold is None else {"fold": fold}
    n, dropped = convert(read(src, root, split, **options), dst, out, out_split or split)
    click.echo(f"wrote {n} images as {dst} to {out}" + (f" ({dropped} out-of-image points dropped)" if dropped else ""))


@cli.command("annotate")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (keep it loopback).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A trained checkpoint: enables model-proposed heads.",
)
@click.option(
    "--params",
    "params_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="params.yaml whose density.* drive the preview (default: ./params.yaml if present).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host; every request then needs the access token printed at start.",
)
@click.option("--device", callback=_device, default="auto", show_default=True, help="For --checkpoint: " + _DEVICE_HELP)
def annotate_cmd(
    folder: Path,
    host: str,
    port: int,
    checkpoint: Path | None,
    params_file: Path | None,
    allow_remote: bool,
    device: str,
) -> None:
    """Serve the point-click annotation tool for FOLDER (images/ and points/)."""
    import secrets

    from annotate.guard import is_loopback_host
    from annotate.server import serve
    from pipeline.params import load_params, section

    if params_file is None and Path("params.yaml").exists():
        params_file = Path("params.yaml")
    density = DensityParams()
    if params_file:
        density = section(load_params(params_file), "density", DensityParams, where=params_file)
    token = None
    if not is_loopback_host(host):
        if not allow_remote:
            raise click.BadParameter(
                f"{host} is not loopback; add --allow-remote to serve the network", param_hint="--host"
            )
        token = secrets.token_urlsafe(24)
        click.echo(f"WARNING: serving {folder} to the network; anyone with this link can edit it:")
        click.echo(f"  http://{host}:{port}/?token={token}")
    else:
        click.echo(f"annotating {folder} at http://{host}:{port}/  (Ctrl-C stops; every edit is saved)")
    serve(folder, host=host, port=port, density=density, checkpoint=checkpoint, token=token, device=device)


@cli.group()
def bench() -> None:
    """Speed benchmarks (one run each, printed as a table)."""


@bench.command("density")
@click.option("--heads", type=click.IntRange(1), default=450, show_default=True)
@click.option(
    "--split-images",
    type=click.IntRange(0),
    default=482,
    show_default=True,
    help="Images in the split timing (0 skips it).",
)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True)
def bench_density(heads: int, split_images: int, workers: int) -> None:
    """Classic CSRNet recipe vs density_map on a 768x1024 image; then a whole split."""
    from pipeline.bench import bench_density_map, bench_split

    r = bench_density_map(heads=heads)
    click.echo(f"one 768x1024 image, {int(r['heads'])} clustered heads")
    click.echo(f"  classic recipe   {r['classic_s'] * 1e3:12.1f} ms")
    click.echo(f"  headcount        {r['headcount_s'] * 1e3:12.3f} ms")
    click.echo(f"  speed ratio      {r['ratio']:12.0f} x")
    click.echo(f"  parity max|diff| {r['max_abs_diff']:12.2e}")
    if split_images:
        s = bench_split(images=split_images, workers=workers)
        click.echo(f"split of {split_images} images 768x1024, ~500 heads, {workers} workers, HDF5 included")
        click.echo(f"  end to end       {s['seconds']:12.2f} s   ({s['mb']:.0f} MB store)")


@bench.command("loader")
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True, help="Loader worker processes.")
@click.option("--images", type=click.IntRange(1), default=64, show_default=True, help="Synthetic images.")
@click.option("--size", callback=_size, default="1024x768", show_default=True, help="Image size WxH.")
@click.option("--crop", callback=_size, default="512x384", show_default=True, help="Crop size WxH (multiples of 8).")
@click.option("--batch", type=click.IntRange(1), default=16, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Only the JSON lines (no summary on stderr).")
def bench_loader_cmd(workers: int, images: int, size, crop, batch: int, epochs: int, as_json: bool) -> None:
    """Training crops per second out of the data loader: one JSON line per epoch, the last is the steady state."""
    import json

    from pipeline.bench import bench_loader
    from pipeline.data import check_crop_size

    try:
        check_crop_size((crop[1], crop[0]))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--crop") from None
    if batch > images:
        raise click.BadParameter(f"{batch} is more than the {images} images of an epoch", param_hint="--batch")
    last = None
    for last in bench_loader(workers, images, size, (crop[1], crop[0]), batch, epochs):
        click.echo(json.dumps(last), nl=True)
    if not as_json:
        click.echo(f"steady state: {last['img_per_s']:.0f} crops/s with {workers} workers", err=True)


@bench.command("train")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option(
    "--device",
    callback=_device,
    default=None,
    help="Time training img/s on this device (" + _DEVICE_HELP + "): the reference recipe vs the fast settings, "
    "loader included. Without it: the CPU numerics table.",
)
@click.option("--width", type=FiniteRange(0, 1, min_open=True), default=1.0, show_default=True)
@click.option("--crop", callback=_size, default="512x384", show_default=True, help="Crop size WxH (multiples of 8).")
@click.option("--steps", type=click.IntRange(1), default=30, show_default=True, help="Timed steps per case.")
@click.option("--warmup", type=click.IntRange(1), default=5, show_default=True, help="Untimed steps first.")
@click.option("--images", type=click.IntRange(1), default=64, show_default=True, help="Synthetic 1024x768 images.")
@click.option(
    "--infer",
    callback=_infer_cases,
    multiple=True,
    default=("1024x768x1", "1920x1080x8"),
    show_default=True,
    help="Inference cases WxHxBATCH.",
)
@click.option("--loader-workers", type=click.IntRange(0), default=None, help="Default: one per core, at most 16.")
@click.option("--no-compile", is_flag=True, help="Skip the torch.compile cases.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per case instead of a table.")
def bench_train(
    repeats: int,
    device: str | None,
    width: float,
    crop,
    steps: int,
    warmup: int,
    images: int,
    infer,
    loader_workers: int | None,
    no_compile: bool,
    as_json: bool,
) -> None:
    """CSRNet training speed: per device (--device), or on the CPU in both numerics modes vs plain PyTorch."""
    if device is not None:
        from pipeline.bench import bench_train_device

        cases = bench_train_device(
            device,
            width=width,
            crop=(crop[1], crop[0]),
            steps=steps,
            warmup=warmup,
            images=images,
            loader_workers=loader_workers,
            compile=not no_compile,
            infer=infer,
        )
        _print_device_bench(cases, as_json)
        return
    from pipeline.bench import bench_model

    r = bench_model(repeats=repeats)
    click.echo(f"CSRNet train steps and inference, best of {repeats}, {_threads()} threads")
    click.echo(f"{'':34}{'fast':>12}{'reproducible':>14}{'plain PyTorch':>15}")
    rows = [
        ("full width, 384x512, batch 1", "train_step_s", "plain_train_step_s"),
        ("demo: width 0.25+BN, 8x128x128", "demo_step_s", None),
        ("inference 768x1024, full width", "inference_s", "plain_inference_s"),
    ]
    for label, key, plain in rows:
        ours = f"{r[key]:>11.3f}s{r['reproducible_' + key]:>13.3f}s"
        theirs = f"{r[plain]:>14.3f}s" if plain else f"{'-':>15}"
        click.echo(f"{label:34}{ours}{theirs}")
    click.echo("fast = oneDNN; reproducible = the same bits on any AVX2 CPU, Intel or AMD (train.numerics)")


@bench.command("stream")
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A checkpoint or ONNX model (default: an untrained model of the demo's shape; speed only).",
)
@click.option("--size", callback=_size, default="640x360", show_default=True, help="Frame size WxH.")
@click.option("--frames", type=click.IntRange(1), default=250, show_default=True)
@click.option("--fps", type=FiniteRange(0, min_open=True), default=25.0, show_default=True)
@click.option("--live", is_flag=True, help="Replay the video at --fps as a camera: late frames drop.")
@click.option("--runtime", type=click.Choice(["int8", "onnx", "pytorch"]), default="int8", show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None)
def bench_stream_cmd(checkpoint, size, frames, fps, live, runtime, threads) -> None:
    """Counting a synthetic crowd video end to end: fps, dropped frames, lag (one JSON line)."""
    import json

    from pipeline.bench import bench_stream

    r = bench_stream(checkpoint, size=size, frames=frames, fps=fps, live=live, runtime=runtime, threads=threads)
    click.echo(json.dumps(r))


def _print_device_bench(cases, as_json: bool) -> None:
    import json

    rows = []
    if not as_json:
        click.echo(f"{'phase':9} {'case':30} {'size':>9} {'batch':5} {'img/s':>9} {'e2e img/s':>10} {'GiB':>7}")
    for r in cases:
        rows.append(r)
        if as_json:
            click.echo(json.dumps(r))
        else:
            e2e = f"{r['e2e_img_per_s']:>10.1f}" if "e2e_img_per_s" in r else f"{'-':>10}"
            peak = f"{r['peak_gib']:>7.2f}" if r["peak_gib"] is not None else f"{'-':>7}"
            where = r.get("crop") or r.get("size")
            click.echo(f"{r['phase']:9} {r['case']:30} {where:>9} b{r['batch']:<3} {r['img_per_s']:>9.1f} {e2e} {peak}")
    ref = next((r for r in rows if r["case"] == "reference"), None)
    best = max((r for r in rows if r["phase"] == "train"), key=lambda r: r["e2e_img_per_s"], default=None)
    if not as_json and ref and best:
        click.echo(
            f"img/s: the model alone; e2e: end to end, loader included; GiB: peak GPU memory. "
            f"{best['case']} end to end = {best['e2e_img_per_s'] / ref['e2e_img_per_s']:.1f}x the reference"
        )


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> None:
    """Entry point: the one place errors become exit codes.

    0 success; 1 bad data (one line naming the file); 2 bad usage or settings (one
    line naming the option or params.yaml key); 130 interrupted. Anything else is
    a bug and keeps its traceback.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so atomic writes clean up
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # one line, like every other error
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see {exc.ctx.command_path} --help)"
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except HeadcountError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # the machine, not the code: a read-only folder, a full disk, ...
        where = exc.filename or "headcount"
        click.echo(f"error: {where}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    except MemoryError:
        click.echo("error: out of memory (a kernel sigma or an image far larger than the others?)", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
