"""Scoring anyone's predictions against ground truth."""

from __future__ import annotations

import math
from pathlib import Path

import click

from pipeline.cli import options
from pipeline.cli.group import cli


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
    type=options.FiniteRange(0, min_open=True),
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
