"""CSRNet from scratch on ShanghaiTech Part B on a GPU, for a fixed time (issue 23): run from the repository root,

    .venv/bin/python benchmarks/gpu_shb.py [--preset csrnet-shb-gpu] [--minutes 8] [--data ../shared/datasets/...]

It applies the preset to a copy of params.yaml in a temporary folder (the project's params.yaml is not
touched), makes the density stores of both splits, trains with `headcount train` until the time is up
(SIGTERM: the run stops cleanly, last.pt and best.pt are whole), evaluates best.pt on the test split and
prints one JSON line: MAE, RMSE, the mean-count baseline, epochs run, training images per second.
No pretrained weights: a from-scratch figure, not the paper's 10.6 (ImageNet-pretrained VGG-16).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="csrnet-shb-gpu")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "ShanghaiTech" / "part_B"))
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    from pipeline.build import build_split
    from pipeline.checkpoint import load_checkpoint
    from pipeline.device import resolve_device
    from pipeline.evaluate import evaluate
    from pipeline.kernels import DensityParams
    from pipeline.params import load_params, section
    from pipeline.presets import apply_preset

    with tempfile.TemporaryDirectory(prefix="headcount-gpu-") as tmp:
        tmp = Path(tmp)
        params_file = tmp / "params.yaml"
        params_file.write_text((ROOT / "params.yaml").read_text())
        apply_preset(args.preset, params_file)
        params = load_params(params_file)
        kernel = replace(section(params, "density", DensityParams), encoding="heads")  # small stores, same maps
        t = time.perf_counter()
        stores = {}
        for split in ("train", "test"):
            stores[split] = tmp / f"{split}.h5"
            build_split("shanghaitech", args.data, split, stores[split], params=kernel, workers=os.cpu_count() or 1)
        density_s = time.perf_counter() - t
        cmd = [sys.executable, "-m", "pipeline", "train", "--params", str(params_file), "--store", str(stores["train"])]
        cmd += ["--out", str(tmp / "models"), "--dvclive", str(tmp / "dvclive"), "--device", args.device]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd)
        try:
            proc.wait(timeout=args.minutes * 60)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM: training unwinds; last.pt and best.pt are written atomically
            proc.wait(timeout=120)
        train_s = time.perf_counter() - t
        last = load_checkpoint(tmp / "models" / "last.pt")
        epochs = len(last["history"])
        n_train = round(len(list((Path(args.data) / "train_data" / "images").glob("*.jpg"))) * 0.9)
        m = evaluate(
            tmp / "models" / "best.pt",
            stores["test"],
            stores["train"],
            metrics_out=tmp / "metrics.json",
            predictions_out=tmp / "predictions.csv",
            numerics=params["train"].get("numerics", "fast"),
            device=resolve_device(args.device),
        )
    print(
        json.dumps(
            {
                "preset": args.preset,
                "device": str(resolve_device(args.device)),
                "density_s": round(density_s, 1),
                "train_s": round(train_s, 1),
                "epochs": epochs,
                "train_img_per_s": round(epochs * n_train / train_s, 1) if epochs else None,
                "mae": m["mae"],
                "rmse": m["rmse"],
                "baseline_mae": m["baseline_mae"],
                "paper": {"mae": 10.6, "mse": 16.0, "note": "ImageNet-pretrained VGG-16; this run is from scratch"},
            }
        )
    )


if __name__ == "__main__":
    main()
