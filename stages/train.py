"""DVC stage: train CSRNet (params: model.*, train.*; run.* says how, never what)."""

from pipeline.config.train import train_config
from pipeline.errors import run_stage
from pipeline.model import ModelConfig
from pipeline.params import load_params, run_config, section, train_store
from pipeline.train import train


def main() -> None:
    params = load_params()
    cfg, model = train_config(params), section(params, "model", ModelConfig)
    train(train_store(params, "train"), "models", cfg, model, run=run_config(params), live_dir="dvclive")


run_stage(main)
