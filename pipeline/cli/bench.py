"""The bench group: one subcommand per benchmark (pipeline/bench/)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline import strictjson
from pipeline.cli import options
from pipeline.cli.group import Subcommands, cli


@cli.group(cls=Subcommands)
def bench() -> None:
    """Speed benchmarks: each prints a table, or JSON with --json (figures go to benchmarks/README.md).

    \b
    Examples:
      headcount bench density
      headcount bench train --repeats 3 --json
    """


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
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the table.")
def bench_density(heads: int, split_images: int, workers: int, as_json: bool) -> None:
    """Classic CSRNet recipe vs density_map on a 768x1024 image; then a whole split.

    \b
    Examples:
      headcount bench density
      headcount bench density --split-images 0 --json
    """
    from pipeline.bench.density import bench_density_map, bench_split

    r = bench_density_map(heads=heads)
    if as_json:
        split = bench_split(images=split_images, workers=workers) if split_images else None
        click.echo(strictjson.dumps({"image": r, "split": split}))
        return
    click.echo(f"one 768x1024 image, {int(r['heads'])} clustered heads")
    click.echo(f"  classic recipe   {r['classic_s'] * 1e3:12.1f} ms")
    click.echo(f"  headcount        {r['headcount_s'] * 1e3:12.3f} ms")
    click.echo(f"  speed ratio      {r['ratio']:12.0f} x")
    click.echo(f"  parity max|diff| {r['max_abs_diff']:12.2e}")
    if split_images:
        s = bench_split(images=split_images, workers=workers)
        click.echo(f"split of {split_images} images 768x1024, ~500 heads, {workers} workers, HDF5 included")
        click.echo(f"  end to end       {s['seconds']:12.2f} s   ({s['mb']:.0f} MB store)")


@bench.command("startup")
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True, help="Fresh processes per command.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per command instead of the table.")
def bench_startup_cmd(repeats: int, as_json: bool) -> None:
    """Wall time of `headcount --help` and of each command's --help, in fresh processes (median of --repeats).

    \b
    Example:
      headcount bench startup --repeats 5
    """
    from pipeline.bench.startup import bench_startup
    from pipeline.cli.group import cli as root

    commands = [(), *((name,) for name in root.list_commands(click.Context(root)))]
    for row in bench_startup(commands, repeats):
        if as_json:
            click.echo(strictjson.dumps(row))
        else:
            median, best = row["median_s"] * 1e3, row["best_s"] * 1e3
            click.echo(f"{row['command']:<36} median {median:6.0f} ms   best {best:6.0f} ms")


@bench.command("loader")
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True, help="Loader worker processes.")
@click.option("--images", type=click.IntRange(1), default=64, show_default=True, help="Synthetic images.")
@click.option("--size", "shape", callback=options.shape, default="1024x768", show_default=True, help="Image size WxH.")
@click.option("--crop", callback=options.crop, default="512x384", show_default=True, help="Crop WxH (multiples of 8).")
@click.option("--batch", type=click.IntRange(1), default=16, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per epoch instead of the table.")
def bench_loader_cmd(workers: int, images: int, shape, crop, batch: int, epochs: int, as_json: bool) -> None:
    """Training crops per second out of the data loader, per epoch; the last is the steady state.

    \b
    Examples:
      headcount bench loader --workers 2
      headcount bench loader --workers 8 --crop 512x384 --json
    """

    from pipeline.bench.loader import bench_loader

    if batch > images:
        raise click.BadParameter(f"{batch} is more than the {images} images of an epoch", param_hint="--batch")
    last = None
    for last in bench_loader(workers, images, shape, crop, batch, epochs):
        if as_json:
            click.echo(strictjson.dumps(last))
        else:
            click.echo(f"epoch {last['epoch']}: {last['img_per_s']:8.1f} crops/s  ({last['seconds']:.2f} s)")
    if not as_json:
        click.echo(f"steady state: {last['img_per_s']:.0f} crops/s with {workers} workers")


@bench.command("train")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option(
    "--device",
    callback=options.device,
    default=None,
    help="Time training img/s on this device (" + options.DEVICE_HELP + "): the reference recipe vs the fast settings, "
    "loader included. Without it: the CPU numerics table.",
)
@click.option("--width", type=options.FiniteRange(0, 1, min_open=True), default=1.0, show_default=True)
@click.option("--crop", callback=options.crop, default="512x384", show_default=True, help="Crop WxH (multiples of 8).")
@click.option("--steps", type=click.IntRange(1), default=30, show_default=True, help="Timed steps per case.")
@click.option("--warmup", type=click.IntRange(1), default=5, show_default=True, help="Untimed steps first.")
@click.option("--images", type=click.IntRange(1), default=64, show_default=True, help="Synthetic 1024x768 images.")
@click.option(
    "--infer",
    callback=options.infer_cases,
    multiple=True,
    default=("1024x768x1", "1920x1080x8"),
    show_default=True,
    help="Inference cases WxHxBATCH.",
)
@click.option(
    "--workers",
    "loader_workers",
    type=click.IntRange(0),
    default=None,
    help="Loader workers (default: one per core, at most 16).",
)
@options.renamed("--loader-workers", "--workers", "loader_workers", type=click.IntRange(0))
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
    """CSRNet training speed: per device (--device), or on the CPU in both numerics modes vs plain PyTorch.

    \b
    Examples:
      headcount bench train --repeats 3
      headcount bench train --device cuda --json
    """
    if device is not None:
        from pipeline.bench.train import bench_train_device

        cases = bench_train_device(
            device,
            width=width,
            crop=crop,
            steps=steps,
            warmup=warmup,
            images=images,
            loader_workers=loader_workers,
            compile=not no_compile,
            infer=infer,
        )
        _print_device_bench(cases, as_json)
        return
    from pipeline.bench.train import bench_model

    (th, tw), (ih, iw) = crop, infer[0][:2]  # the CPU table: --crop for the train step, the first --infer case
    r = bench_model(repeats=repeats, train_shape=(th, tw), infer_shape=(ih, iw))
    click.echo(f"CSRNet train steps and inference, best of {repeats}, {_threads()} threads")
    click.echo(f"{'':34}{'fast':>12}{'reproducible':>14}{'plain PyTorch':>15}")
    rows = [
        (f"full width, {tw}x{th}, batch 1", "train_step_s", "plain_train_step_s"),
        ("demo: width 0.25+BN, 8x128x128", "demo_step_s", None),
        (f"inference {iw}x{ih}, full width", "inference_s", "plain_inference_s"),
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
    help="A checkpoint or ONNX model (default: the demo pipeline's models/best.pt where it exists, otherwise "
    "an untrained model of the demo's shape: speed only).",
)
@click.option("--size", "shape", callback=options.shape, default="640x360", show_default=True, help="Frame size WxH.")
@click.option("--frames", type=click.IntRange(1), default=250, show_default=True)
@click.option("--fps", type=options.FiniteRange(0, min_open=True), default=25.0, show_default=True)
@click.option("--live", is_flag=True, help="Replay the video at --fps as a camera: late frames drop.")
@click.option("--runtime", type=click.Choice(["int8", "onnx", "pytorch"]), default="int8", show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None)
@options.scale(
    0.5,
    "Count frames resized by F, as `count --scale` does. 0.5: the demo model counts the bench's crowd best "
    "there (MAE 7 at 640x360 against 26 at 1.0) and on a quarter of the pixels.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the table.")
def bench_stream_cmd(checkpoint, shape, frames, fps, live, runtime, threads, scale, as_json) -> None:
    """Counting a synthetic crowd video end to end: fps, dropped frames, lag, MAE against the true counts.

    \b
    Examples:
      headcount bench stream
      headcount bench stream --checkpoint models/best.pt --runtime pytorch --size 1280x720 --live --json
    """

    from pipeline.bench.stream import bench_stream, default_checkpoint

    checkpoint = checkpoint or default_checkpoint()
    r = bench_stream(
        checkpoint, shape=shape, frames=frames, fps=fps, live=live, runtime=runtime, threads=threads, scale=scale
    )
    if as_json:
        click.echo(strictjson.dumps(r))
        return
    for key, value in r.items():
        click.echo(f"{key:<16} {value:.4g}" if isinstance(value, float) else f"{key:<16} {value}")


def _print_device_bench(cases, as_json: bool) -> None:

    rows = []
    if not as_json:
        click.echo(f"{'phase':9} {'case':30} {'size':>9} {'batch':5} {'img/s':>9} {'e2e img/s':>10} {'GiB':>7}")
    for r in cases:
        rows.append(r)
        if as_json:
            click.echo(strictjson.dumps(r))
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
