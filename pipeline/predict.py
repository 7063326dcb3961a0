"""Running a trained CSRNet: counts, density maps and heatmap overlays."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from pipeline.checkpoint import load_checkpoint
from pipeline.data import to_model_input
from pipeline.device import Precision, autocast
from pipeline.errors import DataError
from pipeline.model import CSRNet, ModelConfig


def optimize_for_inference(model: CSRNet) -> torch.jit.ScriptModule:
    """Frozen TorchScript with oneDNN conv+ReLU fusion (BatchNorm folded in): ~20% faster on CPU, same output.

    TorchScript is deprecated in favour of torch.compile, but compiling costs
    tens of seconds per new image shape on a CPU, more than a `count` call takes;
    if scripting ever fails, the eager model is used.
    """
    model = model.eval()
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
    except Exception:  # noqa: BLE001 - any scripting failure falls back to eager
        return model


def load_model(
    checkpoint: str | Path, optimize: bool = True, device: torch.device = torch.device("cpu")
) -> CSRNet | torch.jit.ScriptModule:
    """The network stored in a training checkpoint, ready for inference on `device`.

    A checkpoint loads on any device, whichever it was trained on. On the CPU
    `optimize` freezes it (see `optimize_for_inference`); on a GPU it runs in
    channels_last, the layout cuDNN's fastest kernels use.
    """
    ck = load_checkpoint(checkpoint)
    try:
        cfg = ModelConfig(**{**ck["model_config"], "pretrained": None})
        model = CSRNet(cfg.width, cfg.batch_norm)
        model.load_state_dict(ck["model"])
    except (TypeError, KeyError, RuntimeError) as exc:  # a config or state dict that does not fit
        raise DataError(checkpoint, f"not a headcount checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None
    if device.type != "cpu":
        return model.to(device, memory_format=torch.channels_last).eval()
    return optimize_for_inference(model) if optimize else model.eval()


@torch.inference_mode()
def predict_density(
    model: CSRNet | torch.jit.ScriptModule,
    image: np.ndarray,
    device: torch.device = torch.device("cpu"),
    precision: Precision = "fp32",
) -> np.ndarray:
    """The model's density at 1/8 resolution for a uint8 (H, W, 3) image; its sum is the count."""
    x = to_model_input(torch.tensor(image)[None], device, device.type != "cpu")  # a copy: PIL arrays are read-only
    with autocast(device, precision):
        out = model(x)
    return out[0, 0].float().cpu().numpy()
