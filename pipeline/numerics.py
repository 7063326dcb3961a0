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
# cuBLAS needs this before its first call to be deterministic (torch.use_deterministic_algorithms)
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

Numerics = Literal["reproducible", "fast"]
NUMERICS: tuple[str, ...] = typing.get_args(Numerics)


def configure(numerics: Numerics, threads: int | None = None, device_type: str = "cpu") -> None:
    """Set torch's backends for `numerics`; `threads` (None: torch's default) never changes a result.

    On a GPU, ``reproducible`` means the same bits on a rerun on that GPU model
    (deterministic cuDNN, no TF32), ``fast`` lets cuDNN pick its fastest kernels
    and matmuls use TF32. Neither gives the CPU's bits.
    """
    import torch  # here, so that the CLI can list NUMERICS without loading torch

    if numerics not in NUMERICS:
        raise ValueError(f"numerics must be one of {', '.join(NUMERICS)}, got {numerics!r}")
    if threads is not None:
        torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = numerics == "fast"
    if device_type == "cuda":
        fast = numerics == "fast"
        torch.backends.cudnn.benchmark = fast
        torch.backends.cudnn.deterministic = not fast
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = fast
        # warn_only: an op without a deterministic CUDA kernel warns instead of stopping a run
        torch.use_deterministic_algorithms(not fast, warn_only=True)
