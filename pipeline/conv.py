"""The convolution of `train.numerics: reproducible`: an implicit im2col product, the same bits on any CPU.

Why: PyTorch's CPU convolutions end in oneDNN or MKL, which choose their
arithmetic at run time by CPU vendor, instruction set and thread count. Here
every sum has one order, fixed in this file and in `pipeline.gemm`, that of
the textbook im2col convolution: each output is the fma chain over (c, ki, kj)
ascending; the input gradient adds, per pixel, the chain over output channels
of each kernel offset in offset order (col2im's order); the weight gradient is
the chain over output pixels per image, then the images added in order; bias
gradients are float64 sums. The im2col matrix itself is never built: the
products read the zero-padded input in place through offset tables. Nothing
depends on the thread count, the CPU's vector width or the blocking.
`Conv2d` is a drop-in `nn.Conv2d` (same parameters, same state dict) that
takes this path while `reproducible` numerics are in force on the CPU.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba import prange
from torch import nn

from pipeline import gemm
from pipeline.buffers import Pool

_UNUSED = np.zeros(1, np.int64)
_NO_BIAS = np.zeros(0, np.float32)


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


def _tasks(images: int, runs: int) -> int:
    """Runs of tiles per image: about four per thread in all, so that threads finish together.

    The bits never depend on it: a run is a set of whole output elements.
    """
    return max(1, min(runs, -(-4 * numba.get_num_threads() // images)))


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def _pad(x: np.ndarray, top: int, left: int, hp: int, wp: int, out: np.ndarray) -> None:  # pragma: no cover
    """`x` (B, C, H, W) into `out` as (B, C, hp, wp) with zeros around (and past the end: lanes a tile drops)."""
    nbatch, nc, h, w = x.shape
    plane = hp * wp
    for t in prange(nbatch * nc):
        base = t * plane
        bi, ch = t // nc, t % nc
        out[base : base + plane] = 0.0
        for y in range(h):
            o = base + (y + top) * wp + left
            out[o : o + w] = x[bi, ch, y]
    out[nbatch * nc * plane :] = 0.0


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def _pad_channels_last(x: np.ndarray, pad: int, hp: int, wp: int, out: np.ndarray) -> None:  # pragma: no cover
    """`x` (B, C, H, W) into `out` as (B, hp, wp, C), zeros around."""
    nbatch, nc, h, w = x.shape
    image = hp * wp * nc
    for t in prange(nbatch * hp):
        bi, y = t // hp, t % hp
        row = bi * image + y * wp * nc
        if pad <= y < h + pad:
            out[row : row + pad * nc] = 0.0
            out[row + (w + pad) * nc : row + wp * nc] = 0.0
            for c0 in range(0, nc, 16):  # 16 x 16 blocks: what is read and written stays in cache
                for x0 in range(0, w, 16):
                    for xx in range(x0, min(w, x0 + 16)):
                        o = row + (xx + pad) * nc
                        for ch in range(c0, min(nc, c0 + 16)):
                            out[o + ch] = x[bi, ch, y - pad, xx]
        else:
            out[row : row + wp * nc] = 0.0
    out[nbatch * image :] = 0.0


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def _crop(c: np.ndarray, h: int, w: int, row_len: int, bias: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out[b, r, y, x] = c[b, 0, r, y*row_len + x] (+ bias[r])``: a product's padded rows back to an
    image, with the bias added on the way (one rounding, as a separate add would give) unless bias is empty."""
    nbatch, nc = out.shape[:2]
    for t in prange(nbatch * nc):
        bi, ch = t // nc, t % nc
        row = c[bi, 0, ch]
        plane = out[bi, ch]
        # element by element: a row slice plus the bias would allocate a temporary array per row
        if bias.size:
            b = bias[ch]
            for y in range(h):
                for x in range(w):
                    plane[y, x] = row[y * row_len + x] + b
        else:
            for y in range(h):
                for x in range(w):
                    plane[y, x] = row[y * row_len + x]


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def _pack_into(w: np.ndarray, mr: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Rows of each `w[b]` (B, M, K) as tile strips ``out[b][strip][k][r]``, zero rows up to out's size."""
    nbatch, m, k_len = w.shape
    m_pad = out.size // (nbatch * k_len)
    strips = m_pad // mr
    for t in prange(nbatch * strips):
        bi, s = t // strips, t % strips
        base = (bi * strips + s) * k_len * mr
        rows = min(mr, m - s * mr)
        for r in range(rows):  # each row of w read in order
            src = w[bi, s * mr + r]
            for k in range(k_len):
                out[base + k * mr + r] = src[k]
        for r in range(rows, mr):
            for k in range(k_len):
                out[base + k * mr + r] = 0.0


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def _pack_offsets(weight: np.ndarray, mr: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Per kernel offset, W[:, :, ki, kj] transposed (Cin, Cout) as tile strips ``out[o][strip][co][r]``."""
    cout, nc, k = weight.shape[0], weight.shape[1], weight.shape[2]
    strips = out.size // (k * k * cout * mr)
    for t in prange(k * k * strips):
        o, s = t // strips, t % strips
        ki, kj = o // k, o % k
        rows = min(mr, nc - s * mr)
        for co in range(cout):
            base = (t * cout + co) * mr
            for r in range(rows):
                out[base + r] = weight[co, s * mr + r, ki, kj]
            for r in range(rows, mr):
                out[base + r] = 0.0


def _pack(pool: Pool, w: np.ndarray, mr: int, m_pad: int) -> np.ndarray:
    """Rows of `w` (M, K), or of each w[b] (B, M, K), as tile strips ``[b][strip][k][r]``, zero rows up to m_pad."""
    w3 = w[None] if w.ndim == 2 else w
    out = pool.array((w3.shape[0] * m_pad * w3.shape[2],))
    _pack_into(np.ascontiguousarray(w3), mr, out)
    return out


def _forward(pool: Pool, x: np.ndarray, weight: np.ndarray, bias: np.ndarray, pad: int, dil: int) -> np.ndarray:
    """The convolution, (B, Cout, ho, wo): one product, its B read from the padded input in place, then
    the bias (`_NO_BIAS` for none) added to each output.

    Output pixel (oy, ox) is column ``oy*wp + ox`` of a product over the
    padded width (the columns past wo are computed and dropped), so that every
    term's operand row is ``wp``-contiguous: term (c, ki, kj) of that column is
    at ``c*hp*wp + (oy + ki*dil)*wp + ox + kj*dil``, the im2col entry read in place.
    """
    nbatch, nc, h, w = x.shape
    cout, k = weight.shape[0], weight.shape[-1]
    hp, wp = h + 2 * pad, w + 2 * pad
    ho, wo = hp - dil * (k - 1), wp - dil * (k - 1)
    shape = gemm.shape_for(cout, ho * wp)
    mr, nr = gemm.tile_dims(shape)
    n, m_pad = _round_up(ho * wp, nr), _round_up(cout, mr)
    ci, ki, kj = np.meshgrid(np.arange(nc), np.arange(k), np.arange(k), indexing="ij")
    table = (ci * hp * wp + ki * dil * wp + kj * dil).astype(np.int64).ravel()
    padded = pool.array(((nbatch - 1) * nc * hp * wp + int(table[-1]) + n,))  # the last tile's reach
    _pad(x, pad, pad, hp, wp, padded)
    apack = _pack(pool, weight.reshape(cout, -1), mr, m_pad)
    c = pool.array((nbatch, m_pad, n))
    tasks = _tasks(nbatch, (n // nr) * (m_pad // mr))
    gemm.products(shape, True, apack, 0, _UNUSED, _UNUSED, padded, nc * hp * wp, table, gemm.NO_SHIFT, c[None], tasks)
    out = pool.array((nbatch, cout, ho, wo))
    _crop(c.reshape(nbatch, 1, m_pad, n), ho, wo, wp, bias, out)
    return out


def _input_grad(pool: Pool, g: np.ndarray, weight: np.ndarray, h: int, w: int, pad: int, dil: int) -> np.ndarray:
    """The input gradient, (B, Cin, h, w): for each kernel offset, in order, W_offset^T @ g shifted, added.

    col2im adds each input pixel's terms in kernel-offset order and skips
    those whose output pixel lies outside; here they read g's zero border and
    add +0.0, which leaves every sum as it was (a sum that starts at +0.0 is
    never -0.0).
    """
    nbatch, cout, ho, wo = g.shape
    nc, k = weight.shape[1], weight.shape[-1]
    q = dil * (k - 1) - pad  # g's border
    hg, wg = ho + 2 * q, wo + 2 * q
    shape = gemm.shape_for(nc, h * wg)
    mr, nr = gemm.tile_dims(shape)
    n, m_pad = _round_up(h * wg, nr), _round_up(nc, mr)
    table = np.arange(cout, dtype=np.int64) * hg * wg
    offsets = np.array([(k - 1 - ki) * dil * wg + (k - 1 - kj) * dil for ki in range(k) for kj in range(k)], np.int64)
    padded = pool.array(((nbatch - 1) * cout * hg * wg + int(offsets.max() + table[-1]) + n,))
    _pad(g, q, q, hg, wg, padded)
    apack = pool.array((k * k * m_pad * cout,))
    _pack_offsets(weight, mr, apack)
    c = pool.array((nbatch, m_pad, n))
    gemm.summed_products(shape, apack, padded, cout * hg * wg, table, offsets, c, _tasks(nbatch, n // nr))
    out = pool.array((nbatch, nc, h, w))
    _crop(c.reshape(nbatch, 1, m_pad, n), h, w, wg, _NO_BIAS, out)
    return out


def _weight_grad(pool: Pool, g: np.ndarray, x: np.ndarray, k: int, pad: int, dil: int) -> np.ndarray:
    """The weight gradient, (Cout, Cin, k, k): per image the sum over output pixels p = 0, 1, 2, ... of
    ``g[co, p] * im2col(x)[(ci, ki, kj), p]``, then the images added in order.

    Two layouts of the same sums, whichever costs less (`_by_rows_cheaper`): per kernel
    offset, output channels by input channels (`_weight_grad_per_offset`), or
    im2col rows by output channels (`_weight_grad_by_rows`, for few input channels).
    """
    grad = _weight_grad_by_rows if _by_rows_cheaper(g.shape, x.shape, k, pad) else _weight_grad_per_offset
    return grad(pool, g, x, k, pad, dil)


# a gathered tile's time per lane against a packed one's, per tile shape, estimated: the rows' own
# pointers cost the registers that two- and three-vector tiles need; one-vector tiles wait on loads anyway
GATHER_COST = (1.1, 1.45, 1.0, 1.0)
COPY_COST = 5.0  # a float copied to another layout (transposed, packed) against one vector FMA, estimated


def _by_rows_cheaper(g_shape: tuple[int, ...], x_shape: tuple[int, ...], k: int, pad: int) -> bool:
    """Whether `_weight_grad_by_rows` costs less than `_weight_grad_per_offset`: the FMAs of each
    (padded lanes, gathered or packed), and the copies each makes per output pixel (per offset: x
    channels last and g packed; by rows: g channels last)."""
    cout, nc = g_shape[1], x_shape[1]
    padded_pixels = (x_shape[2] + 2 * pad) * (x_shape[3] + 2 * pad) / (g_shape[2] * g_shape[3])
    copy = COPY_COST * gemm.VL
    po_shape, br_shape = gemm.shape_for(cout, nc), gemm.shape_for(nc * k * k, cout)
    per_offset = _work(cout, nc, po_shape) * k * k + copy * (
        nc * padded_pixels + _round_up(cout, gemm.tile_dims(po_shape)[0])
    )
    by_rows = _work(nc * k * k, cout, br_shape) * GATHER_COST[br_shape] + copy * cout
    return by_rows < per_offset


def _work(m: int, n: int, shape: int) -> float:
    """Lane steps of an m x n product per term, padded to whole tiles, per `gemm.EFFICIENCY`."""
    mr, nr = gemm.tile_dims(shape)
    return _round_up(m, mr) * _round_up(n, nr) / gemm.EFFICIENCY[shape]


def _weight_grad_per_offset(pool: Pool, g: np.ndarray, x: np.ndarray, k: int, pad: int, dil: int) -> np.ndarray:
    """Per kernel offset, g @ x shifted: rows are output channels (g packed), columns input channels.

    x is laid out channels last, so that a tile's columns are contiguous.
    """
    nbatch, cout, ho, wo = g.shape
    nc, h, w = x.shape[1:]
    hp, wp = h + 2 * pad, w + 2 * pad
    shape = gemm.shape_for(cout, nc)
    mr, nr = gemm.tile_dims(shape)
    n, m_pad = _round_up(nc, nr), _round_up(cout, mr)
    pixels = ho * wo
    oy, ox = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
    table = ((oy * wp + ox) * nc).astype(np.int64).ravel()
    x_last = pool.array((nbatch * hp * wp * nc + n,))  # columns past Cin: lanes a tile drops
    _pad_channels_last(x, pad, hp, wp, x_last)
    apack = _pack(pool, g.reshape(nbatch, cout, pixels), mr, m_pad)
    shifts = np.array([(ki * dil * wp + kj * dil) * nc for ki in range(k) for kj in range(k)], np.int64)
    c = pool.array((k * k, nbatch, m_pad, n))
    tasks = _tasks(nbatch, (n // nr) * (m_pad // mr) * k * k)
    gemm.products(shape, True, apack, m_pad * pixels, _UNUSED, _UNUSED, x_last, hp * wp * nc, table, shifts, c, tasks)
    total = np.stack([gemm.sum_batch(c[o]) for o in range(k * k)])
    return np.ascontiguousarray(total[:, :cout, :nc].transpose(1, 2, 0)).reshape(cout, nc, k, k)


def _weight_grad_by_rows(pool: Pool, g: np.ndarray, x: np.ndarray, k: int, pad: int, dil: int) -> np.ndarray:
    """im2col(x) @ g.T: columns are output channels (g channels last), rows im2col rows gathered from x.

    Row (c, ki, kj) of output pixel (oy, ox) is at ``c*hp*wp + (oy + ki*dil)*wp + ox +
    kj*dil`` of the zero-padded x, read in place.
    """
    nbatch, cout, ho, wo = g.shape
    nc, h, w = x.shape[1:]
    hp, wp = h + 2 * pad, w + 2 * pad
    rows_k = nc * k * k
    shape = gemm.shape_for(rows_k, cout)
    mr, nr = gemm.tile_dims(shape)
    n, m_pad = _round_up(cout, nr), _round_up(rows_k, mr)
    ch, ki, kj = np.meshgrid(np.arange(nc), np.arange(k), np.arange(k), indexing="ij")
    rows = np.zeros(m_pad, np.int64)  # rows past Cin*k*k read channel 0: lanes a tile drops
    rows[:rows_k] = (ch * hp * wp + ki * dil * wp + kj * dil).ravel()
    oy, ox = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
    pixel = (oy * wp + ox).astype(np.int64).ravel()  # output pixel p's (0, 0, 0) entry in the padded x
    padded = pool.array((nbatch * nc * hp * wp,))
    _pad(x, pad, pad, hp, wp, padded)
    pixels = ho * wo
    g_last = pool.array((nbatch * pixels * cout + n,))  # columns past Cout: lanes a tile drops
    _transpose(g.reshape(nbatch, cout, pixels), g_last)
    table = np.arange(pixels, dtype=np.int64) * cout
    c = pool.array((nbatch, m_pad, n))
    tasks = _tasks(nbatch, (n // nr) * (m_pad // mr))
    a_stride, b_stride = nc * hp * wp, pixels * cout
    gemm.products(shape, False, padded, a_stride, rows, pixel, g_last, b_stride, table, gemm.NO_SHIFT, c[None], tasks)
    total = gemm.sum_batch(c)
    return np.ascontiguousarray(total[:rows_k, :cout].T).reshape(cout, nc, k, k)


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def _transpose(g: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """`g` (B, C, P) into `out` as (B, P, C), zeros past the end."""
    nbatch, nc, length = g.shape
    blocks = (length + 63) // 64
    for t in prange(nbatch * blocks):
        bi, p0 = t // blocks, (t % blocks) * 64
        base = bi * length * nc
        for ch in range(nc):  # a channel's 64 pixels read in a row; the 64 x C block written stays in cache
            row = g[bi, ch]
            for p in range(p0, min(length, p0 + 64)):
                out[base + p * nc + ch] = row[p]
    out[nbatch * length * nc :] = 0.0


class _ExactConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, pad: int, dil: int, pool: Pool):  # noqa: ANN001 - autograd's signature
        b = _NO_BIAS if bias is None else bias.detach().contiguous().numpy()
        out = _forward(pool, x.detach().contiguous().numpy(), weight.detach().contiguous().numpy(), b, pad, dil)
        ctx.save_for_backward(x, weight)
        ctx.conv = (pad, dil, bias is not None, pool)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001
        x, weight = ctx.saved_tensors
        pad, dil, has_bias, pool = ctx.conv
        k = weight.shape[-1]
        g = grad.contiguous().numpy()
        gx = gw = gb = None
        if ctx.needs_input_grad[1]:
            gw = torch.from_numpy(_weight_grad(pool, g, x.detach().contiguous().numpy(), k, pad, dil))
        if has_bias and ctx.needs_input_grad[2]:
            gb = torch.from_numpy(gemm.channel_sums(g.reshape(g.shape[0], g.shape[1], -1)))
        if ctx.needs_input_grad[0]:
            gx = torch.from_numpy(
                _input_grad(pool, g, weight.detach().contiguous().numpy(), x.shape[2], x.shape[3], pad, dil)
            )
        return gx, gw, gb, None, None, None


class Conv2d(nn.Conv2d):
    """`nn.Conv2d` (stride 1, square kernel, one group) that takes the fixed-order path where `exact` is set.

    `workspace` is the pool its work arrays come from (the model that owns the
    layer shares one between all of them); `exact` without one is refused.
    """

    exact: bool = False
    workspace: Pool | None = None

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if (
            self.exact
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")  # bf16 asked for: ATen's convolution does that
            and not torch.jit.is_tracing()
            and not torch.compiler.is_compiling()
            and not torch.onnx.is_in_onnx_export()
        ):
            if self.workspace is None:
                raise RuntimeError("an exact Conv2d needs a workspace pool (CSRNet.set_exact gives one)")
            return _ExactConv2d.apply(x, weight, bias, self.padding[0], self.dilation[0], self.workspace)
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
