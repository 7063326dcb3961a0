"""Where the model runs and in what precision: `run.device` and `train.precision` as torch objects.

A device spec is ``auto`` (the GPU when there is one), ``cpu``, ``cuda`` or
``cuda:N``. It is a run setting, not a hashed one: a GPU computes the same
model in other arithmetic, so only the CPU reproduces the committed metrics bit
for bit (see `pipeline.numerics`). ``bf16`` runs the forward pass under
autocast (convolutions in bfloat16, the loss and the optimiser in float32);
it runs on a CPU too, which is how its code path is tested without a GPU.
"""

from __future__ import annotations

import contextlib
import os

import torch

from pipeline.errors import ConfigError
from pipeline.numerics import PRECISIONS, Precision  # declared there, light, for the config modules
from pipeline.params import check_device_spec

WHERE = "device (run.device or --device)"


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device for `spec`; under torchrun, ``auto`` and ``cuda`` mean this process's GPU.

    A GPU that is not there is a `ConfigError`, never a silent fall-back to the CPU.
    """
    check_device_spec(spec)
    if spec == "cpu" or (spec == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(WHERE, f"{spec!r} asked for, but torch sees no CUDA GPU (use cpu or auto)")
    if spec in ("auto", "cuda"):
        index = int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count()
    else:
        index = int(spec.split(":")[1])
        if index >= torch.cuda.device_count():
            raise ConfigError(WHERE, f"{spec!r} asked for, but torch sees {torch.cuda.device_count()} GPU(s)")
    return torch.device("cuda", index)


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """The forward pass's precision: bfloat16 autocast for ``bf16``, nothing at all for ``fp32``."""
    if precision not in PRECISIONS:
        raise ConfigError("precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer measures it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
