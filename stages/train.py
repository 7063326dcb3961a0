"""DVC stage: train CSRNet (params: model.*, train.*; run.* says how, never what)."""

from pipeline.model import ModelConfig
from pipeline.params import load_params, run_config, section, train_store
from pipeline.train import train, train_config

params = load_params()
train(
    train_store(params, "train"),
    "models",
    train_config(params),
    section(params, "model", ModelConfig),
    run=run_config(params),
    live_dir="dvclive",
)
