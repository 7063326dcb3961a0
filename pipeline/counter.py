"""A trained model as one function: uint8 frames in, density maps out, in PyTorch or ONNX Runtime.

`count` runs images, videos and streams through a `Counter`, whichever file it
was given: a training checkpoint (PyTorch, on any device, bf16 on GPUs) or an
ONNX file from `export_onnx` (ONNX Runtime on the CPU). The ONNX graph takes the
frames as uint8 (B, H, W, 3) and normalises and pads them itself, so a frame
goes from the decoder to the model with no Python-side arithmetic: one fused,
multi-threaded pass instead of four numpy passes.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from pipeline.atomic import atomic_path, write_bytes
from pipeline.data import to_model_input
from pipeline.device import Precision, autocast, resolve_device
from pipeline.errors import ConfigError, DataError
from pipeline.image import encode, load_image
from pipeline.outputs import claim, is_png
from pipeline.overlay import heatmap
from pipeline.predict import load_model
from pipeline.sample import image_size

ONNX_OPSET = 17


class Counter(Protocol):
    """uint8 (B, H, W, 3) frames -> float32 (B, ceil(H/8), ceil(W/8)) densities; a map's sum is its count."""

    name: str
    batch: int  # frames per call that suit it (GPUs want several)

    def __call__(self, frames: np.ndarray) -> np.ndarray: ...


class FrameModel(nn.Module):
    """The network with its input step inside: uint8 NHWC frames, normalised and padded as `to_model_input` does."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(to_model_input(frames, frames.device))[:, 0]


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = ONNX_OPSET) -> Path:
    """Write the checkpoint's network as ONNX with a dynamic batch, height and width (atomically).

    Input ``frames``: uint8 (B, H, W, 3), RGB. Output ``density``: float32 (B, H/8, W/8).
    """
    model = FrameModel(load_model(checkpoint, optimize=False)).eval()
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
            output_names=["density"],
            dynamic_axes={"frames": {0: "batch", 1: "height", 2: "width"}, "density": {0: "batch", 1: "h8", 2: "w8"}},
            opset_version=opset,
        )
    return out


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
MAX_MODEL_PIXELS = 4096 * 4096  # one model call: a full-width CSRNet needs about 1 KB of activations a pixel


def check_model_size(source: str | Path, height: int, width: int) -> None:
    """Refuse (`DataError` naming `source`) an image or frame too large for one model call.

    A 62 KB PNG that declares 8000x8000 used to end in PyTorch's or ONNX
    Runtime's out-of-memory traceback.
    """
    if height * width > MAX_MODEL_PIXELS:
        raise DataError(
            source,
            f"{width}x{height} is over the {MAX_MODEL_PIXELS / 1e6:.1f}-megapixel bound of one model call"
            " (resize or crop it)",
        )


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


def calibration_frames(images: list[Path] | None, size: tuple[int, int] = (640, 360), n: int = 8) -> list[np.ndarray]:
    """Frames to calibrate int8 on: the given images, or (None) synthetic crowds of `size` (W, H)."""
    if images:
        return [load_image(p) for p in images[:64]]
    from pipeline.synth import SynthConfig, render_image

    rng = np.random.default_rng(0)
    cfg = SynthConfig(width=size[0], height=size[1], min_count=20, max_count=400)
    return [render_image(rng, cfg)[0] for _ in range(n)]


def compare_counts(a: Counter, b: Counter, frames: list[np.ndarray]) -> float:
    """Largest relative difference of the count between two counters over `frames`."""
    worst = 0.0
    for f in frames:
        x, y = float(a(f[None]).sum(dtype=np.float64)), float(b(f[None]).sum(dtype=np.float64))
        worst = max(worst, abs(x - y) / max(abs(x), 1e-6))
    return worst


def is_onnx_model(path: Path) -> bool:
    try:
        import onnx

        onnx.load(str(path), load_external_data=False)
        return True
    except Exception:  # noqa: BLE001 - anything onnx cannot parse is not ours to overwrite
        return False


def verify_onnx(checkpoint: str | Path, onnx_path: str | Path, seed: int = 0) -> float:
    """Largest relative difference of the count between ONNX Runtime and PyTorch, on frames of two sizes
    (one not a multiple of 8, so the padding inside the graph is checked too)."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((360, 640), (101, 149)) for _ in range(2)]
    return compare_counts(TorchCounter(checkpoint, torch.device("cpu")), OnnxCounter(onnx_path), frames)


