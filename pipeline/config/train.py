"""The ``train:`` section: what training computes (how it runs is `pipeline.params.RunConfig`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pipeline.errors import ConfigError
from pipeline.geometry import STRIDE
from pipeline.numerics import Numerics, Precision
from pipeline.params import section


@dataclass(frozen=True)
class TrainConfig:
    """What training computes (the hashed ``train:`` section); how it runs is `RunConfig`."""

    epochs: int = 60
    batch_size: int = 4
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-4
    schedule: Literal["cosine", "constant"] = "cosine"  # cosine: to 0 over the epochs
    momentum: float = 0.95  # sgd only
    weight_decay: float = 5e-4
    crop_height: int = 128
    crop_width: int = 128
    flip: bool = True
    val_fraction: float = 0.15  # held out of the training split to pick best.pt
    seed: int = 0
    numerics: Numerics = "reproducible"  # see pipeline/numerics.py
    precision: Precision = "fp32"  # bf16: autocast forward (GPUs; runs on CPUs too)
    channels_last: bool = False  # NHWC activations: what tensor cores want
    compile: bool = False  # torch.compile the model (minutes to compile; pays off on long GPU runs)
    target: Literal["density", "fidt"] = "density"  # fidt: learn FIDT maps, which localize (pipeline/targets.py)

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "crop_height", "crop_width"):
            if getattr(self, key) < 1:
                raise ConfigError(key, f"must be at least 1, got {getattr(self, key)}")
        for key in ("crop_height", "crop_width"):
            if getattr(self, key) % STRIDE:
                raise ConfigError(key, f"must be a multiple of {STRIDE} (the model's stride), got {getattr(self, key)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError("lr", f"must be a finite number > 0, got {self.lr}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError("val_fraction", f"must be in [0, 1) (the share held out), got {self.val_fraction}")
        if not 0 <= self.momentum < 1:
            raise ConfigError("momentum", f"must be in [0, 1), got {self.momentum}")
        if self.target not in ("density", "fidt"):
            raise ConfigError("target", f"must be density or fidt, got {self.target!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError("weight_decay", f"must be a finite number >= 0, got {self.weight_decay}")


def check_crop(shape: tuple[int, int], where: str = "crop") -> None:
    """Refuse (`ConfigError` naming `where`) a crop that is not positive multiples of the stride."""
    if min(shape) <= 0 or shape[0] % STRIDE or shape[1] % STRIDE:
        h, w = shape
        raise ConfigError(where, f"must be positive multiples of {STRIDE} (the model's stride), got {w}x{h} (WxH)")


def train_config(params: dict) -> TrainConfig:
    """The ``train:`` section of params.yaml; ``dataset`` names the store, read by `params.train_store`."""
    return section(params, "train", TrainConfig, skip=("dataset",))
