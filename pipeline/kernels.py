"""The kernel parameters of a density map: which Gaussian each head gets, as a store records them.

Why a module of its own: the command line, presets and params checks need the parameters and their
choices without the kernels' numba and scipy (`pipeline.density` renders them).
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Literal

from pipeline.errors import ConfigError

Method = Literal["adaptive", "fixed", "box"]
Border = Literal["drop", "renormalize"]
Duplicates = Literal["merge", "keep"]
Encoding = Literal["map", "heads"]
METHODS: tuple[str, ...] = typing.get_args(Method)
BORDERS: tuple[str, ...] = typing.get_args(Border)
DUPLICATES: tuple[str, ...] = typing.get_args(Duplicates)
# a kernel wider than any image is a typo, and its weights would not fit in memory
MAX_SIGMA = 1000.0


@dataclass(frozen=True)
class DensityParams:
    """The kernel parameters of `density_map`, as recorded in the store."""

    method: Method = "adaptive"
    k: int = 3
    beta: float = 0.3
    sigma: float = 15.0
    border: Border = "drop"
    duplicates: Duplicates = "merge"
    box_scale: float = 0.3  # method box: sigma = box_scale x annotated head size
    max_side: int | None = None  # maps (and training images) of larger images are made at this long side
    encoding: Encoding = "map"  # how the store keeps maps: "heads" keeps kernels and renders on read

    def __post_init__(self) -> None:
        for key, choices in (("method", METHODS), ("border", BORDERS), ("duplicates", DUPLICATES)):
            if getattr(self, key) not in choices:
                raise ConfigError(key, f"must be one of {', '.join(choices)}, got {getattr(self, key)!r}")
        if self.k < 1:
            raise ConfigError("k", f"must be at least 1, got {self.k}")
        if self.max_side is not None and self.max_side < 8:
            raise ConfigError("max_side", f"must be at least 8 (or null), got {self.max_side}")
        for key in ("beta", "sigma", "box_scale"):
            value = getattr(self, key)
            if not (math.isfinite(value) and 0 < value <= MAX_SIGMA):
                raise ConfigError(key, f"must be a number in (0, {MAX_SIGMA:g}], got {value}")
