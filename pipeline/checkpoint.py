"""Training checkpoints on disk: written atomically, read without running code from the file."""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline.atomic import atomic_path
from pipeline.errors import DataError
from pipeline.geometry import OUTPUT_STRIDES


def save_checkpoint(path: str | Path, **state) -> None:
    """Write `state` (tensors and plain values only) to `path` atomically."""
    with atomic_path(Path(path)) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint's contents on the CPU; ``weights_only=True``: tensors and plain values, never code.

    A pickle that would run code, a truncated file or a foreign one is a `DataError` naming the file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(path, "checkpoint not found") from None
    except Exception as exc:  # torch raises many types for foreign, truncated or malicious files
        raise DataError(path, f"not a headcount checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise DataError(path, "not a headcount checkpoint (no 'model' and 'model_config' entries)")
    return state


def _target(state: dict, path: str | Path) -> str:
    config = state.get("train_config")
    target = config.get("target", "density") if isinstance(config, dict) else "density"
    if target not in ("density", "fidt"):
        raise DataError(path, f"unknown train.target {target!r} in the checkpoint")
    return target


def _stride(state: dict, path: str | Path) -> int:
    config = state.get("model_config")
    stride = config.get("output_stride", 8) if isinstance(config, dict) else 8
    if stride not in OUTPUT_STRIDES:
        raise DataError(path, f"unknown model.output_stride {stride!r} in the checkpoint")
    return int(stride)


def _relative(state: dict, path: str | Path) -> float | None:
    value = state.get("lmds_relative")
    if value is not None and not (isinstance(value, float) and 0 < value <= 1):
        raise DataError(path, f"lmds_relative must be a number in (0, 1], got {value!r}")
    return value


def trained_target(path: str | Path) -> str:
    """What a checkpoint's model outputs: "density" or "fidt" (``train.target``; older checkpoints: density)."""
    return _target(load_checkpoint(path), path)


def trained_output(path: str | Path) -> tuple[str, int, float | None]:
    """(`trained_target`, output stride, LMDS share) of a checkpoint, read once: the stride is
    ``model.output_stride`` (older checkpoints: 8), the image pixels per cell of what the model outputs;
    the share is the least part of a FIDT map's maximum a peak needs, as tuned on the validation split
    and stored in a shipped checkpoint (``lmds_relative``, `pipeline.presets.recipe`), None: the decoder's
    own default."""
    state = load_checkpoint(path)
    return _target(state, path), _stride(state, path), _relative(state, path)
