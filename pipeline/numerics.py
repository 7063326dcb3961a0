"""CPU arithmetic that gives the same bits on any x86-64 CPU with any number of threads.

Why: oneDNN, PyTorch's default CPU convolution, picks its kernels by instruction
set (AVX2 vs AVX-512) and splits its reductions by thread count, and MKL's GEMM
does the same; either makes a training run drift apart between two machines
(MAE 11.94 vs 13.91 on the demo). ``reproducible`` turns oneDNN off (convolutions
become ATen's im2col + GEMM) and runs MKL in its Conditional Numerical
Reproducibility mode ``AVX2,STRICT``: the AVX2 code path on every CPU, and
results that do not depend on the thread count. The price on 2 cores is about
2x per training step and 3.4x per inference (``headcount bench train`` prints both modes);
``fast`` keeps oneDNN for runs that need speed more than bit-identical metrics.
"""

from __future__ import annotations

import os
import typing
from typing import Literal

# MKL reads this once, at its first call, so it is set on import: every module that
# runs the model imports this one before doing any arithmetic with torch.
os.environ["MKL_CBWR"] = "AVX2,STRICT"

Numerics = Literal["reproducible", "fast"]
NUMERICS: tuple[str, ...] = typing.get_args(Numerics)


def configure(numerics: Numerics, threads: int | None = None) -> None:
    """Set torch's CPU backends for `numerics`; `threads` (None: torch's default) never changes a result."""
    import torch  # here, so that the CLI can list NUMERICS without loading torch

    if numerics not in NUMERICS:
        raise ValueError(f"numerics must be one of {', '.join(NUMERICS)}, got {numerics!r}")
    if threads is not None:
        torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = numerics == "fast"
