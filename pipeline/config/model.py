"""The ``model:`` section: which CSRNet to build (`pipeline.model.build_model` builds it)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import ConfigError
from pipeline.geometry import OUTPUT_STRIDES


@dataclass(frozen=True)
class ModelConfig:
    width: float = 1.0
    batch_norm: bool = False
    pretrained: str | None = None  # local torchvision VGG-16 state dict; never downloaded
    output_stride: int = 8  # 8: CSRNet's own output; 4 or 2: a decoder that localizes dense crowds

    def __post_init__(self) -> None:
        if self.output_stride not in OUTPUT_STRIDES:
            allowed = ", ".join(map(str, OUTPUT_STRIDES))
            raise ConfigError("output_stride", f"must be one of {allowed}, got {self.output_stride!r}")
