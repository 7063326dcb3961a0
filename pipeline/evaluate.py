"""Evaluating a checkpoint on a density store: metrics.json, per-image CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pipeline.atomic import write_bytes
from pipeline.device import Precision
from pipeline.metrics import game_error, mae, rmse
from pipeline.numerics import Numerics, configure, exact_sum, numerics_in_force
from pipeline.peaks import density_peaks
from pipeline.predict import load_model, predict_density
from pipeline.score import record_truth, score
from pipeline.store import read_split

GAME_LEVELS = (0, 1, 2, 3)
LOCALIZATION_RADII = (4.0, 8.0)  # px: the fixed radii localization papers report (FIDTM and after)


def evaluate(
    checkpoint: str | Path,
    test_store: str | Path,
    train_store: str | Path,
    *,
    metrics_out: str | Path,
    predictions_out: str | Path,
    numerics: Numerics = "reproducible",
    threads: int | None = None,
    device: torch.device = torch.device("cpu"),
    precision: Precision = "fp32",
    progress: bool | None = None,
) -> dict:
    """Predict every test image and write the metrics and per-image predictions.

    Predicted count = sum of the output; true count = annotated in-image heads.
    `baseline_mae` is the error of always predicting the mean training count.
    `numerics` as in training (`pipeline.numerics`): "reproducible" runs the eager
    model without oneDNN, so the metrics are the same bits on any CPU.
    """
    configure(numerics, threads, device.type)
    model = load_model(checkpoint, optimize=numerics == "fast", device=device)
    test = read_split(test_store)
    train_counts = np.array([rec.count for rec in read_split(train_store).values()], dtype=np.float64)
    rows, games = [], {lv: [] for lv in GAME_LEVELS}
    truth, points = {}, {}
    for image_id in tqdm(list(test), desc="evaluate", disable=None if progress is None else not progress):
        rec = test[image_id]
        density = predict_density(model, test.image(image_id), device, precision)
        rows.append((image_id, rec.count, exact_sum(density)))
        truth[image_id] = record_truth(rec)
        points[image_id] = density_peaks(density)
        for lv in GAME_LEVELS:
            games[lv].append(game_error(density, rec.points, (rec.height, rec.width), lv))
    true = np.array([r[1] for r in rows], dtype=np.float64)
    pred = np.array([r[2] for r in rows])
    metrics = {
        "mae": mae(pred, true),
        "rmse": rmse(pred, true),
        **{f"game_{lv}": float(np.mean(games[lv])) for lv in GAME_LEVELS},
        "n_images": len(rows),
        "baseline_mae": mae(np.full_like(true, train_counts.mean()), true),
    }
    # NAE, per-bin errors and localization at 4 and 8 px, as `headcount score` gives them (pipeline/score.py)
    scored = score(truth, points, {r[0]: r[2] for r in rows}, predictions_out, radii=LOCALIZATION_RADII)
    metrics.update(nae=scored["nae"], bins=scored["bins"], localization=scored["localization"])
    metrics["numerics"] = numerics_in_force(numerics, device.type)
    write_bytes(metrics_out, (json.dumps(metrics, indent=2) + "\n").encode())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image_id", "true_count", "predicted_count", "abs_error"])
    writer.writerows((i, t, f"{p:.4f}", f"{abs(p - t):.4f}") for i, t, p in rows)
    write_bytes(predictions_out, buf.getvalue().encode())
    return metrics
