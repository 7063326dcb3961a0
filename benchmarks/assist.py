"""What a model's proposals save an annotator on real images: actions a true head (`annotate.assist`).

Runs the checkpoint on each image of a density store (the validation images that training held out, by
default), decodes its proposals as the annotation tool does, and simulates an annotator who sets the
threshold, accepts, then drags, deletes and clicks until the image matches its ground truth within 4 px.
Clicking every head is 1.0 action a head. One run:

    .venv/bin/python benchmarks/assist.py STORE --checkpoint CKPT [--val-fraction 0.1 --seed 0]
        [--densest 10] [--crop 256] [--json]

`--val-fraction` and `--seed` pick the images `train` held out of that store (train.val_fraction and
train.seed); `--densest N` keeps the N with the most heads; `--crop S` takes the S x S window around each
image's centre (quick runs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from annotate.assist import simulate
from annotate.proposals import model_proposals
from pipeline.infer.counter import load_counter
from pipeline.store import read_split
from pipeline.train import split_ids


def centre_crop(image: np.ndarray, points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    ch, cw = min(size, h), min(size, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    pts = points - [x0, y0]
    keep = (pts[:, 0] >= 0) & (pts[:, 0] < cw) & (pts[:, 1] >= 0) & (pts[:, 1] < ch)
    return np.ascontiguousarray(image[y0 : y0 + ch, x0 : x0 + cw]), pts[keep]


def run(
    store_path: str | Path,
    checkpoint: str | Path,
    val_fraction: float = 0.1,
    seed: int = 0,
    densest: int | None = None,
    crop: int | None = None,
) -> dict:
    """Per-image simulated actions and their totals (actions a head over all heads, model seconds)."""
    store = read_split(store_path)
    ids = list(store)
    if val_fraction > 0:
        ids = split_ids(ids, val_fraction, seed)[1]
    if densest:
        ids = sorted(ids, key=lambda i: -len(store[i].points))[:densest]
    counter = load_counter(checkpoint, "cpu")
    rows, total, model_s = [], 0, 0.0
    for image_id in ids:
        image, truth = store.image(image_id), np.asarray(store[image_id].points, np.float64).reshape(-1, 2)
        if crop:
            image, truth = centre_crop(image, truth, crop)
        t0 = time.perf_counter()
        output = counter(image[None])[0]
        model_s += time.perf_counter() - t0
        heads = model_proposals(output, image.shape[:2], counter.target, counter.stride, counter.relative)
        a = simulate(heads.points, heads.scores, truth)
        total += a.total
        rows.append(
            {"image": image_id, "heads": a.heads, "proposed": len(heads.points), "threshold": a.threshold}
            | {"accepted": a.accepted, "moves": a.moves, "deletes": a.deletes, "clicks": a.clicks}
            | {"actions_per_head": a.per_head}
        )
    heads = sum(r["heads"] for r in rows)
    return {
        "images": len(rows),
        "heads": heads,
        "actions_per_head": total / heads if heads else None,
        "model_seconds": model_s,
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--densest", type=int, default=None)
    ap.add_argument("--crop", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = run(args.store, args.checkpoint, args.val_fraction, args.seed, args.densest, args.crop)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{'image':>12} {'heads':>6} {'proposed':>8} {'moves':>6} {'deletes':>7} {'clicks':>6} {'a/head':>7}")
    for r in out["rows"]:
        print(
            f"{r['image']:>12} {r['heads']:>6} {r['proposed']:>8} {r['moves']:>6} {r['deletes']:>7} "
            f"{r['clicks']:>6} {r['actions_per_head']:>7.3f}"
        )
    print(
        f"{out['images']} images, {out['heads']} heads: {out['actions_per_head']:.3f} actions a head "
        f"(1.0: every head by hand), model {out['model_seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
