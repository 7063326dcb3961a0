"""A float32 matrix product whose every sum is taken in one fixed order, on any CPU.

Why: a BLAS picks its kernels, its blocking and the way it splits a product
among threads at run time, by CPU vendor, instruction set and thread count, so
the same product gives other bits on another machine (MKL ignores its
reproducibility mode on AMD CPUs). Here each output element is
``fma(a[i,K-1], b[K-1,j], ... fma(a[i,1], b[1,j], fma(a[i,0], b[0,j], 0)))``:
k ascending, each term one IEEE fused multiply-add, rounded once. numba
compiles without fast-math, so LLVM may not reorder the sum, and it vectorises
only across output columns, where the lane width (AVX2 or AVX-512) changes
nothing. Threads split the output into tiles, never a sum. Tests compare it
with an exact-arithmetic replay of that sequence.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import prange
from numba.core import types
from numba.extending import intrinsic

NB = 64  # output columns per tile: a fixed trip count that LLVM turns into vector registers
MR = 4  # output rows per pass over a panel row
KU = 4  # terms added per load and store of a partial sum
MB = 64  # output rows per parallel task
KC = 256  # terms of each sum per packed panel (KC x NB floats: 64 KiB, cache-resident); a multiple of KU


@intrinsic
def fma(typingctx, a, b, c):  # noqa: ANN001, ANN201 - numba's intrinsic protocol
    """``a * b + c`` rounded once: IEEE 754's fused multiply-add, the same bits on every CPU.

    LLVM's ``llvm.fma`` is always fused (an FMA instruction, or libm's exact
    ``fmaf`` on a CPU without one), unlike a multiply and an add that a
    compiler may or may not contract.
    """
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        f32 = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f32], ir.FunctionType(f32, [f32, f32, f32]))
        return builder.call(fn, args)

    return sig, codegen


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def _matmul(a: np.ndarray, b: np.ndarray, c: np.ndarray, b_transposed: bool) -> None:  # pragma: no cover - compiled
    nbatch, m, n = c.shape
    k_len = a.shape[2]
    shared_a = a.shape[0] == 1
    n_tiles = (n + NB - 1) // NB
    m_blocks = (m + MB - 1) // MB
    for task in prange(nbatch * n_tiles * m_blocks):
        bi = task // (n_tiles * m_blocks)
        rest = task - bi * n_tiles * m_blocks
        tj = rest // m_blocks
        tm = rest - tj * m_blocks
        ai = 0 if shared_a else bi
        j0 = tj * NB
        width = min(NB, n - j0)
        i_end = min(m, (tm + 1) * MB)
        panel = np.zeros((min(KC, k_len), NB), np.float32)  # zero past the edge of b
        acc = np.empty((MR, NB), np.float32)
        # K in chunks whose panel stays in cache; the partial sums wait in `c` between chunks,
        # so every element still takes its terms k = 0, 1, 2, ... in order
        for k0 in range(0, k_len, KC):
            kc = min(KC, k_len - k0)
            if b_transposed:
                for j in range(width):
                    for k in range(kc):
                        panel[k, j] = b[bi, j0 + j, k0 + k]
            else:
                for k in range(kc):
                    for j in range(width):
                        panel[k, j] = b[bi, k0 + k, j0 + j]
            k_main = kc - kc % KU
            for i0 in range(tm * MB, i_end, MR):
                rows = min(MR, i_end - i0)
                if k0 == 0:
                    acc[:] = 0.0
                else:
                    for r in range(rows):
                        for j in range(width):
                            acc[r, j] = c[bi, i0 + r, j0 + j]
                if rows == MR:
                    for k in range(0, k_main, KU):
                        ka = k0 + k
                        a00, a01, a02, a03 = a[ai, i0, ka], a[ai, i0, ka + 1], a[ai, i0, ka + 2], a[ai, i0, ka + 3]
                        a10, a11, a12, a13 = (
                            a[ai, i0 + 1, ka],
                            a[ai, i0 + 1, ka + 1],
                            a[ai, i0 + 1, ka + 2],
                            a[ai, i0 + 1, ka + 3],
                        )
                        a20, a21, a22, a23 = (
                            a[ai, i0 + 2, ka],
                            a[ai, i0 + 2, ka + 1],
                            a[ai, i0 + 2, ka + 2],
                            a[ai, i0 + 2, ka + 3],
                        )
                        a30, a31, a32, a33 = (
                            a[ai, i0 + 3, ka],
                            a[ai, i0 + 3, ka + 1],
                            a[ai, i0 + 3, ka + 2],
                            a[ai, i0 + 3, ka + 3],
                        )
                        for j in range(NB):
                            v0, v1, v2, v3 = panel[k, j], panel[k + 1, j], panel[k + 2, j], panel[k + 3, j]
                            acc[0, j] = fma(a03, v3, fma(a02, v2, fma(a01, v1, fma(a00, v0, acc[0, j]))))
                            acc[1, j] = fma(a13, v3, fma(a12, v2, fma(a11, v1, fma(a10, v0, acc[1, j]))))
                            acc[2, j] = fma(a23, v3, fma(a22, v2, fma(a21, v1, fma(a20, v0, acc[2, j]))))
                            acc[3, j] = fma(a33, v3, fma(a32, v2, fma(a31, v1, fma(a30, v0, acc[3, j]))))
                    k_rest = k_main
                else:
                    k_rest = 0
                for k in range(k_rest, kc):
                    for r in range(rows):
                        ar = a[ai, i0 + r, k0 + k]
                        for j in range(NB):
                            acc[r, j] = fma(ar, panel[k, j], acc[r, j])
                for r in range(rows):
                    for j in range(width):
                        c[bi, i0 + r, j0 + j] = acc[r, j]


def matmul(a: np.ndarray, b: np.ndarray, *, b_transposed: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` per batch element in the fixed summation order; float32, C-contiguous inputs.

    `a` is (M, K) or (B, M, K); `b` is (B, K, N), or (B, N, K) with
    `b_transposed` (the transpose is taken while packing, at no extra pass).
    Returns (B, M, N), in `out` when given.
    """
    a3 = a[None] if a.ndim == 2 else a
    nbatch = b.shape[0]
    m, k_len = a3.shape[1:]
    n = b.shape[1] if b_transposed else b.shape[2]
    if (b.shape[2] if b_transposed else b.shape[1]) != k_len or a3.shape[0] not in (1, nbatch):
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not fit")
    c = np.empty((nbatch, m, n), np.float32) if out is None else out
    if c.shape != (nbatch, m, n) or c.dtype != np.float32 or not c.flags.c_contiguous:
        raise ValueError(f"matmul: out must be a C-contiguous float32 array of shape {(nbatch, m, n)}")
    _matmul(np.ascontiguousarray(a3, np.float32), np.ascontiguousarray(b, np.float32), c, b_transposed)
    return c


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def sum_batch(x: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``x[0] + x[1] + ...`` over the first axis, in that order, for a (B, M, N) float32 array."""
    nbatch, m, n = x.shape
    out = np.empty((m, n), np.float32)
    for i in prange(m):
        for j in range(n):
            out[i, j] = x[0, i, j]
        for bi in range(1, nbatch):
            for j in range(n):
                out[i, j] += x[bi, i, j]
    return out


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def channel_sums(x: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Per channel of a (B, C, L) float32 array, the sum over batch and positions (float64, in order)."""
    nbatch, nc, length = x.shape
    out = np.empty(nc, np.float32)
    for ch in prange(nc):
        s = 0.0
        for bi in range(nbatch):
            for p in range(length):
                s += np.float64(x[bi, ch, p])
        out[ch] = np.float32(s)
    return out
