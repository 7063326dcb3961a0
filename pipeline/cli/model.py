"""Model commands: train, evaluate, export-model, and preset (a recipe into params.yaml)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline import strictjson
from pipeline.cli import options
from pipeline.cli.group import cli
from pipeline.numerics import NUMERICS


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
    "stores",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Training store; repeat it to mix several (default: data/density/<train.dataset>/train.h5).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("models"),
    show_default=True,
    help="Checkpoint folder (last.pt, best.pt).",
)
@click.option(
    "--dvclive",
    "live",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="dvclive folder for loss and validation MAE.  [default: dvclive]",
)
@options.renamed("--live", "--dvclive", "live", type=click.Path(file_okay=False, path_type=Path))
@click.option("--resume/--no-resume", default=None, help="Override run.resume.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Override run.threads (never changes results).")
@click.option("--device", callback=options.device, default=None, help="Override run.device: " + options.DEVICE_HELP)
@click.option("--workers", "loader_workers", type=click.IntRange(0), default=None, help="Override run.loader_workers.")
@options.renamed("--loader-workers", "--workers", "loader_workers", type=click.IntRange(0))
def train_cmd(
    params_file: Path,
    stores: tuple[Path, ...],
    out: Path,
    live: Path | None,
    resume: bool | None,
    threads: int | None,
    device: str | None,
    loader_workers: int | None,
) -> None:
    """Train CSRNet as the DVC `train` stage does (torchrun-compatible).

    \b
    Examples:
      headcount train --params params.yaml --out models
      torchrun --standalone --nproc_per_node 2 -m pipeline train
    """
    from dataclasses import replace

    from pipeline.config.model import ModelConfig
    from pipeline.config.train import train_config
    from pipeline.params import load_params, run_config, section, train_store
    from pipeline.train import train

    params = load_params(params_file)
    cfg = train_config(params)
    run = run_config(params)
    overrides = {"resume": resume, "threads": threads, "device": device, "loader_workers": loader_workers}
    run = replace(run, **{k: v for k, v in overrides.items() if v is not None})
    summary = train(
        list(stores) or train_store(params, "train"),
        out,
        cfg,
        section(params, "model", ModelConfig),
        run=run,
        live_dir=live or Path("dvclive"),
    )
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
@click.option("--device", callback=options.device, default="cpu", show_default=True, help=options.DEVICE_HELP)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default=None,
    help="bf16: bfloat16 autocast (GPUs; the metrics move in the 3rd digit).  [default: fp32]",
)
@options.renamed("--bf16", "--precision", "precision", is_flag=True, to=lambda _: "bf16")
@click.option(
    "--nwpu",
    "nwpu_out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write NWPU-Crowd submission files here (nwpu_count.txt, nwpu_loc.txt).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
def evaluate_cmd(
    checkpoint, test_store, train_store, metrics, predictions, numerics, device, precision, nwpu_out, as_json
) -> None:
    """MAE, RMSE, GAME(0..3) and per-image predictions, as the DVC `evaluate` stage writes them.

    \b
    Example:
      headcount evaluate --test data/density/synthetic/test.h5 --train data/density/synthetic/train.h5 --json
    """
    from pipeline.device import resolve_device
    from pipeline.evaluate import evaluate

    m = evaluate(
        checkpoint,
        test_store,
        train_store,
        metrics_out=metrics,
        predictions_out=predictions,
        nwpu_out=nwpu_out,
        numerics=numerics,
        device=resolve_device(device),
        precision=precision or "fp32",
    )
    if as_json:
        click.echo(strictjson.dumps(m))
        return
    click.echo("  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))


@cli.command("export-model")
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "onnx_out", type=click.Path(dir_okay=False, path_type=Path), help="The ONNX file.  [required]")
@options.renamed("--onnx", "--out", "onnx_out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--int8", is_flag=True, help="Quantise the convolutions to int8 (faster on CPUs; counts move a little).")
@click.option(
    "--calibrate",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="--int8: a folder of images like those to be counted (default: synthetic crowds).",
)
@click.option(
    "--max-change",
    type=options.FiniteRange(0, min_open=True),
    default=0.1,
    show_default=True,
    help="--int8: refuse a model whose counts move more than this fraction from fp32's.",
)
def export_model_cmd(checkpoint: Path, onnx_out: Path, int8: bool, calibrate: Path | None, max_change: float) -> None:
    """Write a checkpoint as ONNX (uint8 frames in, any height and width) and check it against PyTorch.

    \b
    Examples:
      headcount export-model models/best.pt --out model.onnx
      headcount export-model models/best.pt --out model-int8.onnx --int8 --calibrate frames/
    """
    import tempfile

    from pipeline.atomic import write_bytes
    from pipeline.errors import DataError
    from pipeline.infer.counter import OnnxCounter
    from pipeline.infer.export import calibration_frames, calibration_images, export_onnx, is_onnx_model, quantize_onnx
    from pipeline.infer.parity import compare_counts, verify_onnx
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


@cli.command("preset")
@click.argument("name", required=False)
@click.option(
    "--params",
    "params_file",
    default="params.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The params file whose sections the preset replaces.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The datasets folder (the one holding ShanghaiTech/); required by a preset that reads a dataset.",
)
@click.option("--list", "list_only", is_flag=True, help="List the shipped presets, one line each.")
def preset_cmd(name: str | None, params_file: Path, root: Path | None, list_only: bool) -> None:
    """Apply a recipe: the sections of preset NAME (or a YAML file) replace those of params.yaml.

    Every other line of params.yaml stays as written, comments included; the result is read back
    and checked key by key before it is written. Then `dvc repro` re-runs what changed. Without
    touching params.yaml: `dvc exp run -S key=value` with the preset's keys.

    \b
    Examples:
      headcount preset --list
      headcount preset shb-cpu --root ~/datasets && dvc repro
    """
    from pipeline.presets import apply_preset, available, describe, preset_path

    if list_only or name is None:
        for n in available():
            click.echo(f"{n:<16} {describe(preset_path(n))}")
        return
    replaced = apply_preset(name, params_file, root=root)
    click.echo(f"{params_file}: {', '.join(replaced)} from preset {name}; run `dvc repro`")


@cli.command("recipe")
@click.argument("preset")
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build/recipe"),
    show_default=True,
    help="Where the stores, checkpoints and dvclive plots go (yours to delete).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The shipped checkpoint: weights, configs, validation history.",
)
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue a killed run in --work.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Torch threads (never changes results).")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True, help="Density worker processes.")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The datasets folder (the one holding ShanghaiTech/).",
)
def recipe_cmd(
    preset: str, work: Path, out: Path, resume: bool, threads: int | None, workers: int, root: Path | None
) -> None:
    """Build a shipped model from a preset, outside DVC: every dataset's train store, training, --out.

    The same preset and data give the same bytes on any x86-64 CPU (train.numerics: reproducible).
    `make weights` rebuilds pipeline/weights/photo.pt this way.

    \b
    Example:
      headcount recipe photo-cpu --root DATA --work build/photo --out photo.pt
    """
    from pipeline.params import RunConfig
    from pipeline.presets.recipe import run_recipe

    run = RunConfig(workers=workers, threads=threads, resume=resume, device="cpu")
    summary = run_recipe(preset, work, out, run=run, root=root)
    click.echo(f"{out}: sha256 {summary['sha256']} (the last epoch)")
