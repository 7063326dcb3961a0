"""DVC stage: evaluate models/best.pt on the test split (params: train.dataset, train.numerics, evaluate.*)."""

from pipeline.evaluate import evaluate
from pipeline.params import load_params, run_config, train_store
from pipeline.train import train_config

params = load_params()
evaluate(
    "models/best.pt",
    train_store(params, params["evaluate"]["split"]),
    train_store(params, "train"),
    metrics_out="metrics.json",
    predictions_out="eval/predictions.csv",
    numerics=train_config(params).numerics,
    threads=run_config(params).threads,
)
