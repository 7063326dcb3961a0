"""CPU arithmetic that gives the same bits on any x86-64 CPU with AVX2, Intel or AMD, with any number of threads.

Why: PyTorch's CPU convolutions end in oneDNN or MKL, and both choose their
kernels at run time, by instruction set, thread count and CPU vendor (MKL's
reproducibility mode is ignored on AMD CPUs: the demo trained to MAE 14.13 on
an AMD EPYC against 12.71 on Intel). ``reproducible`` leaves nothing to run-time
dispatch:

* convolutions run `pipeline.conv` (an implicit GEMM on `pipeline.gemm`) in
  a model built with ``exact=True``: every sum in an order fixed in this
  project, one fused multiply-add per term;
* ATen's own kernels (BatchNorm, pooling, ReLU, the optimiser's arithmetic) are
  pinned to their AVX2 build, one binary on every AVX2 CPU;
* Adam's square root is numpy's, the processor's correctly rounded instruction
  (`pipeline.adam`), not MKL's vector library;
* counts are correctly rounded sums (`exact_sum`), with no order to depend on.

``fast`` keeps oneDNN for runs that need speed more than bit-identical metrics.
``headcount bench train`` prints what each costs.
"""

from __future__ import annotations

import math
import os
import typing
import warnings
from typing import Literal

from pipeline.errors import ConfigError

# AVX2 + FMA is what every x86-64 CPU of the last decade has, Intel or AMD. ATen would run AVX2 code
# even on a CPU without it (an illegal instruction), so such a CPU is left to ATen's own choice.
ATEN_KERNELS = "AVX2"


def _has_avx2_fma() -> bool:
    from numpy._core._multiarray_umath import __cpu_features__  # numpy's own CPU probe

    return bool(__cpu_features__.get("AVX2") and __cpu_features__.get("FMA3"))


def pin_cpu_kernels() -> None:
    """Ask ATen for its AVX2 kernels and MKL for its AVX2 path: the one binary every AVX2 CPU runs.

    Both read their setting once, at their first operation: this takes effect
    only before torch has done any arithmetic in the process, and nothing
    changes where it comes later (`configure` checks). The only place the
    project sets the environment, and only when called: importing it sets nothing.
    """
    if _has_avx2_fma():
        os.environ["ATEN_CPU_CAPABILITY"] = ATEN_KERNELS.lower()
    os.environ["MKL_CBWR"] = "AVX2,STRICT"  # what MKL still computes (no convolution in `reproducible`)


Numerics = Literal["reproducible", "fast"]
NUMERICS: tuple[str, ...] = typing.get_args(Numerics)
Precision = Literal["fp32", "bf16"]  # the arithmetic of a forward pass (bf16: autocast; GPUs, CPUs too)
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)


def configure(numerics: Numerics, threads: int | None = None, device_type: str = "cpu") -> None:
    """Set torch's backends for `numerics`; `threads` (None: torch's default) never changes a result.

    The entry points (stages, `headcount train`, `evaluate`, `bench`) call it
    before torch's first operation. On the CPU, ``reproducible`` pins ATen's
    kernels (`pin_cpu_kernels`; a `ConfigError` when torch already chose
    others) and turns oneDNN off; the convolutions are exact where the model
    is built so (`pipeline.model.CSRNet`, ``exact=True``). ``fast`` leaves ATen
    and oneDNN to pick their best kernels for the CPU. Code that never calls
    it gets torch's own behaviour. On a GPU, ``reproducible`` means the same
    bits on a rerun on that GPU model (deterministic cuDNN, no TF32), ``fast``
    lets cuDNN pick its fastest kernels and matmuls use TF32. Neither gives the
    CPU's bits.
    """
    import torch  # here, so that the CLI can list NUMERICS without loading torch

    if numerics not in NUMERICS:
        raise ConfigError("numerics", f"must be one of {', '.join(NUMERICS)}, got {numerics!r}")
    if threads is not None:
        import numba

        torch.set_num_threads(threads)
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    torch.backends.mkldnn.enabled = numerics == "fast"
    if numerics == "reproducible" and device_type == "cpu":
        pin_cpu_kernels()
        if aten_kernels() != ATEN_KERNELS and _has_avx2_fma():
            raise ConfigError(
                "numerics",
                f"torch already runs ATen's {aten_kernels()} kernels in this process; configure reproducible "
                "numerics (pipeline.numerics.configure) before torch's first operation",
            )
        if aten_kernels() != ATEN_KERNELS:
            warnings.warn(
                f"ATen runs its {aten_kernels()} kernels, not {ATEN_KERNELS}: training and evaluation on this "
                "machine will not reproduce the committed metrics (see docs/reproducibility.md)",
                stacklevel=2,
            )
    if device_type == "cuda":
        # cuBLAS reads this before its first call to be deterministic (torch.use_deterministic_algorithms)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        fast = numerics == "fast"
        torch.backends.cudnn.benchmark = fast
        torch.backends.cudnn.deterministic = not fast
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = fast
        # warn_only: an op without a deterministic CUDA kernel warns instead of stopping a run
        torch.use_deterministic_algorithms(not fast, warn_only=True)


def exact_sum(values) -> float:  # noqa: ANN001 - a tensor or an array
    """The correctly rounded sum of `values` (math.fsum): no summation order that a CPU or thread count could change."""
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return math.fsum(values.ravel().tolist())


def aten_kernels() -> str:
    """Which build of ATen's CPU kernels runs: AVX2 where `reproducible` promises its bits."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def numerics_in_force(numerics: Numerics, device_type: str = "cpu") -> dict:
    """What decides the bits of a run, for metrics.json: the same on every machine that reproduces it."""
    if device_type != "cpu":
        return {"mode": numerics, "device": device_type}
    conv = "fixed-order fma (pipeline/gemm.py)" if numerics == "reproducible" else "oneDNN"
    return {"mode": numerics, "device": "cpu", "convolution": conv, "aten_kernels": aten_kernels()}