class TorchCounter:
    """A checkpoint run by PyTorch: the frozen oneDNN graph on a CPU, channels_last (and bf16) on a GPU."""

    def __init__(self, checkpoint: str | Path, device: torch.device, precision: Precision = "fp32") -> None:
        self.device, self.precision = device, precision
        self.model = load_model(checkpoint, device=device)
        self.name = f"pytorch:{device}{':bf16' if precision == 'bf16' else ''}"
        self.batch = 8 if device.type == "cuda" else 1

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        x = to_model_input(torch.from_numpy(np.ascontiguousarray(frames)), self.device, self.device.type != "cpu")
        with autocast(self.device, self.precision):
            out = self.model(x)
        return out[:, 0].float().cpu().numpy()


class OnnxCounter:
    """An ONNX file run by ONNX Runtime on the CPU, with all graph optimisations on."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for missing, foreign or broken files
            raise DataError(path, f"not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        hint = "; use export-model"
        if [i.name for i in inputs] != ["frames"] or inputs[0].type != "tensor(uint8)" or len(inputs[0].shape) != 4:
            raise DataError(path, f"not a headcount ONNX model (expects one uint8 (B, H, W, 3) input 'frames'{hint})")
        if any(isinstance(d, int) for d in inputs[0].shape[1:3]):
            raise DataError(path, f"has a fixed input size {inputs[0].shape[1:3]}; a counter takes any size{hint}")
        if len(outputs) != 1 or outputs[0].type != "tensor(float)" or len(outputs[0].shape) != 3:
            raise DataError(path, f"not a headcount ONNX model (expects one float (B, H/8, W/8) density output{hint})")
        self.name = "onnxruntime:cpu"
        self.batch = 1
        probe = np.zeros((1, 64, 96, 3), np.uint8)  # a blank frame: a counter answers a finite 8x12 density
        try:
            out = self(probe)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types
            raise DataError(path, f"fails on a blank 96x64 frame ({str(exc).splitlines()[0][:200]})") from None
        if out.shape != (1, 8, 12) or not np.isfinite(out).all():
            raise DataError(path, f"answers a blank 96x64 frame with {out.shape}, not a finite (1, 8, 12) density")

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"frames": np.ascontiguousarray(frames, dtype=np.uint8)})[0]


def is_onnx(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def load_counter(
    path: str | Path, device: str = "auto", precision: Precision | str = "auto", threads: int | None = None
) -> Counter:
    """A `Counter` for a checkpoint (``.pt``) or an ONNX file (``.onnx``, CPU only).

    Precision ``auto`` is bf16 on a GPU (its tensor cores) and fp32 on a CPU.
    """
    if is_onnx(path):
        if not Path(path).is_file():
            raise DataError(path, "ONNX model not found")
        return OnnxCounter(path, threads)
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    if precision == "auto":
        precision = "bf16" if dev.type == "cuda" else "fp32"
    return TorchCounter(path, dev, precision)


def heatmap_paths(paths: list[Path], out: Path) -> list[Path]:
    """Where each image's overlay goes: `out` for one image, ``OUT_<stem>.png`` for several
    (``OUT_<stem>_<n>.png`` where stems repeat, so no overlay replaces another)."""
    if len(paths) == 1:
        return [out]
    stems = [p.stem for p in paths]
    suffix = out.suffix or ".png"
    return [
        out.with_name(f"{out.stem}_{stem}{f'_{i + 1}' if stems.count(stem) > 1 else ''}{suffix}")
        for i, stem in enumerate(stems)
    ]


def count_images(paths: list[Path], counter: Counter, heatmap_out: Path | None = None) -> list[float]:
    """Count each image; with `heatmap_out` also save overlays (see `heatmap_paths`)."""
    targets = heatmap_paths(paths, heatmap_out) if heatmap_out is not None else [None] * len(paths)
    for target in targets:
        if target is not None:
            claim(target, is_png, "a PNG image", inputs=paths)
    for path in paths:  # from the headers, before anything is decoded
        check_model_size(path, *image_size(path))
    counts = []
    for path, target in zip(paths, targets, strict=True):
        image = load_image(path)
        density = counter(image[None])[0]
        count = float(density.sum(dtype=np.float64))
        counts.append(count)
        if target is not None:
            write_bytes(target, encode(heatmap(image, density, count), "PNG"))
    return counts
