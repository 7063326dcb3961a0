"""Fixed-order float32 products for the exact convolution: the same bits on any CPU, at BLAS speed.

Why: a BLAS or oneDNN picks its kernels, its blocking and the way it splits a
product among threads at run time, by CPU vendor, instruction set and thread
count, so the same product gives other bits on another machine (MKL ignores its
reproducibility mode on AMD CPUs). Here each output element is
``fma(a[K-1], b[K-1], ... fma(a[1], b[1], fma(a[0], b[0], 0)))``: k ascending,
each term one IEEE fused multiply-add, rounded once.

The arithmetic is a register tile (`_tile`, written in LLVM IR, BLIS's
micro-kernel): an ``MR x NR`` block of C stays in vector registers while k runs
0, 1, 2, ..., one vector ``llvm.fma`` per register and step. Each element of C
is one lane of one register, so it sees its terms in k order, one FMA each: the
lane width (8 with AVX2, 16 with AVX-512), the tile shape and the blocking
change which element is computed when, never what it is. Threads split the
output into blocks, never a sum.

B is never packed: step k of a tile reads ``NR`` consecutive floats at
``b[b_off + table[k]]``, and A is packed or read through offset tables, so a
convolution reads its input in place (an implicit GEMM): `pipeline.conv` lays
the input out with its zero padding and gives the offset of each term. Tests
replay every product in exact arithmetic.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import prange
from numba.core import cgutils, types
from numba.extending import intrinsic


def _lanes() -> int:
    from numba.core.codegen import get_host_cpu_features

    features = numba.config.CPU_FEATURES or get_host_cpu_features()
    return 16 if "+avx512f" in features.split(",") else 8


VL = _lanes()  # floats per vector register of the CPU numba compiles for
# tile shapes (rows, vector registers per row): MR * NV accumulators and NV loads fit the 32 (AVX-512)
# or 16 (AVX2) vector registers; `shape_for` picks the one that wastes least on a product's edges
SHAPES = ((8, 3), (12, 2), (24, 1), (16, 1)) if VL == 16 else ((4, 3), (6, 2), (12, 1), (8, 1))
EFFICIENCY = (1.0, 0.97, 0.8, 0.8)  # each shape's speed per lane against the first's, estimated: fewer loads per FMA
A_BLOCK = 1 << 19  # bytes of packed A that a run of tiles keeps in cache
KC = 256  # terms per pass over a block: a tile's strip of A and the block's rows of B stay in cache
_ROWS = np.arange(32, dtype=np.int64)  # row r of a packed strip is at r
NO_SHIFT = np.zeros(1, np.int64)  # `products` of one B
# a tile starts from +0.0 and stores; starts from C; starts from +0.0 and adds to C; starts from +0.0 and
# stores +0.0 + its sums (what ADD onto zeroed memory gives, -0.0 made +0.0, without the pass that zeroes it)
STORE, CONTINUE, ADD, ADD_TO_ZERO = 0, 1, 2, 3


def _make_tile(mr: int, nv: int, packed: bool):  # noqa: ANN202 - a numba intrinsic
    @intrinsic
    def tile(typingctx, a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode):  # noqa: ANN001, ANN202
        """An `mr` x `nv` vectors tile of C: for k < kc, ``C[r, j] = fma(A[r, k], B[k, j], C[r, j])``.

        ``A[r, k] = a[a_off + rows[r_off + r] + a_table[t_off + k]]`` (`packed`:
        ``a[a_off + k*mr + r]``, rows and a_table unused), ``B[k, j] = b[b_off +
        b_table[t_off + k] + j]``, ``C[r, j] = c[c_off + r*ldc + j]``; `mode` is
        STORE, CONTINUE, ADD or ADD_TO_ZERO. kc >= 1.
        """
        ip = types.intp
        sig = types.void(a, ip, rows, ip, a_table, b, ip, b_table, ip, ip, c, ip, ip, ip)

        def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
            f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
            vt = ir.VectorType(f32, VL)
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vt, [vt, vt, vt]), f"llvm.fma.v{VL}f32"
            )
            ptr = [context.make_array(signature.args[i])(context, builder, args[i]).data for i in (0, 2, 4, 5, 7, 10)]
            a_ptr = builder.gep(ptr[0], [args[1]])
            r_ptr = builder.gep(ptr[1], [args[3]])
            at_ptr = builder.gep(ptr[2], [args[8]])
            b_ptr = builder.gep(ptr[3], [args[6]])
            t_ptr = builder.gep(ptr[4], [args[8]])
            c_ptr = builder.gep(ptr[5], [args[11]])
            kc, ldc, mode = args[9], args[12], args[13]
            if packed:
                a_rows = [builder.gep(a_ptr, [ir.Constant(i64, r)]) for r in range(mr)]
            else:
                a_rows = [
                    builder.gep(a_ptr, [builder.load(builder.gep(r_ptr, [ir.Constant(i64, r)]))]) for r in range(mr)
                ]

            def c_vec(r: int, v: int):  # noqa: ANN202
                off = builder.add(builder.mul(ir.Constant(i64, r), ldc), ir.Constant(i64, v * VL))
                return builder.bitcast(builder.gep(c_ptr, [off]), vt.as_pointer())

            fn = builder.function
            load_bb, zero_bb, loop_bb, end_bb = (
                fn.append_basic_block(f"tile.{n}") for n in ("load", "zero", "k", "end")
            )
            builder.cbranch(builder.icmp_signed("==", mode, ir.Constant(i64, CONTINUE)), load_bb, zero_bb)
            builder.position_at_end(load_bb)
            loaded = [[builder.load(c_vec(r, v), align=4) for v in range(nv)] for r in range(mr)]
            builder.branch(loop_bb)
            builder.position_at_end(zero_bb)
            builder.branch(loop_bb)

            builder.position_at_end(loop_bb)
            k = builder.phi(i64)
            k.add_incoming(ir.Constant(i64, 0), load_bb)
            k.add_incoming(ir.Constant(i64, 0), zero_bb)
            zero = ir.Constant(vt, [0.0] * VL)
            acc = [[builder.phi(vt) for _ in range(nv)] for _ in range(mr)]
            for r in range(mr):
                for v in range(nv):
                    acc[r][v].add_incoming(loaded[r][v], load_bb)
                    acc[r][v].add_incoming(zero, zero_bb)
            row = builder.gep(b_ptr, [builder.load(builder.gep(t_ptr, [k]))])
            bv = [
                builder.load(builder.bitcast(builder.gep(row, [ir.Constant(i64, v * VL)]), vt.as_pointer()), align=4)
                for v in range(nv)
            ]
            a_k = builder.mul(k, ir.Constant(i64, mr)) if packed else builder.load(builder.gep(at_ptr, [k]))
            undef = ir.Constant(vt, ir.Undefined)
            splat = ir.Constant(ir.VectorType(i32, VL), [0] * VL)
            nxt = []
            for r in range(mr):
                scalar = builder.load(builder.gep(a_rows[r], [a_k]))
                av = builder.shuffle_vector(builder.insert_element(undef, scalar, ir.Constant(i32, 0)), undef, splat)
                nxt.append([builder.call(fma, [av, bv[v], acc[r][v]]) for v in range(nv)])
            k_next = builder.add(k, ir.Constant(i64, 1))
            k.add_incoming(k_next, loop_bb)
            for r in range(mr):
                for v in range(nv):
                    acc[r][v].add_incoming(nxt[r][v], loop_bb)
            builder.cbranch(builder.icmp_signed("<", k_next, kc), loop_bb, end_bb)

            builder.position_at_end(end_bb)
            with builder.if_else(builder.icmp_signed("==", mode, ir.Constant(i64, ADD))) as (then, otherwise):
                with then:
                    for r in range(mr):
                        for v in range(nv):
                            p = c_vec(r, v)
                            builder.store(builder.fadd(builder.load(p, align=4), nxt[r][v]), p, align=4)
                with otherwise:
                    to_zero = builder.icmp_signed("==", mode, ir.Constant(i64, ADD_TO_ZERO))
                    for r in range(mr):
                        for v in range(nv):
                            value = builder.select(to_zero, builder.fadd(zero, nxt[r][v]), nxt[r][v])
                            builder.store(value, c_vec(r, v), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_packed0, _packed1, _packed2, _packed3 = (_make_tile(mr, nv, True) for mr, nv in SHAPES)
_gathered0, _gathered1, _gathered2, _gathered3 = (_make_tile(mr, nv, False) for mr, nv in SHAPES)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _tile(
    shape, packed, a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode
):  # pragma: no cover
    if packed:
        if shape == 0:
            _packed0(a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode)
        elif shape == 1:
            _packed1(a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode)
        elif shape == 2:
            _packed2(a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode)
        else:
            _packed3(a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode)
    elif shape == 0:
        _gathered0(a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode)
    elif shape == 1:
        _gathered1(a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode)
    elif shape == 2:
        _gathered2(a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode)
    else:
        _gathered3(a, a_off, rows, r_off, a_table, b, b_off, b_table, t_off, kc, c, c_off, ldc, mode)


def shape_for(m: int, n: int) -> int:
    """The tile shape that computes an m x n product with the least padded work."""

    def cost(i: int) -> float:
        mr, nv = SHAPES[i]
        return -(-m // mr) * mr * -(-n // (nv * VL)) * nv * VL / EFFICIENCY[i]

    return min(range(len(SHAPES)), key=cost)


def tile_dims(shape: int) -> tuple[int, int]:
    """(MR, NR) of a tile shape."""
    mr, nv = SHAPES[shape]
    return mr, nv * VL


@numba.njit(cache=True, nogil=True)
def _dims(shape):  # pragma: no cover - compiled
    if shape == 0:
        return SHAPES[0][0], SHAPES[0][1] * VL
    if shape == 1:
        return SHAPES[1][0], SHAPES[1][1] * VL
    if shape == 2:
        return SHAPES[2][0], SHAPES[2][1] * VL
    return SHAPES[3][0], SHAPES[3][1] * VL


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def products(shape, packed, a, a_stride, rows, a_table, b, b_stride, b_table, shifts, c, tasks):  # pragma: no cover
    """``c[o, bi] = A_bi @ B_bi,o`` for every shift o and image bi: each element one k-ascending sum.

    ``A[r, k] = a[a_stride*bi + rows[r] + a_table[k]]`` (an implicit im2col
    gives each row and each term its own offset), or with `packed`, A packed
    in tile strips: ``A[r, k] = a[a_stride*bi + s*K*MR + k*MR + r % MR]`` for strip s;
    ``B[k, j] = b[b_stride*bi + shifts[o] + b_table[k] + j]``, K = ``b_table.size``.
    `c` is (O, B, M, N), M and N multiples of the tile. Each image's tiles
    (column strip, then row strip, then shift) are split into `tasks` runs; a
    thread takes a run and passes over K once for all of it, in chunks of KC
    terms, so each chunk of A and B comes into cache once a run (the weight
    gradient's shifts are its kernel offsets: one pass over the image for all nine).
    """
    n_shifts, nbatch, m, n = c.shape
    mr, nr = _dims(shape)
    k_len = b_table.size
    flat = c.reshape(c.size)
    n_strips, m_strips = n // nr, m // mr
    n_tiles = n_strips * m_strips * n_shifts
    per_task = (n_tiles + tasks - 1) // tasks
    for task in prange(nbatch * tasks):
        bi = task // tasks
        first = (task - bi * tasks) * per_task
        last = min(n_tiles, first + per_task)
        for k0 in range(0, k_len, KC):
            kc = min(KC, k_len - k0)
            mode = STORE if k0 == 0 else CONTINUE
            for t in range(first, last):
                o, sm, sn = t % n_shifts, (t // n_shifts) % m_strips, t // (n_shifts * m_strips)
                a_off = bi * a_stride + (sm * k_len * mr if packed else 0)
                c_off = ((o * nbatch + bi) * m + sm * mr) * n + sn * nr
                b_off = bi * b_stride + shifts[o] + sn * nr
                if packed:
                    a_off += k0 * mr
                _tile(
                    shape,
                    packed,
                    a,
                    a_off,
                    rows,
                    0 if packed else sm * mr,
                    a_table,
                    b,
                    b_off,
                    b_table,
                    k0,
                    kc,
                    flat,
                    c_off,
                    n,
                    mode,
                )


@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def summed_products(shape, apack, b, b_stride, table, offsets, c, tasks):  # pragma: no cover - compiled
    """``c[bi] = A_0 @ B_bi,0 + A_1 @ B_bi,1 + ...``, added in that order, each product a k-ascending sum.

    The first product is stored as +0.0 + it (`ADD_TO_ZERO`): the bits of a
    zeroed `c` with every product added, without the pass that zeroes it.

    A_o is packed: strip s at ``apack[(o*strips + s)*K*MR]``; ``B[k, j] =
    b[b_stride*bi + offsets[o] + table[k] + j]``. This is the input gradient: a
    product per kernel offset, added in kernel-offset order as col2im adds them.
    """
    nbatch, m, n = c.shape
    mr, nr = _dims(shape)
    k_len = table.size
    m_strips, n_strips = m // mr, n // nr
    flat = c.reshape(c.size)
    per_task = (n_strips + tasks - 1) // tasks
    block = max(1, A_BLOCK // (offsets.size * k_len * mr * 4))  # strips of A that stay in cache
    for task in prange(nbatch * tasks):
        bi = task // tasks
        first = (task - bi * tasks) * per_task
        for sm0 in range(0, m_strips, block):
            for sn in range(first, min(n_strips, first + per_task)):
                for sm in range(sm0, min(m_strips, sm0 + block)):
                    c_off = (bi * m + sm * mr) * n + sn * nr
                    for o in range(offsets.size):
                        a_off = (o * m_strips + sm) * k_len * mr
                        b_off = bi * b_stride + offsets[o] + sn * nr
                        k = k_len
                        mode = ADD_TO_ZERO if o == 0 else ADD
                        _tile(shape, True, apack, a_off, _ROWS, 0, _ROWS, b, b_off, table, 0, k, flat, c_off, n, mode)


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
    """Per channel of a (B, C, L) float32 array, the sum over batch and positions (float64, in order).

    Eight channels' sums advance together, each still one chain in order: a
    float64 add waits for the one before it, and eight chains fill that wait.
    """
    nbatch, nc, length = x.shape
    out = np.empty(nc, np.float32)
    for c0 in prange((nc + 7) // 8):
        first = c0 * 8
        s = np.zeros(8, np.float64)
        width = min(8, nc - first)
        for bi in range(nbatch):
            if width == 8:
                for p in range(length):
                    for j in range(8):
                        s[j] += np.float64(x[bi, first + j, p])
            else:
                for j in range(width):
                    for p in range(length):
                        s[j] += np.float64(x[bi, first + j, p])
        for j in range(width):
            out[first + j] = np.float32(s[j])
    return out
