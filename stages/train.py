"""DVC stage: train CSRNet (params: model.*, train.*)."""

from pipeline.params import load_params, model_config, train_config, train_store
from pipeline.train import train

params = load_params()
train(train_store(params, "train"), "models", train_config(params), model_config(params), live_dir="dvclive")
