"""The shipped model's figures for its card (pipeline/weights/README.md): each dataset's validation share.

For every store the recipe trained on (``WORK/density/<name>/train.h5``), the images that training held
out (the checkpoint's train.val_fraction and train.seed, as `pipeline.train` splits each store) are
evaluated as `headcount evaluate` does: MAE against the mean-count baseline of the store's other images,
and one-to-one localization at 4 and 8 px. Then the validation MAE of every epoch (what more training
buys). One run:

    .venv/bin/python benchmarks/photo_model.py [--checkpoint pipeline/weights/photo.pt] [--work build/photo] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pipeline.checkpoint import load_checkpoint
from pipeline.evaluate import evaluate
from pipeline.store import read_split
from pipeline.train import split_ids


def validation_figures(checkpoint: Path, stores: list[Path]) -> list[dict]:
    cfg = load_checkpoint(checkpoint)["train_config"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for store in stores:
            _, val = split_ids(list(read_split(store)), cfg["val_fraction"], cfg["seed"])
            t0 = time.perf_counter()
            m = evaluate(
                checkpoint,
                store,
                store,
                metrics_out=Path(tmp) / "m.json",
                predictions_out=Path(tmp) / "p.csv",
                ids=val,
                progress=False,
            )
            loc = m["localization"]
            rows.append(
                {
                    "dataset": store.parent.name,
                    "images": m["n_images"],
                    "mae": m["mae"],
                    "baseline_mae": m["baseline_mae"],
                    "f1_4px": loc["r4"]["f1"],
                    "f1_8px": loc["r8"]["f1"],
                    "precision_8px": loc["r8"]["precision"],
                    "recall_8px": loc["r8"]["recall"],
                    "seconds": time.perf_counter() - t0,
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("pipeline/weights/photo.pt"))
    ap.add_argument("--work", type=Path, default=Path("build/photo"), help="the recipe's --work folder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    stores = sorted((args.work / "density").glob("*/train.h5"))
    rows = validation_figures(args.checkpoint, stores)
    last = args.work / "models" / "last.pt"  # the whole run's history; the shipped best.pt stops at its epoch
    history = load_checkpoint(last if last.is_file() else args.checkpoint)["history"]
    if args.json:
        print(json.dumps({"validation": rows, "history": history}, indent=2))
        return
    print("| dataset | val images | MAE | mean-count MAE | F1 @4 px | F1 @8 px | precision @8 | recall @8 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['images']} | {r['mae']:.1f} | {r['baseline_mae']:.1f} | {r['f1_4px']:.3f} "
            f"| {r['f1_8px']:.3f} | {r['precision_8px']:.3f} | {r['recall_8px']:.3f} |"
        )
    print("\nepoch  val MAE by store (" + ", ".join(s.parent.name for s in stores) + ")")
    for h in history:
        print(f"{h['epoch']:5d}  " + "  ".join(f"{v:8.1f}" for v in h.get("val_mae_by_store", [h["val_mae"]])))


if __name__ == "__main__":
    main()
