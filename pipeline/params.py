"""Reading ``params.yaml`` into the library's config objects, with clear errors."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from pipeline.density import DensityParams
from pipeline.errors import DataError
from pipeline.model import ModelConfig
from pipeline.synth import SynthConfig
from pipeline.train import TrainConfig


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The whole params file as a dict."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(path, f"cannot read parameters ({exc})") from None
    if not isinstance(doc, dict):
        raise DataError(path, "expected a mapping of sections")
    return doc


def section(params: dict[str, Any], name: str, cls: type, skip: tuple[str, ...] = ()) -> Any:
    """Build dataclass `cls` from ``params[name]``; unknown keys are an error, not ignored.

    `skip` names keys of the section that other code reads (paths, dataset names).
    """
    raw = {k: v for k, v in (params.get(name) or {}).items() if k not in skip}
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise DataError(
            "params.yaml", f"unknown key(s) in '{name}': {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    return cls(**raw)


def density_params(params: dict[str, Any]) -> DensityParams:
    return section(params, "density", DensityParams)


def synth_config(params: dict[str, Any]) -> SynthConfig:
    return section(params, "synth", SynthConfig, skip=("root",))


def model_config(params: dict[str, Any]) -> ModelConfig:
    return section(params, "model", ModelConfig)


def train_config(params: dict[str, Any]) -> TrainConfig:
    return section(params, "train", TrainConfig, skip=("dataset",))


def train_store(params: dict[str, Any], split: str) -> Path:
    """The density store a split of the training dataset lives in."""
    return Path("data/density") / params["train"]["dataset"] / f"{split}.h5"
