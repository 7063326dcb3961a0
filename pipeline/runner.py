"""The one way a network is run forward: validation, evaluation, `count` and annotation proposals.

`Runner` is the only place that decides the memory layout (channels_last on a
GPU), the arithmetic (bf16 autocast when asked) and the batching (consecutive
images of one size, as many as `batch`). On the CPU a batch of images gives
each image the same bits as running it alone: every output element of the
exact convolution is summed in one fixed order (`pipeline.conv`), so
evaluation can batch like validation without moving a metric.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from pipeline.checkpoint import load_checkpoint
from pipeline.device import Precision, autocast
from pipeline.errors import DataError
from pipeline.model import CSRNet, ModelConfig, to_model_input

T = TypeVar("T")
K = TypeVar("K")


def optimize_for_inference(model: CSRNet) -> torch.jit.ScriptModule | CSRNet:
    """Frozen TorchScript with oneDNN conv+ReLU fusion (BatchNorm folded in): faster on a CPU, same output.

    TorchScript is deprecated in favour of torch.compile, but compiling costs
    tens of seconds per new image shape on a CPU, more than a `count` call takes.
    If scripting fails the eager model runs, and a warning says so. A copy is
    scripted: `torch.jit.script` swaps a module's submodules for what their
    ``__prepare_scriptable__`` returns, which would take the exact convolution
    (`pipeline.conv.Conv2d`) out of the caller's model.
    """
    model = model.eval()
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(copy.deepcopy(model))))
    except (RuntimeError, torch.jit.Error) as exc:  # TorchScript's own failures, nothing else
        warnings.warn(f"TorchScript failed ({str(exc).splitlines()[0][:120]}); running the eager model", stacklevel=2)
        return model


def load_model(
    checkpoint: str | Path, optimize: bool = True, *, exact: bool = False
) -> CSRNet | torch.jit.ScriptModule:
    """The network stored in a training checkpoint, in eval mode on the CPU.

    A checkpoint loads whichever device it was trained on; `Runner` moves it.
    `optimize` freezes it (see `optimize_for_inference`); `exact` gives it the
    fixed-order convolutions (`CSRNet`), which only the eager model runs.
    """
    ck = load_checkpoint(checkpoint)
    try:
        cfg = ModelConfig(**{**ck["model_config"], "pretrained": None})
        model = CSRNet(cfg.width, cfg.batch_norm, cfg.output_stride, exact=exact)
        model.load_state_dict(ck["model"])
    except (TypeError, KeyError, RuntimeError) as exc:  # a config or state dict that does not fit
        raise DataError(checkpoint, f"not a headcount checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None
    return optimize_for_inference(model) if optimize else model.eval()


def same_shape_batches(items: Iterable[T], size: int, shape: Callable[[T], tuple]) -> Iterator[list[T]]:
    """Consecutive runs of `items` of one `shape`, at most `size` long: what one forward pass takes.

    Lazy: a run is yielded as soon as it is full or the shape changes, so a live
    stream waits for at most `size` frames.
    """
    group: list[T] = []
    for item in items:
        if group and shape(item) != shape(group[0]):
            yield group
            group = []
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


class Runner:
    """A network on a device: uint8 (B, H, W, 3) frames in, float32 (B, ceil(H/8), ceil(W/8)) densities out.

    `channels_last` defaults to the device's choice (a GPU's tensor cores want
    NHWC; on the CPU the exact convolution is NCHW). `batch` is how many frames
    of one size `densities` puts in one call: 8 on a GPU, 1 on a CPU unless asked.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device = torch.device("cpu"),
        precision: Precision = "fp32",
        *,
        channels_last: bool | None = None,
        batch: int | None = None,
    ) -> None:
        self.device, self.precision = device, precision
        self.channels_last = device.type != "cpu" if channels_last is None else channels_last
        self.batch = batch or (8 if device.type == "cuda" else 1)
        layout = torch.channels_last if self.channels_last else torch.preserve_format
        if isinstance(model, torch.jit.ScriptModule):
            self.model = model.to(device).eval()
        else:
            self.model = model.to(device, memory_format=layout).eval()

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, device: torch.device = torch.device("cpu"), precision: Precision = "fp32", **kw
    ) -> Runner:
        """A checkpoint's network: frozen TorchScript on the CPU (unless ``optimize=False``), eager on a GPU;
        ``exact=True``: eager with the fixed-order convolutions (`pipeline.conv`)."""
        exact = kw.pop("exact", False)
        optimize = kw.pop("optimize", True) and device.type == "cpu" and not exact
        return cls(load_model(checkpoint, optimize=optimize, exact=exact), device, precision, **kw)

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        x = frames if isinstance(frames, torch.Tensor) else _tensor(frames)
        with autocast(self.device, self.precision):
            out = self.model(to_model_input(x, self.device, self.channels_last))
        return out[:, 0].float().cpu().numpy()

    def densities(self, items: Iterable[tuple[K, np.ndarray | torch.Tensor]]) -> Iterator[tuple[K, np.ndarray]]:
        """(key, density) for each (key, uint8 (H, W, 3) image), in order, run `batch` images of one size at a time."""
        for group in same_shape_batches(items, self.batch, lambda item: tuple(item[1].shape)):
            images = [img if isinstance(img, torch.Tensor) else _tensor(img) for _, img in group]
            out = self(torch.stack(images))
            yield from ((key, d) for (key, _), d in zip(group, out, strict=True))


def _tensor(a: np.ndarray) -> torch.Tensor:
    """A tensor over `a`'s memory; a copy when it is read-only (PIL's arrays), which torch cannot share."""
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a if a.flags.writeable else a.copy())
