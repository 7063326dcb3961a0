"""A checkpoint as an ONNX file for ONNX Runtime: export, int8 quantisation, and the checks against PyTorch.

The ONNX graph takes the frames as uint8 (B, H, W, 3) and normalises and pads
them itself, so a frame goes from the decoder to the model with no Python-side
arithmetic: one fused, multi-threaded pass instead of four numpy passes.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.atomic import atomic_path
from pipeline.checkpoint import trained_target
from pipeline.errors import ConfigError, DataError
from pipeline.image import image_size, load_image
from pipeline.infer.scale import MAX_MODEL_PIXELS
from pipeline.model import to_model_input
from pipeline.outputs import claim
from pipeline.runner import load_model

ONNX_OPSET = 17


class FrameModel(nn.Module):
    """The network with its input step inside: uint8 NHWC frames, normalised and padded as `to_model_input` does."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(to_model_input(frames, frames.device))[:, 0]


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = ONNX_OPSET) -> Path:
    """Write the checkpoint's network as ONNX with a dynamic batch, height and width (atomically).

    Input ``frames``: uint8 (B, H, W, 3), RGB. Output ``density``: float32 (B, H/8, W/8); a model
    trained with ``train.target: fidt`` names it ``fidt``, so a counter decodes it as one.
    """
    model = FrameModel(load_model(checkpoint, optimize=False)).eval()
    output = trained_target(checkpoint)
    example = torch.zeros(1, 64, 96, 3, dtype=torch.uint8)
    out = claim(out, is_onnx_model, "an ONNX model", inputs=[checkpoint])
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            dynamo=False,
            input_names=["frames"],
            output_names=[output],
            dynamic_axes={"frames": {0: "batch", 1: "height", 2: "width"}, output: {0: "batch", 1: "h8", 2: "w8"}},
            opset_version=opset,
        )
        _inline_shared_initializers(tmp)
    return out


def _inline_shared_initializers(path: Path) -> int:
    """Give every convolution its own weights: replace each ``Identity`` over an initializer by a copy of it.

    Why: the exporter stores equal constants once and feeds the other users through ``Identity``
    nodes. An untrained (or freshly reset) BatchNorm folds into all-zero biases that are all equal, and
    ONNX Runtime's static quantizer then leaves those convolutions in float between Dequantize and
    Quantize, so an untrained model ran int8 at a fraction of a trained one's speed (benchmarks/README.md).
    Returns the number of nodes replaced.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    shared = [n for n in graph.node if n.op_type == "Identity" and n.input[0] in inits]
    for node in shared:
        copy = onnx.TensorProto()
        copy.CopyFrom(inits[node.input[0]])
        copy.name = node.output[0]
        graph.initializer.append(copy)
        graph.node.remove(node)
    if shared:
        onnx.save(model, str(path))
    return len(shared)


def quantize_onnx(src: str | Path, out: str | Path, calibration: list[np.ndarray]) -> Path:
    """Int8 weights and activations (static QDQ, per-channel weights), calibrated on `calibration`.

    Why: on a CPU with VNNI (most x86 since 2019) ONNX Runtime's int8 network
    runs the demo model about 1.6x as fast as fp32 at 640x360 on 2 cores.
    Every op is quantised, not only the convolutions: activations then stay
    int8 from layer to layer (conv-only quantisation was 1.1x). Counts move by
    about a percent (`export-model --int8` prints by how much); calibration
    frames should look like what will be counted.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(calibration)

        def get_next(self) -> dict | None:
            x = next(self.it, None)
            return None if x is None else {"frames": np.ascontiguousarray(x[None], dtype=np.uint8)}

    out = claim(out, is_onnx_model, "an ONNX model", inputs=[src])
    quiet = logging.getLogger()  # the quantiser logs advice on the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with atomic_path(out) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(
                str(src),
                str(tmp),
                Frames(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
    finally:
        quiet.setLevel(level)
    return out


MIN_CALIBRATION_SIDE = 64  # px: a smaller image shows the network nothing of a crowd


def calibration_images(folder: Path) -> list[Path]:
    """The usable images of a calibration folder; `ConfigError` when there are none (never a silent fallback)."""
    usable = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in (".jpg", ".jpeg", ".png") or not p.is_file():
            continue
        try:
            h, w = image_size(p)  # the header only; a bomb or a broken file is a DataError
        except DataError:
            continue
        if min(h, w) >= MIN_CALIBRATION_SIDE and h * w <= MAX_MODEL_PIXELS:
            usable.append(p)
    if not usable:
        side = MIN_CALIBRATION_SIDE
        raise ConfigError(folder, f"no usable calibration image (.jpg/.png, at least {side}x{side} px)")
    return usable


def calibration_frames(images: list[Path] | None, shape: tuple[int, int] = (360, 640), n: int = 8) -> list[np.ndarray]:
    """Frames to calibrate int8 on: the given images, or (None) synthetic crowds of `shape` (H, W)."""
    if images:
        return [load_image(p) for p in images[:64]]
    from pipeline.synth import SynthConfig, render_image

    rng = np.random.default_rng(0)
    cfg = SynthConfig(width=shape[1], height=shape[0], min_count=20, max_count=400)
    return [render_image(rng, cfg)[0] for _ in range(n)]


def is_onnx_model(path: Path) -> bool:
    try:
        import onnx

        onnx.load(str(path), load_external_data=False)
        return True
    except Exception:  # noqa: BLE001 - anything onnx cannot parse is not ours to overwrite
        return False
