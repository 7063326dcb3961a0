"""The convolution of `train.numerics: reproducible`: im2col + `pipeline.gemm`, the same bits on any CPU.

Why: PyTorch's CPU convolutions end in oneDNN or MKL, which choose their
arithmetic at run time by CPU vendor, instruction set and thread count. Here
every sum has one order fixed in this file and in `pipeline.gemm`: a
convolution is unfolded into columns (copies only), multiplied in the fixed
order, and its input gradient folded back with each pixel's terms added in
kernel-offset order. Weight gradients are summed per image, then over the batch
in image order; bias gradients in float64. Nothing depends on the thread count.
`Conv2d` is a drop-in `nn.Conv2d` (same parameters, same state dict) that
takes this path while `reproducible` numerics are in force on the CPU.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
import torch
from numba import prange
from torch import nn

from pipeline import gemm

_state = {"exact": False}


def use_exact(on: bool) -> None:
    """Route every `Conv2d` on the CPU through the fixed-order path (`pipeline.numerics.configure` sets it)."""
    _state["exact"] = on


class _Workspace:
    """Column buffers kept for the next step: a fresh 75 MB array costs more in page faults than the copy into it."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit, self.held, self.free = limit_bytes, 0, {}
        self.lock = threading.Lock()

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        with self.lock:
            stack = self.free.get(shape)
            if stack:
                arr = stack.pop()
                self.held -= arr.nbytes
                return arr
        return np.empty(shape, np.float32)

    def give(self, arr: np.ndarray) -> None:
        with self.lock:
            if self.held + arr.nbytes <= self.limit:
                self.free.setdefault(arr.shape, []).append(arr)
                self.held += arr.nbytes


_workspace = _Workspace(2 << 30)


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def _im2col(x: np.ndarray, k: int, pad: int, dil: int, cols: np.ndarray) -> None:  # pragma: no cover - compiled
    nbatch, nc, h, w = x.shape
    ho, wo = h + 2 * pad - dil * (k - 1), w + 2 * pad - dil * (k - 1)
    for t in prange(nbatch * nc):
        bi, ch = t // nc, t % nc
        for ki in range(k):
            for kj in range(k):
                row = (ch * k + ki) * k + kj
                dx = kj * dil - pad
                lo, hi = max(0, -dx), max(0, min(wo, w - dx))  # output columns whose input column exists
                for oy in range(ho):
                    y = oy + ki * dil - pad
                    base = oy * wo
                    if y < 0 or y >= h:
                        cols[bi, row, base : base + wo] = 0.0
                        continue
                    cols[bi, row, base : base + lo] = 0.0
                    if hi > lo:
                        cols[bi, row, base + lo : base + hi] = x[bi, ch, y, lo + dx : hi + dx]
                    cols[bi, row, base + max(lo, hi) : base + wo] = 0.0


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def _col2im(cols: np.ndarray, nc: int, h: int, w: int, k: int, pad: int, dil: int) -> np.ndarray:  # pragma: no cover
    nbatch = cols.shape[0]
    ho, wo = h + 2 * pad - dil * (k - 1), w + 2 * pad - dil * (k - 1)
    out = np.zeros((nbatch, nc, h, w), np.float32)
    for t in prange(nbatch * nc):
        bi, ch = t // nc, t % nc
        for ki in range(k):  # each pixel's terms arrive in kernel-offset order
            for kj in range(k):
                row = (ch * k + ki) * k + kj
                for oy in range(ho):
                    y = oy + ki * dil - pad
                    if 0 <= y < h:
                        for ox in range(wo):
                            xx = ox + kj * dil - pad
                            if 0 <= xx < w:
                                out[bi, ch, y, xx] += cols[bi, row, oy * wo + ox]
    return out


def _columns(x: np.ndarray, k: int, pad: int, dil: int) -> np.ndarray:
    if k == 1 and pad == 0:
        return x.reshape(x.shape[0], x.shape[1], -1)
    nbatch, nc, h, w = x.shape
    ho, wo = h + 2 * pad - dil * (k - 1), w + 2 * pad - dil * (k - 1)
    cols = _workspace.take((nbatch, nc * k * k, ho * wo))
    _im2col(x, k, pad, dil, cols)
    return cols


def _release(cols: np.ndarray, k: int, pad: int) -> None:
    if not (k == 1 and pad == 0):  # the 1x1 case's columns are the input itself
        _workspace.give(cols)


class _ExactConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, pad: int, dil: int, keep: bool):  # noqa: ANN001 - autograd's signature
        k = weight.shape[-1]
        xn = x.detach().contiguous().numpy()
        w2 = weight.detach().reshape(weight.shape[0], -1).contiguous().numpy()
        cols = _columns(xn, k, pad, dil)
        out = gemm.matmul(w2, cols)
        if bias is not None:
            out += bias.detach().numpy()[None, :, None]
        ctx.save_for_backward(x, weight)
        if keep:
            ctx.cols = cols  # kept for the weight gradient, as ATen keeps its columns
        else:
            _release(cols, k, pad)
        ctx.conv = (pad, dil, bias is not None)
        nbatch, _, h, w = x.shape
        ho, wo = h + 2 * pad - dil * (k - 1), w + 2 * pad - dil * (k - 1)
        return torch.from_numpy(out.reshape(nbatch, weight.shape[0], ho, wo))  # not a view: ReLU works in place

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001
        x, weight = ctx.saved_tensors
        pad, dil, has_bias = ctx.conv
        k = weight.shape[-1]
        nbatch, nc, h, w = x.shape
        g = grad.contiguous().numpy().reshape(nbatch, weight.shape[0], -1)
        gx = gw = gb = None
        if ctx.needs_input_grad[1]:
            gw = torch.from_numpy(gemm.sum_batch(gemm.matmul(g, ctx.cols, b_transposed=True)).reshape(weight.shape))
        if has_bias and ctx.needs_input_grad[2]:
            gb = torch.from_numpy(gemm.channel_sums(g))
        if ctx.needs_input_grad[0]:
            wt = np.ascontiguousarray(weight.detach().reshape(weight.shape[0], -1).numpy().T)
            if k == 1 and pad == 0:
                gx = torch.from_numpy(gemm.matmul(wt, g).reshape(x.shape))
            else:
                gcols = gemm.matmul(wt, g, out=_workspace.take((nbatch, wt.shape[0], g.shape[2])))
                gx = torch.from_numpy(_col2im(gcols, nc, h, w, k, pad, dil))
                _workspace.give(gcols)
        if hasattr(ctx, "cols"):
            _release(ctx.cols, k, pad)
            del ctx.cols
        return gx, gw, gb, None, None, None


class Conv2d(nn.Conv2d):
    """`nn.Conv2d` (stride 1, square kernel, one group) that takes the fixed-order path when asked."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if (
            _state["exact"]
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")  # bf16 asked for: ATen's convolution does that
            and not torch.jit.is_tracing()
            and not torch.compiler.is_compiling()
            and not torch.onnx.is_in_onnx_export()
        ):
            keep = torch.is_grad_enabled() and weight.requires_grad
            return _ExactConv2d.apply(x, weight, bias, self.padding[0], self.dilation[0], keep)
        return super()._conv_forward(x, weight, bias)

    def __prepare_scriptable__(self) -> nn.Conv2d:
        """TorchScript (the `count` fast path) gets a plain `nn.Conv2d` sharing these parameters."""
        plain = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            padding=self.padding,
            dilation=self.dilation,
            bias=self.bias is not None,
        )
        plain.weight, plain.bias = self.weight, self.bias
        return plain
