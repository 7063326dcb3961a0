"""Scoring: anyone's predictions against ground truth, and one annotator against another."""

from __future__ import annotations

import math
from pathlib import Path

import click

from pipeline import strictjson
from pipeline.cli import options
from pipeline.cli.group import cli
from pipeline.readers import FORMATS


@cli.command("score")
@click.argument("pred", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--gt",
    type=click.Path(dir_okay=False, path_type=Path),
    help="NWPU localization ground truth (id num x y sigma_s sigma_l level ...) or a density store (.h5).",
)
@click.option(
    "--from",
    "gt_format",
    default=None,
    type=click.Choice(sorted(FORMATS)),
    help="Or: ground truth from a dataset in this format (with --root, --split).",
)
@options.renamed("--gt-format", "--from", "gt_format", type=click.Choice(sorted(FORMATS)))
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), help="The --from dataset's folder.")
@click.option("--split", default=None, help="The --from dataset's split.")
@options.reader_option
@click.option(
    "--radius",
    type=options.FiniteRange(0, min_open=True),
    multiple=True,
    help="Also match within R px (repeatable; a store's heads have no radii: default 4 and 8).",
)
@click.option("--bins", default="0,10,100,500,1000,inf", show_default=True, help="True-count bin edges.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def score_cmd(
    pred: Path,
    gt: Path | None,
    gt_format: str | None,
    root: Path | None,
    split: str | None,
    reader_options: dict[str, str],
    radius: tuple[float, ...],
    bins: str,
    as_json: bool,
) -> None:
    """Score anyone's predictions: MAE, MSE, NAE, per-bin errors and localization, as NWPU's evaluation does.

    PRED is an NWPU localization file (``id num x y ...``, .txt) or a CSV of
    ``image_id,count`` or ``image_id,x,y`` (one row per predicted head). The ground
    truth is --gt FILE, or a dataset: --from F --root DIR --split S.

    \b
    Examples:
      headcount score predictions.csv --gt test.h5 --radius 4 --radius 8
      headcount score nwpu_loc.txt --from nwpu --root DATA/NWPU --split val --json
    """

    from pipeline.score import score
    from pipeline.scoring.files import by_nwpu_id, read_csv_pred, read_nwpu_gt, read_nwpu_pred
    from pipeline.scoring.truth import dataset_truth, store_truth

    if (gt is None) == (gt_format is None):
        raise click.UsageError("give the ground truth as --gt FILE or as --from F --root DIR --split S")
    if reader_options and gt_format is None:
        raise click.UsageError("--option is an option of the --from reader")
    if gt_format is not None and (root is None or split is None):
        raise click.UsageError("--from needs --root DIR and --split S")

    try:
        edges = tuple(float(b) for b in bins.split(","))
    except ValueError:
        raise click.BadParameter("comma-separated numbers, e.g. 0,10,100,inf", param_hint="--bins") from None
    if len(edges) < 2 or any(b >= a for a, b in zip(edges[1:], edges[:-1], strict=True)) or math.isnan(sum(edges)):
        raise click.BadParameter("at least two increasing edges", param_hint="--bins")
    is_store = gt is None or gt.suffix.lower() in (".h5", ".hdf5")  # heads without radii
    if gt is not None:
        truth = store_truth(gt) if is_store else read_nwpu_gt(gt)
    else:
        from pipeline.readers import options_from_text

        truth = dataset_truth(gt_format, root, split, **options_from_text(gt_format, reader_options))
    if pred.suffix.lower() == ".csv":
        points, counts = read_csv_pred(pred)
    else:
        points = read_nwpu_pred(pred)
        counts = {k: float(len(v)) for k, v in points.items()}
        truth = by_nwpu_id(truth, gt or root)  # NWPU files name images by number
    radii = radius or ((4.0, 8.0) if is_store else ())
    r = score(truth, points, counts, pred, radii, edges)
    if as_json:
        click.echo(strictjson.dumps(r))
        return
    nae = "-" if r["nae"] is None else f"{r['nae']:.4f}"
    click.echo(f"{r['n_images']} images: MAE {r['mae']:.4f}  MSE {r['mse']:.4f}  NAE {nae}")
    for name, b in r.get("localization", {}).items():
        click.echo(f"{name:>8}: precision {b['precision']:.4f}  recall {b['recall']:.4f}  F1 {b['f1']:.4f}")


@cli.command("agree")
@click.argument("folder_a", type=click.Path(file_okay=False, path_type=Path))
@click.argument("folder_b", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--radius", type=options.FiniteRange(0, min_open=True), default=8.0, show_default=True, help="Match within R px."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def agree_cmd(folder_a: Path, folder_b: Path, radius: float, as_json: bool) -> None:
    """How far two annotators agree, head by head: FOLDER_A is the reference.

    Each is an annotation folder (images/ and points/) or a folder of point files. Heads match one to
    one within --radius, as `headcount score` matches predictions.

    \b
    Example:
      headcount agree ann/ bo/ --radius 8 --json
    """

    from pipeline.scoring.agreement import agree

    r = agree(folder_a, folder_b, radius)
    if as_json:
        click.echo(strictjson.dumps(r))
        return

    def pct(v: float | None) -> str:
        return f"{v:>7.1%}" if v is not None else f"{'-':>7}"

    click.echo(f"{'image':<20}{'A':>7}{'B':>7}{'B-A':>7}{'precision':>11}{'recall':>8}{'F1':>8}")
    for image_id, m in r["images"].items():
        rates = f"{pct(m['precision']):>11}{pct(m['recall'])}{pct(m['f1'])}"
        click.echo(f"{image_id:<20}{m['count_a']:>7}{m['count_b']:>7}{m['count_difference']:>+7}{rates}")
    o = r["overall"]
    click.echo(
        f"{r['n_images']} images within {radius:g} px: precision {pct(o['precision']).strip()}, "
        f"recall {pct(o['recall']).strip()}, F1 {pct(o['f1']).strip()}, "
        f"mean |count difference| {o['count_difference']:.2f}"
    )
    for side, ids in (("A", r["only_a"]), ("B", r["only_b"])):
        if ids:
            click.echo(f"only in {side} (not scored): {', '.join(ids)}", err=True)
