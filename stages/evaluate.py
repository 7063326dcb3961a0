"""DVC stage: evaluate models/best.pt on the test split (params: train.dataset, evaluate.*)."""

from pipeline.evaluate import evaluate
from pipeline.params import load_params, train_store

params = load_params()
evaluate(
    "models/best.pt",
    train_store(params, params["evaluate"]["split"]),
    train_store(params, "train"),
    metrics_out="metrics.json",
    predictions_out="eval/predictions.csv",
)
