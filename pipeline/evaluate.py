"""Evaluating a checkpoint on a density store: metrics.json, per-image CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pipeline import strictjson
from pipeline.atomic import write_bytes
from pipeline.checkpoint import trained_output
from pipeline.decoder import decode
from pipeline.device import Precision
from pipeline.errors import DataError
from pipeline.metrics import game_error, mae, rmse
from pipeline.numerics import Numerics, configure, numerics_in_force
from pipeline.runner import Runner
from pipeline.score import nwpu_submissions, record_truth, score
from pipeline.store import read_split
from pipeline.targets import head_count_map

GAME_LEVELS = (0, 1, 2, 3)
LOCALIZATION_RADII = (4.0, 8.0)  # px: the fixed radii localization papers report (FIDTM and after)


def evaluate(
    checkpoint: str | Path,
    test_store: str | Path,
    train_store: str | Path,
    *,
    metrics_out: str | Path,
    predictions_out: str | Path,
    nwpu_out: str | Path | None = None,
    numerics: Numerics = "reproducible",
    threads: int | None = None,
    device: torch.device = torch.device("cpu"),
    precision: Precision = "fp32",
    batch: int = 8,
    progress: bool | None = None,
    ids: list[str] | None = None,
) -> dict:
    """Predict every test image (or those of `ids`) and write the metrics and per-image predictions.

    Predicted count and points by what the checkpoint learnt (`pipeline.decoder.decode`):
    a density model counts the output's sum, a FIDT model its decoded heads (its
    GAME counts those heads per region); true count = annotated in-image heads.
    With `nwpu_out`, NWPU-Crowd's two submission files go there too
    (``nwpu_count.txt``: ``id count``; ``nwpu_loc.txt``: ``id num x y ...``).
    `baseline_mae` is the error of always predicting the mean training count (with `ids` of
    `train_store` itself, a validation share: the mean over its other images).
    `numerics` as in training (`pipeline.numerics`): "reproducible" runs the eager
    model without oneDNN, so the metrics are the same bits on any CPU. Images of
    one size go `batch` at a time, as validation runs them; the bits are those of
    one image at a time (`pipeline.runner`).
    """
    configure(numerics, threads, device.type)
    exact = numerics == "reproducible"
    runner = Runner.from_checkpoint(checkpoint, device, precision, optimize=not exact, exact=exact, batch=batch)
    target, stride, relative = trained_output(checkpoint)
    test = read_split(test_store)
    chosen = set(test if ids is None else ids)
    if unknown := sorted(chosen - set(test)):
        raise DataError(test_store, f"no image {unknown[0]} (and {len(unknown) - 1} more)")
    train = read_split(train_store)
    held_out = ids is not None and Path(train_store).resolve() == Path(test_store).resolve()
    others = [i for i in train if not (held_out and i in chosen)]
    train_counts = np.array([train[i].count for i in others], dtype=np.float64)
    rows, games = [], {lv: [] for lv in GAME_LEVELS}
    truth, points = {}, {}
    ids = tqdm([i for i in test if i in chosen], desc="evaluate", disable=None if progress is None else not progress)
    for image_id, output in runner.densities((i, test.image(i)) for i in ids):
        rec = test[image_id]
        heads = decode(output, target, stride, relative)
        count, points[image_id] = heads.count, heads.points
        rows.append((image_id, rec.count, count))
        truth[image_id] = record_truth(rec)
        counted = output if target == "density" else head_count_map(points[image_id], (rec.height, rec.width))
        for lv in GAME_LEVELS:
            games[lv].append(game_error(counted, rec.points, (rec.height, rec.width), lv))
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
    predicted = {r[0]: r[2] for r in rows}
    scored = score(truth, points, predicted, predictions_out, radii=LOCALIZATION_RADII)
    metrics.update(nae=scored["nae"], bins=scored["bins"], localization=scored["localization"])
    metrics["target"] = target
    metrics["numerics"] = numerics_in_force(numerics, device.type)
    write_bytes(metrics_out, (strictjson.dumps(metrics, indent=2) + "\n").encode())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image_id", "true_count", "predicted_count", "abs_error"])
    writer.writerows((i, t, f"{p:.4f}", f"{abs(p - t):.4f}") for i, t, p in rows)
    write_bytes(predictions_out, buf.getvalue().encode())
    if nwpu_out is not None:
        count_text, loc_text = nwpu_submissions(predicted, points, test.path)
        Path(nwpu_out).mkdir(parents=True, exist_ok=True)
        write_bytes(Path(nwpu_out) / "nwpu_count.txt", count_text.encode())
        write_bytes(Path(nwpu_out) / "nwpu_loc.txt", loc_text.encode())
    return metrics
