"""How long `headcount score` takes on an NWPU-sized validation set: 500 images, the largest 12,000 heads.

Writes an NWPU localization ground-truth file and a prediction file (80% of the
heads found within a few pixels, plus false positives) into a temporary folder,
then times the command end to end, parsing included. One run:

    .venv/bin/python benchmarks/score_nwpu.py [--images 500 --largest 12000 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_files(folder: Path, images: int, largest: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    counts = np.minimum(rng.lognormal(6.5, 1.0, images).astype(int), largest)
    counts[0] = largest
    gt, pred = [], []
    for i, n in enumerate(counts):
        side = int(np.sqrt(n) * 40) + 200  # about NWPU's spacing of heads
        pts = rng.integers(0, side, (n, 2))
        s = rng.integers(2, 30, n)
        gt.append(
            " ".join(map(str, [3110 + i, n, *np.column_stack([pts, s, s + s // 2, rng.integers(0, 6, n)]).ravel()]))
        )
        found = pts[rng.random(n) < 0.8]
        p = np.vstack([found + rng.integers(-6, 7, found.shape), rng.integers(0, side, (n // 10, 2))])
        pred.append(" ".join(map(str, [3110 + i, len(p), *p.ravel()])))
    (folder / "gt.txt").write_text("".join(f"{line}\r\n" for line in gt))
    (folder / "pred.txt").write_text("".join(f"{line}\n" for line in pred))
    return int(counts.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--largest", type=int, default=12000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        heads = write_files(folder, args.images, args.largest, args.seed)
        t0 = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline",
                "score",
                str(folder / "pred.txt"),
                "--gt",
                str(folder / "gt.txt"),
                "--json",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - t0
    r = json.loads(out.stdout)
    print(
        json.dumps(
            {
                "images": args.images,
                "heads": heads,
                "largest": args.largest,
                "seconds": round(seconds, 2),
                "f1_sigma_l": r["localization"]["sigma_l"]["f1"],
            }
        )
    )


if __name__ == "__main__":
    main()
