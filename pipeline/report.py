"""A dataset report people look at: one self-contained HTML page per density store, and the PNGs it shows.

What a researcher checks before training on a store: how counts are spread,
what kernel widths the parameters produced, what the maps look like on the
densest, median and sparsest images, and every problem `inspect` finds,
totalled by kind. The page has no scripts and loads nothing from the network.
Two reports (or ``dvc plots diff`` on ``counts.csv`` / ``sigma.csv``) compare
two kernel settings side by side.
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import __version__, strictjson
from pipeline.atomic import write_bytes
from pipeline.image import encode
from pipeline.inspection import MIN_SIGMA, inspect_store
from pipeline.outputs import claim, csv_with_header, is_png, json_object_with
from pipeline.overlay import blend
from pipeline.store import read_split

GENERATOR = f'<meta name="generator" content="headcount report {__version__}">'
HUGE_SIGMA_FRACTION = 0.25  # a kernel wider than a quarter of the image blurs it away
OVERLAY_WIDTH = 720
MAX_SIGMAS = 1_000_000  # plotted; a random sample beyond this keeps memory flat on NWPU-sized stores


EXAMPLE_ROLES = ("densest", "median", "sparsest")  # the example overlays, one PNG each


def _is_report(path: Path) -> bool:
    try:
        return GENERATOR.split(" content")[0] in path.read_text(errors="replace")[:2000]
    except OSError:
        return False


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _histogram(values: np.ndarray, xlabel: str, title: str, log: bool = False) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    v = values[np.isfinite(values)]
    if log and len(v) and v.min() > 0:
        bins = np.geomspace(v.min(), v.max() * 1.0001, 40) if v.max() > v.min() else 10
        ax.set_xscale("log")
    else:
        bins = 40
    ax.hist(v, bins=bins, color="#d1495b", edgecolor="white", linewidth=0.4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("number")
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    out = _png(fig)
    plt.close(fig)
    return out


def _overlay(image: np.ndarray, density: np.ndarray) -> bytes:
    """The density over the image (inferno, normalised to its own peak), at most OVERLAY_WIDTH wide."""
    img = Image.fromarray(blend(image, density))
    if img.width > OVERLAY_WIDTH:
        img = img.resize((OVERLAY_WIDTH, round(img.height * OVERLAY_WIDTH / img.width)), Image.BILINEAR)
    return encode(img, "PNG", optimize=True)


def build_report(store_path: str | Path) -> dict:
    """Everything the page shows, as plain data (also written as ``report.json``)."""
    attrs, reports = inspect_store(store_path)  # one pass over the records: their maps are not read again
    rng = np.random.default_rng(0)
    counts, sigmas, rows, kinds = [], [], [], {}
    for rep in reports:
        counts.append(rep.count)
        sig = np.asarray(rep.sigma, np.float64)
        sigmas.append(sig[np.isfinite(sig)])  # a NaN sigma is listed as its image's problem, not plotted
        problems = list(rep.problems)
        merged = rep.count - rep.heads
        if merged > 0:
            problems.append(f"{merged} duplicate point(s) merged")
        if len(sig) and (huge := int((sig > HUGE_SIGMA_FRACTION * max(rep.height, rep.width)).sum())):
            problems.append(f"{huge} head(s) with sigma > {HUGE_SIGMA_FRACTION:g} x image side")
        for p in problems:
            kind = _kind(p)
            kinds[kind] = kinds.get(kind, 0) + 1
        if problems:
            total = rep.density_sum if np.isfinite(rep.density_sum) else None  # JSON has no NaN: null
            rows.append({"image_id": rep.image_id, "count": rep.count, "sum": total, "problems": problems})
    all_sigma = np.concatenate(sigmas) if sigmas else np.zeros(0)
    if len(all_sigma) > MAX_SIGMAS:
        all_sigma = rng.choice(all_sigma, MAX_SIGMAS, replace=False)
    order = np.argsort(np.array(counts), kind="stable")
    ids = [r.image_id for r in reports]
    examples = {}
    if len(ids):
        examples = dict(zip(EXAMPLE_ROLES, (ids[order[-1]], ids[order[len(order) // 2]], ids[order[0]]), strict=True))
    c = np.array(counts, dtype=np.float64)
    return {
        "store": str(store_path),
        "attrs": {k: attrs[k] for k in ("dataset", "split", "params", "created_by") if k in attrs},
        "images": len(reports),
        "heads": int(c.sum()),
        "count": {
            "mean": float(c.mean()) if len(c) else 0.0,
            "median": float(np.median(c)) if len(c) else 0.0,
            "min": int(c.min()) if len(c) else 0,
            "max": int(c.max()) if len(c) else 0,
        },
        "sigma": {
            "median": float(np.median(all_sigma)) if len(all_sigma) else None,
            "p1": float(np.percentile(all_sigma, 1)) if len(all_sigma) else None,
            "p99": float(np.percentile(all_sigma, 99)) if len(all_sigma) else None,
        },
        "problem_kinds": kinds,
        "problems": rows,
        "examples": examples,
        "_counts": c,
        "_sigma": all_sigma,
    }


KINDS = (  # (words in an `inspect` problem line, the kind it is totalled under)
    ("merged", "duplicate points merged"),
    ("outside the image", "points outside the image"),
    ("no heads", "empty images"),
    ("mass lost", "map sum departs from the count (mass lost at the border)"),
    ("heads", "map sum departs from the count"),
    ("sigma <", f"tiny sigmas (< {MIN_SIGMA} px: near-duplicate points?)"),
    ("sigma >", f"huge sigmas (> {HUGE_SIGMA_FRACTION:g} x image side)"),
)


def _kind(problem: str) -> str:
    """The kind a problem line is totalled under."""
    return next((kind for words, kind in KINDS if words in problem), problem)


def write_report(store_path: str | Path, out_dir: str | Path) -> Path:
    """Write ``index.html``, its PNGs, ``report.json`` and the CSVs for ``dvc plots`` to `out_dir`."""
    out_dir = Path(out_dir)
    inputs = [store_path]
    owned = {
        "index.html": (_is_report, "a headcount report"),
        "report.json": (json_object_with("attrs", "images"), "a headcount report.json"),
        "counts.csv": (csv_with_header("image", "count"), "a headcount counts.csv"),
        "sigma.csv": (csv_with_header("sigma", "heads"), "a headcount sigma.csv"),
        **{f"{name}.png": (is_png, "a PNG image") for name in ("counts", "sigma", *EXAMPLE_ROLES)},
    }
    for name, (is_ours, what) in owned.items():  # every file it writes, before it writes one
        claim(out_dir / name, is_ours, what, inputs)
    r = build_report(store_path)
    store = read_split(store_path)
    label = f"{r['attrs'].get('dataset', '')} / {r['attrs'].get('split', '')}"
    files = {
        "counts.png": _histogram(r["_counts"], "heads per image", f"Count histogram ({label})"),
        "sigma.png": _histogram(r["_sigma"], "kernel sigma (px, log scale)", f"Sigma distribution ({label})", True),
    }
    for role, image_id in r["examples"].items():
        rec = store[image_id]
        files[f"{role}.png"] = _overlay(store.image(image_id), rec.density)
    for name, data in files.items():
        write_bytes(out_dir / name, data)
    _write_csv(out_dir / "counts.csv", ["image", "count"], enumerate(r["_counts"].astype(int).tolist()))
    hist, edges = np.histogram(r["_sigma"], bins=40) if len(r["_sigma"]) else (np.zeros(0), np.zeros(1))
    sigma_rows = zip(np.round(edges[:-1], 3).tolist(), hist.tolist(), strict=True)
    _write_csv(out_dir / "sigma.csv", ["sigma", "heads"], sigma_rows)
    public = {k: v for k, v in r.items() if not k.startswith("_")}
    write_bytes(out_dir / "report.json", (strictjson.dumps(public, indent=2) + "\n").encode())
    write_bytes(out_dir / "index.html", _html(public, sorted(files)).encode())
    return out_dir / "index.html"


def _write_csv(path: Path, header: list[str], rows) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    write_bytes(path, buf.getvalue().encode())


CSS = " ".join(
    [
        "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1080px;color:#222;padding:0 1rem}",
        "h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}",
        ".sub{color:#666;margin-top:0} .cards{display:flex;gap:.8rem;flex-wrap:wrap}",
        ".card{background:#f6f6f8;border-radius:8px;padding:.6rem 1rem;min-width:8rem}",
        ".card b{display:block;font-size:1.35rem} .card span{color:#666;font-size:.85rem}",
        "table{border-collapse:collapse;width:100%;font-size:.9rem}",
        "td,th{padding:.3rem .5rem;border-bottom:1px solid #eee;text-align:left}",
        "th{background:#fafafa} .ok{color:#2a7d2a} .charts,.examples{display:flex;gap:1rem;flex-wrap:wrap}",
        ".examples figure{margin:0;flex:1 1 300px} .examples img{width:100%;border-radius:6px}",
        ".charts img{width:calc(50% - .5rem);min-width:320px}",
        "figcaption{color:#555;font-size:.9rem} code{background:#f3f3f3;padding:0 .25rem;border-radius:3px}",
    ]
)


def _html(r: dict, pngs: list[str]) -> str:
    e = html.escape
    params = json.loads(r["attrs"].get("params", "{}") or "{}")
    cards = [
        ("images", f"{r['images']:,}"),
        ("heads", f"{r['heads']:,}"),
        ("mean count", f"{r['count']['mean']:.1f}"),
        ("count range", f"{r['count']['min']}–{r['count']['max']}"),
        ("median sigma", f"{r['sigma']['median']:.2f} px" if r["sigma"]["median"] is not None else "–"),
    ]
    kinds = "".join(f"<tr><td>{e(k)}</td><td>{n}</td></tr>" for k, n in sorted(r["problem_kinds"].items()))
    rows = "".join(
        f"<tr><td>{e(p['image_id'])}</td><td>{p['count']}</td>"
        f"<td>{'not finite' if p['sum'] is None else format(p['sum'], '.2f')}</td>"
        f"<td>{e('; '.join(p['problems']))}</td></tr>"
        for p in r["problems"][:500]
    )
    more = f"<p>… and {len(r['problems']) - 500} more in report.json</p>" if len(r["problems"]) > 500 else ""
    examples = "".join(
        f'<figure><img src="{role}.png" alt="density over the {role} image"><figcaption>{role}: '
        f"{e(image_id)}</figcaption></figure>"
        for role, image_id in r["examples"].items()
        if f"{role}.png" in pngs
    )
    problems = (
        f"<table><tr><th>problem</th><th>images</th></tr>{kinds}</table>"
        f"<h3>Images with problems</h3><table><tr><th>image</th><th>count</th><th>map sum</th><th>problems</th></tr>"
        f"{rows}</table>{more}"
        if r["problems"]
        else '<p class="ok">No problems found: no empty images, no points outside, no merged duplicates, '
        "no sums off the count, no tiny or huge kernels.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">{GENERATOR}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(r["attrs"].get("dataset", ""))} {e(r["attrs"].get("split", ""))} – headcount dataset report</title>
<style>{CSS}</style></head><body>
<h1>{e(r["attrs"].get("dataset", ""))} · {e(r["attrs"].get("split", ""))}</h1>
<p class="sub">{e(r["store"])} · {e(r["attrs"].get("created_by", ""))} · kernel
<code>{e(" ".join(f"{k}={v}" for k, v in sorted(params.items())))}</code></p>
<div class="cards">{"".join(f"<div class=card><b>{v}</b><span>{k}</span></div>" for k, v in cards)}</div>
<h2>Counts and kernels</h2>
<div class="charts"><img src="counts.png" alt="histogram of heads per image">
<img src="sigma.png" alt="distribution of kernel sigmas"></div>
<h2>Density maps</h2><div class="examples">{examples}</div>
<h2>Problems</h2>{problems}
</body></html>
"""
