"""The model that ships with headcount (``pipeline/weights/photo.pt``, card in ``pipeline/weights/README.md``).

Why: proposals and counting on a real photo need a model that has seen real
photos, and a user without their own data has none; `annotate` and `count` use
this one unless told otherwise. `make weights` rebuilds it (`pipeline.presets.recipe`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pipeline.errors import ConfigError

SHIPPED_MODEL = Path(str(resources.files("pipeline") / "weights" / "photo.pt"))


def default_model(given: Path | None) -> Path:
    """`given`, else the shipped model; one `ConfigError` where neither is there."""
    if given is not None:
        return given
    if not SHIPPED_MODEL.is_file():
        raise ConfigError("--checkpoint", f"not given, and the shipped model {SHIPPED_MODEL} is not installed")
    return SHIPPED_MODEL
