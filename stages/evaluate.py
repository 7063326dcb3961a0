"""DVC stage: evaluate models/best.pt on the test split.

Params: train.dataset, train.numerics, train.precision, evaluate.*; run.* says how, never what.
"""

from pipeline.config.evaluate import evaluate_config
from pipeline.device import resolve_device
from pipeline.errors import run_stage
from pipeline.evaluate import evaluate
from pipeline.params import load_params, run_config, train_store


def main() -> None:
    params = load_params()
    cfg, run = evaluate_config(params), run_config(params)
    evaluate(
        "models/best.pt",
        train_store(params, cfg.split),
        train_store(params, "train"),
        metrics_out="metrics.json",
        predictions_out="eval/predictions.csv",
        nwpu_out="eval",
        numerics=cfg.numerics,
        threads=run.threads,
        device=resolve_device(run.device),
        precision=cfg.precision,
        batch=run.eval_batch,
    )


run_stage(main)
