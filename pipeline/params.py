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


def section(params: dict[str, Any], name: str, cls: type) -> Any:
    """Build dataclass `cls` from ``params[name]``; unknown keys are an error, not ignored."""
    raw = dict(params.get(name) or {})
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
    raw = dict(params.get("synth") or {})
    raw.pop("root", None)
    return section({"synth": raw}, "synth", SynthConfig)


def model_config(params: dict[str, Any]) -> ModelConfig:
    return section(params, "model", ModelConfig)


def train_config(params: dict[str, Any]) -> TrainConfig:
    raw = dict(params.get("train") or {})
    raw.pop("dataset", None)
    return section({"train": raw}, "train", TrainConfig)


def train_store(params: dict[str, Any], split: str) -> Path:
    """The density store a split of the training dataset lives in."""
    return Path("data/density") / params["train"]["dataset"] / f"{split}.h5"
