"""DVC stage: evaluate models/best.pt on the test split (params: train.dataset, train.numerics, evaluate.*)."""

from pipeline.evaluate import evaluate
from pipeline.params import load_params, run_config, section, train_store
from pipeline.train import TrainConfig

params = load_params()
evaluate(
    "models/best.pt",
    train_store(params, params["evaluate"]["split"]),
    train_store(params, "train"),
    metrics_out="metrics.json",
    predictions_out="eval/predictions.csv",
    numerics=section(params, "train", TrainConfig, skip=("dataset",)).numerics,
    threads=run_config(params).threads,
)
