"""How far an exported model's counts are from PyTorch's: the check `headcount export-model` runs on what it wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.infer.counter import Counter, OnnxCounter, TorchCounter


def compare_counts(a: Counter, b: Counter, frames: list[np.ndarray]) -> float:
    """Largest relative difference of the count between two counters over `frames`."""
    worst = 0.0
    for f in frames:
        x, y = float(a(f[None]).sum(dtype=np.float64)), float(b(f[None]).sum(dtype=np.float64))
        worst = max(worst, abs(x - y) / max(abs(x), 1e-6))
    return worst


def verify_onnx(checkpoint: str | Path, onnx_path: str | Path, seed: int = 0) -> float:
    """Largest relative difference of the count between ONNX Runtime and PyTorch, on frames of two sizes
    (one not a multiple of 8, so the padding inside the graph is checked too)."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((360, 640), (101, 149)) for _ in range(2)]
    return compare_counts(TorchCounter(checkpoint, torch.device("cpu")), OnnxCounter(onnx_path), frames)
