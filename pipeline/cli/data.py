"""Data commands: synth, density, inspect, export, report, convert."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click

from pipeline import strictjson
from pipeline.cli import options
from pipeline.cli.group import cli
from pipeline.kernels import BORDERS, DUPLICATES, METHODS, DensityParams
from pipeline.readers import FORMATS

_DEF = DensityParams()
# export --to: the trainers' layouts (`pipeline.exports.FORMATS` and the two written apart), then every
# annotation format; kept equal to the exports package by tests/test_exports.py, which this module
# does not import (it loads the density code)
LAYOUTS = ("csrnet", "bayesian", "dmcount", "p2pnet", "c3f", "nwpu-loc")


@cli.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Dataset root.")
@click.option("--train", type=click.IntRange(0), default=None, help="Training images.")
@click.option("--test", type=click.IntRange(0), default=None, help="Test images.")
@click.option("--size", "shape", callback=options.shape, default=None, help="Image size WxH.")
@click.option("--min-count", type=click.IntRange(1), default=None, help="Fewest heads per image.")
@click.option("--max-count", type=click.IntRange(1), default=None, help="Most heads per image.")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same bytes).")
def synth(out: Path, train, test, shape, min_count, max_count, seed) -> None:
    """Write a synthetic crowd dataset in the ShanghaiTech layout.

    \b
    Example:
      headcount synth --out data/raw/mine --train 20 --test 5 --size 320x240
    """
    from pipeline.synth import SynthConfig, make_dataset

    given = {"train": train, "test": test, "min_count": min_count, "max_count": max_count, "seed": seed}
    if shape:
        given.update(height=shape[0], width=shape[1])
    cfg = SynthConfig(**{k: v for k, v in given.items() if v is not None})
    if cfg.min_count > cfg.max_count:
        raise click.BadParameter("--min-count must not exceed --max-count")
    counts = make_dataset(out, cfg)
    click.echo(f"wrote {counts['train']} train and {counts['test']} test images to {out}")


@cli.command()
@click.option(
    "--from",
    "fmt",
    type=click.Choice(sorted(FORMATS)),
    help="Annotation format of the dataset.  [required]",
)
@options.renamed("--format", "--from", "fmt", required=True, type=click.Choice(sorted(FORMATS)))
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Dataset root folder.")
@click.option("--split", required=True, help="Split name (train, test; 'all' for a points folder).")
@click.option("--fold", type=click.IntRange(1, 5), default=None, help="UCF_CC_50 fold (1..5).")
@options.reader_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .h5 file.")
@click.option("--method", type=click.Choice(METHODS), default=_DEF.method, show_default=True)
@click.option("--k", type=click.IntRange(1), default=_DEF.k, show_default=True, help="Neighbours for sigma.")
@click.option("--beta", type=options.FiniteRange(0, min_open=True), default=_DEF.beta, show_default=True)
@click.option(
    "--sigma",
    type=options.FiniteRange(0, min_open=True),
    default=_DEF.sigma,
    show_default=True,
    help="Sigma of the fixed kernel.",
)
@click.option(
    "--box-scale",
    type=options.FiniteRange(0, min_open=True),
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
    help="heads: keep head kernels and render maps on read (the same maps, far smaller stores).",
)
@click.option("--border", type=click.Choice(BORDERS), default=_DEF.border, show_default=True)
@click.option("--duplicates", type=click.Choice(DUPLICATES), default=_DEF.duplicates, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True, help="Worker processes.")
@click.option("--dataset", default=None, help="Dataset name recorded in the store (default: root folder name).")
def density(fmt, root, split, fold, reader_options, out, workers, dataset, **kernel) -> None:
    """Make the density maps of one split and write them to an HDF5 store.

    \b
    Examples:
      headcount density --from shanghaitech --root DATA/part_B --split train --out train.h5
      headcount density --from points --root data/annotated --split all --out mine.h5 --encoding heads
    """
    from pipeline.build import build_split
    from pipeline.readers import options_from_text

    options = {**options_from_text(fmt, reader_options), **({} if fold is None else {"fold": fold})}
    params = DensityParams(**{f.name: kernel[f.name] for f in fields(DensityParams)})
    n = build_split(fmt, root, split, out, params=params, workers=workers, dataset=dataset, reader_options=options)
    click.echo(f"wrote {n} density maps to {out}")


@cli.command("inspect")
@click.argument("store", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON line per image, then the summary, instead of the table."
)
def inspect_cmd(store: Path, as_json: bool) -> None:
    """Per-image counts, density sums, dropped points and sigma range; flags problems.

    \b
    Examples:
      headcount inspect data/density/synthetic/train.h5
      headcount inspect train.h5 --json | grep problems
    """
    from pipeline.inspection import inspect_store

    attrs, reports = inspect_store(store)
    if as_json:
        keys = ("image_id", "count", "heads", "density_sum", "dropped", "sigma_min", "sigma_max", "problems")
        for r in reports:
            click.echo(strictjson.dumps({k: getattr(r, k) for k in keys}))
        summary = {"store": str(store), "dataset": attrs["dataset"], "split": attrs["split"], "images": len(reports)}
        summary.update(heads=sum(r.count for r in reports), flagged=sum(bool(r.problems) for r in reports))
        click.echo(strictjson.dumps(summary))
        return
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
@click.argument("store", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--to",
    "fmt",
    default=None,
    type=click.Choice([*LAYOUTS, *sorted(FORMATS)]),
    help="csrnet (the default): CSRNet-pytorch density files; bayesian, dmcount, p2pnet, c3f: those codebases' "
    "layouts; nwpu-loc: NWPU's localization ground truth; or any annotation format convert writes (points and images).",
)
@options.renamed("--format", "--to", "fmt", type=click.Choice([*LAYOUTS, *sorted(FORMATS)]))
@click.option("--split", default=None, help="Folder/list name for the images (default: the store's split).")
@click.option(
    "--from",
    "source_format",
    default=None,
    type=click.Choice(sorted(FORMATS)),
    help="nwpu-loc only: read a dataset of this format (--root, --split) instead of a store, keeping head boxes.",
)
@options.renamed("--source-format", "--from", "source_format", type=click.Choice(sorted(FORMATS)))
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), help="The --from dataset.")
@click.option(
    "--min-size",
    type=click.IntRange(0),
    default=None,
    help="Scale the shorter side up to this (bayesian/dmcount default 512; 0: never).",
)
@click.option(
    "--max-size",
    type=click.IntRange(0),
    default=None,
    help="Scale the shorter side down to this, as their preprocessing does (default 2048; 0: never).",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    help="Put this share of images in 'val', chosen as train holds out validation images.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --val-fraction choice.")
def export(
    store: Path | None,
    out: Path,
    fmt: str,
    split: str | None,
    source_format: str | None,
    root: Path | None,
    min_size: int | None,
    max_size: int | None,
    val_fraction: float,
    seed: int,
) -> None:
    """Export a store for another trainer's code, or as annotations.

    CSRNet-pytorch density files (one <image>.h5 with key 'density'), the Bayesian Loss / DM-Count, P2PNet
    or C-3-Framework layouts, NWPU localization ground truth, or any annotation format convert writes.

    \b
    Examples:
      headcount export train.h5 --to csrnet --out csrnet_gt/
      headcount export train.h5 --to dmcount --val-fraction 0.1 --out dmcount_data/
    """
    from pipeline.exports import FORMATS

    fmt = fmt or "csrnet"
    if source_format is not None and fmt != "nwpu-loc":
        raise click.UsageError("--from reads a dataset for --to nwpu-loc only; the others need a store")
    if (store is None) == (source_format is None):
        raise click.UsageError("give a STORE, or (nwpu-loc) --from F --root DIR --split S")
    if fmt == "nwpu-loc":
        from pipeline.exports import export_nwpu_gt
        from pipeline.writers.convert import store_samples

        if store is not None:
            from pipeline.store import read_split

            samples, name, where = store_samples(store), split or read_split(store).attrs["split"], store
        else:
            from pipeline.readers import read

            if root is None or split is None:
                raise click.UsageError("--from needs --root DIR and --split S")
            samples, name, where = read(source_format, root, split), split, root
        path, images, heads = export_nwpu_gt(samples, out, name, where)
        click.echo(f"wrote {images} images with {heads} heads to {path}")
        return

    if fmt == "csrnet":
        from pipeline.exports.csrnet import export_csrnet

        click.echo(f"wrote {export_csrnet(store, out)} files to {out}")
        return
    if fmt in FORMATS:
        from pipeline.exports import export as export_for

        s = export_for(
            store, fmt, out, split=split, min_size=min_size, max_size=max_size, val_fraction=val_fraction, seed=seed
        )
        splits = ", ".join(f"{n} in {name}" for name, n in s.images.items())
        click.echo(f"wrote {sum(s.images.values())} images ({splits}) with {s.heads} heads as {fmt} to {out}")
        if s.empty:
            click.echo(f"{s.empty} image(s) have no head (some trainers' loaders refuse them)", err=True)
        return
    from pipeline.store import read_split
    from pipeline.writers.convert import convert, store_samples

    n, _ = convert(store_samples(store), fmt, out, split or read_split(store).attrs["split"])
    click.echo(f"wrote {n} images with their {fmt} annotations to {out}")


@cli.command("report")
@click.argument("store", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Report folder.")
def report_cmd(store: Path, out: Path) -> None:
    """A self-contained HTML page on a density store: counts, sigmas, example maps, problems.

    \b
    Example:
      headcount report data/density/synthetic/test.h5 --out reports/test
    """
    from pipeline.report import write_report

    click.echo(f"wrote {write_report(store, out)}")


@cli.command("convert")
@click.option("--from", "src", required=True, type=click.Choice(sorted(FORMATS)), help="Source format.")
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Source dataset root.")
@click.option("--split", required=True, help="Split to convert (train, test; 'all' for a points folder).")
@click.option("--fold", type=click.IntRange(1, 5), default=None, help="UCF_CC_50 fold of the source.")
@options.reader_option
@click.option("--to", "dst", required=True, type=click.Choice(sorted(FORMATS)), help="Target format.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Target root.")
@click.option(
    "--out-split",
    default=None,
    help="Split name in the target layout (default: --split; 'all' for --to points, the folder `annotate` opens).",
)
@click.option(
    "--status",
    default=None,
    help="--from points: only images of these statuses (e.g. done,reviewed); images not annotated yet are skipped.",
)
def convert_cmd(src, root, split, fold, reader_options, dst, out, out_split, status) -> None:
    """Convert ground truth between point formats (images are copied).

    From an annotation folder (``--from points``) only annotated images are taken, and the
    command says how many it skipped.

    \b
    Examples:
      headcount convert --from shanghaitech --root DATA/part_B --split test --to coco --out coco/
      headcount convert --from points --root data/annotated --split all --to cvat --out cvat/
    """
    from pipeline.readers import options_from_text, read
    from pipeline.writers.convert import convert

    options = {**options_from_text(src, reader_options), **({} if fold is None else {"fold": fold})}
    if status is not None and src != "points":
        raise click.BadParameter("only for --from points (an annotation folder)", param_hint="--status")
    if src == "points":
        options = {**options, "unannotated": "skip", **({"status": status} if status else {})}
    # --to points: an annotation folder at --out itself, which `headcount annotate OUT` opens as it is
    out_split = out_split or ("all" if dst == "points" else split)
    n, dropped = convert(read(src, root, split, **options), dst, out, out_split)
    skipped = ""
    if src == "points":
        from pipeline.readers.layout import list_images

        base = root if split == "all" else root / split
        if left := len(list_images(base / "images")) - n:
            skipped = f"; skipped {left} image(s) {'not ' + status if status else 'not annotated yet'}"
    dropped_note = f" ({dropped} out-of-image points dropped)" if dropped else ""
    click.echo(f"wrote {n} images as {dst} to {out}{dropped_note}{skipped}")
