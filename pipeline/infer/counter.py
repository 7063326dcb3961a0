"""A trained model as one function: uint8 frames in, density maps out, in PyTorch or ONNX Runtime.

`count` runs images, videos and streams through a `Counter`, whichever file it
was given: a training checkpoint (PyTorch through `pipeline.runner.Runner`, on
any device, bf16 on GPUs) or an ONNX file from `pipeline.infer.export`
(ONNX Runtime on the CPU).
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from pipeline.atomic import write_bytes
from pipeline.checkpoint import trained_output
from pipeline.decoder import decode
from pipeline.device import Precision, resolve_device
from pipeline.errors import ConfigError, DataError
from pipeline.geometry import OUTPUT_STRIDES
from pipeline.image import encode, image_size, load_image, to_rgb
from pipeline.infer.scale import check_model_size, scaled_size
from pipeline.outputs import claim, csv_with_header, is_png
from pipeline.overlay import heatmap
from pipeline.runner import Runner


class Counter(Protocol):
    """uint8 (B, H, W, 3) frames -> float32 (B, ceil(H/s), ceil(W/s)) maps at the output stride s: densities
    (a map's sum is its count) or, for a model trained with ``train.target: fidt``, FIDT maps
    (`pipeline.decoder.decode` counts them)."""

    name: str
    batch: int  # frames per call that suit it (GPUs want several)
    target: str  # "density" or "fidt": what the maps are
    stride: int  # image pixels per output cell: 8 (CSRNet), 4 or 2 (a localization decoder)
    relative: float | None  # a FIDT peak's least share of the map's maximum (None: the decoder's default)

    def __call__(self, frames: np.ndarray) -> np.ndarray: ...


class TorchCounter:
    """A checkpoint run by PyTorch through `Runner`: frozen oneDNN graph on a CPU, channels_last (and bf16) on a GPU."""

    def __init__(self, checkpoint: str | Path, device: torch.device, precision: Precision = "fp32") -> None:
        self.runner = Runner.from_checkpoint(checkpoint, device, precision)
        self.target, self.stride, self.relative = trained_output(checkpoint)
        self.name = f"pytorch:{device}{':bf16' if precision == 'bf16' else ''}"
        self.batch = self.runner.batch

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.runner(frames)


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
        self.target = "fidt" if outputs[0].name == "fidt" else "density"  # export-model names the output
        self.relative = None  # an ONNX file carries no tuned decoder: FIDTM's default
        probe = np.zeros((1, 64, 96, 3), np.uint8)  # a blank frame: a counter answers a finite 8x12 density
        try:
            out = self(probe)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types
            raise DataError(path, f"fails on a blank 96x64 frame ({str(exc).splitlines()[0][:200]})") from None
        strides = {(1, 64 // s, 96 // s): s for s in OUTPUT_STRIDES}  # the output's size says the model's stride
        if out.shape not in strides or not np.isfinite(out).all():
            raise DataError(path, f"answers a blank 96x64 frame with {out.shape}, not a finite (1, 8, 12) density")
        self.stride = strides[out.shape]

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


def count_images(
    paths: list[Path], counter: Counter, heatmap_out: Path | None = None, scale: float = 1.0
) -> list[tuple[float, np.ndarray]]:
    """Count each image: (count, (N, 2) head points decoded from its map, in the image's pixels); with
    `heatmap_out` also save overlays (see `heatmap_paths`). `scale` resizes each image before the model
    (an area filter, as video frames get in the decoder); overlays are drawn at that size."""
    targets = heatmap_paths(paths, heatmap_out) if heatmap_out is not None else [None] * len(paths)
    for target in targets:
        if target is not None:
            claim(target, is_png, "a PNG image", inputs=paths)
    for path in paths:  # from the headers, before anything is decoded
        check_model_size(path, *scaled_size(path, image_size(path), scale))
    results = []
    for path, target in zip(paths, targets, strict=True):
        image = load_image(path)
        ratio = np.ones(2)
        if scale != 1.0:
            h, w = scaled_size(path, image.shape[:2], scale)
            ratio = np.array([w / image.shape[1], h / image.shape[0]])  # per axis: the sizes are rounded
            image = np.asarray(Image.fromarray(image).resize((w, h), Image.BOX))
        output = counter(image[None])[0]
        heads = decode(output, counter.target, counter.stride, counter.relative)
        count = heads.count
        results.append((count, heads.points / ratio))
        if target is not None:
            write_bytes(target, encode(heatmap(image, output, count), "PNG"))
    return results


def check_points_output(out: str, images: list[Path], inputs: list[Path]) -> None:
    """Refuse, before any image is counted, a points CSV that is not ours to write, or images that share a
    file stem: their rows would read back (``headcount score``) as one image's heads."""
    stems: dict[str, Path] = {}
    for path in images:
        if path.stem in stems:
            raise ConfigError("--points", f"{stems[path.stem]} and {path} share the id {path.stem!r}; count them apart")
        stems[path.stem] = path
    if out != "-":
        claim(out, csv_with_header("image_id", "x", "y"), "a points CSV", inputs=inputs)


def write_points_csv(out: str, rows: list[tuple[str, np.ndarray]], inputs: list[Path]) -> None:
    """Decoded heads as ``image_id,x,y`` rows (what `headcount score` reads), to a file or ``-`` (stdout)."""
    lines = ["image_id,x,y\n"]
    for image_id, pts in rows:  # an image without heads still has its row, with no coordinates
        lines.extend([f"{image_id},{x:.1f},{y:.1f}\n" for x, y in pts.tolist()] or [f"{image_id},,\n"])
    text = "".join(lines)
    if out == "-":
        sys.stdout.write(text)
        return
    claim(out, csv_with_header("image_id", "x", "y"), "a points CSV", inputs=inputs)
    write_bytes(out, text.encode())


@dataclass(frozen=True)
class Counted:
    """One image counted: `count`, the (N, 2) head points ``(x, y)`` in its pixels (strongest first), and an
    (H, W) float32 `density` at its size whose sum is the count."""

    count: float
    points: np.ndarray
    density: np.ndarray


@functools.lru_cache(maxsize=4)
def _counter(path: str, device: str) -> Counter:
    return load_counter(path, device=device)


def count(
    image: str | Path | np.ndarray | Image.Image, model: str | Path | None = None, device: str = "cpu"
) -> Counted:
    """Count the people in one photo or frame, in one call: a path, a PIL image or an (H, W, 3) uint8 array.

    `model` is a checkpoint or ONNX file; by default the model shipped with headcount (a localizer trained on
    ShanghaiTech A and B photos). The model is loaded once and kept for the next call (frames of a video).
    A density model's map is spread over the pixels of its cells (each cell's sum kept); a localizer's heads
    each get a unit Gaussian (adaptive kernels, renormalized at the border), so `density` always sums to `count`.
    """
    from pipeline.density import compute_density
    from pipeline.kernels import DensityParams
    from pipeline.presets.shipped import default_model

    if isinstance(image, (str, Path)):
        pixels = load_image(image)
        source: str | Path = image
    else:
        pixels = to_rgb(image) if isinstance(image, Image.Image) else np.asarray(image)
        source = "image"
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise DataError(source, f"expected (H, W, 3) uint8 pixels, got {pixels.dtype} {pixels.shape}")
    h, w = pixels.shape[:2]
    check_model_size(source, h, w)
    counter = _counter(str(default_model(None if model is None else Path(model))), device)
    output = counter(pixels[None])[0]
    heads = decode(output, counter.target, counter.stride, counter.relative)
    if counter.target == "density":
        density = spread_cells(output, counter.stride, (h, w))
    else:
        density = compute_density(heads.points, (h, w), DensityParams(border="renormalize")).density
    return Counted(float(heads.count), heads.points, density.astype(np.float32))


def spread_cells(cells: np.ndarray, stride: int, shape: tuple[int, int]) -> np.ndarray:
    """An (H, W) map from a map of `stride` x `stride` px cells: each cell's value shared evenly by the
    image pixels it covers (the last row and column of cells cover fewer), so the sum is kept."""
    h, w = shape
    rows = np.minimum(stride, h - stride * np.arange(cells.shape[0]))
    cols = np.minimum(stride, w - stride * np.arange(cells.shape[1]))
    per_pixel = cells.astype(np.float64) / np.outer(rows, cols)
    return np.repeat(np.repeat(per_pixel, rows, axis=0), cols, axis=1)
