"""The ``evaluate:`` section, with the two ``train:`` keys evaluation shares with training."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.errors import ConfigError
from pipeline.numerics import Numerics, Precision
from pipeline.params import section


@dataclass(frozen=True)
class EvaluateConfig:
    """What evaluation computes: the ``evaluate:`` section plus the two ``train:`` keys it shares with training."""

    split: str = "test"
    numerics: Numerics = "reproducible"
    precision: Precision = "fp32"


def evaluate_config(params: dict) -> EvaluateConfig:
    """``evaluate.*`` with ``train.numerics`` and ``train.precision``, checked like every section.

    Read here, not through `pipeline.train`, so that the evaluate stage does not
    depend on the training code (dvc.yaml lists exactly what a stage imports).
    """
    train = params.get("train") if isinstance(params.get("train"), dict) else {}
    shared = {k: train[k] for k in ("numerics", "precision") if k in train}
    own = params.get("evaluate")
    for key in ("numerics", "precision"):
        if isinstance(own, dict) and key in own:
            raise ConfigError("params.yaml", f"evaluate.{key}: set train.{key} (evaluation computes as training did)")
    own = section(params, "evaluate", EvaluateConfig, only=("split",))
    arithmetic = section({"train": shared}, "train", EvaluateConfig, only=("numerics", "precision"))
    return replace(arithmetic, split=own.split)
