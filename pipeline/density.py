"""Gaussian density maps from head points (adaptive, fixed and head-box kernels).

Each head becomes the discrete Gaussian that ``scipy.ndimage.gaussian_filter``
would put around its pixel (``truncate=4``, ``mode="constant"``), but only the
``(2r+1)^2`` window around the head is touched, so a map costs
O(heads x sigma^2) instead of the classic O(heads x H x W).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numba
import numpy as np
from scipy.spatial import cKDTree

from pipeline.errors import DataError
from pipeline.kernels import DensityParams
from pipeline.point_arrays import as_points, snap, split_inside

TRUNCATE = 4.0  # scipy's default; part of the parity contract


@dataclass(frozen=True)
class Density:
    """A density map with what it was made from.

    `points` are the in-image points as annotated, `heads` the snapped pixels
    ``(col, row)`` that got a kernel (after merging duplicates), `sigma` one
    width per head (float32, as stored; `kernel_sigma` is the float64 the map
    was rendered with), `dropped` the points that fell outside the image.
    """

    density: np.ndarray
    points: np.ndarray
    heads: np.ndarray
    sigma: np.ndarray
    dropped: int
    kernel_sigma: np.ndarray


def gaussian_weights(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian weights of radius ``int(4 * sigma + 0.5)``.

    The same numbers scipy's ``gaussian_filter`` uses, so maps match it exactly.

    >>> gaussian_weights(1.0).shape
    (9,)
    """
    return _weights(float(sigma))


@numba.njit(cache=True, nogil=True)
def _weights(sigma):
    if sigma <= 1e-15:  # scipy skips the filter for sigma ~ 0: a delta
        return np.ones(1)
    radius = int(TRUNCATE * sigma + 0.5)
    c = -0.5 / (sigma * sigma)
    w = np.empty(2 * radius + 1)
    for j in range(2 * radius + 1):
        x = j - radius
        w[j] = math.exp(c * (x * x))
    return w / w.sum()


@numba.njit(cache=True, nogil=True)
def _splat(density, cols, rows, sigmas, renormalize):
    h, w = density.shape
    for i in range(sigmas.shape[0]):
        k = _weights(sigmas[i])
        r = (k.shape[0] - 1) // 2
        row, col = rows[i], cols[i]
        y0, y1 = max(row - r, 0), min(row + r + 1, h)
        x0, x1 = max(col - r, 0), min(col + r + 1, w)
        scale = 1.0
        if renormalize:
            scale = 1.0 / (k[y0 - row + r : y1 - row + r].sum() * k[x0 - col + r : x1 - col + r].sum())
        # float32 products vectorise; their rounding (~1e-8) is far inside parity
        kx = k[x0 - col + r : x1 - col + r].astype(np.float32)
        for y in range(y0, y1):
            wy = np.float32(k[y - row + r] * scale)
            line = density[y, x0:x1]
            for j in range(x1 - x0):
                line[j] += wy * kx[j]


def head_sigmas(
    heads: np.ndarray, shape: tuple[int, int], params: DensityParams = DensityParams(), sizes: np.ndarray | None = None
) -> np.ndarray:
    """Kernel width for each head pixel.

    Adaptive: ``beta`` x mean distance to the `k` nearest other heads (fewer if
    fewer exist); a lone head gets ``mean(H, W) / 4`` as in the classic recipe,
    so no sigma is ever inf or NaN. Box: ``box_scale`` x the head's annotated
    size; a head without one (size 0) gets its adaptive sigma.
    """
    n = len(heads)
    if params.method == "fixed" or n == 0:
        return np.full(n, float(params.sigma))
    if params.method == "box":
        adaptive = head_sigmas(heads, shape, replace(params, method="adaptive"))
        return np.where(sizes > 0, params.box_scale * sizes, adaptive)
    if n == 1:
        return np.array([float(np.mean(shape)) / 4.0])
    kk = min(params.k, n - 1)
    dist, _ = cKDTree(heads).query(heads, k=kk + 1)
    return params.beta * (dist[:, 1:].sum(axis=1) / kk)


def compute_density(
    points: object, shape: tuple[int, int], params: DensityParams = DensityParams(), sizes: object = None
) -> Density:
    """Density map plus the heads, sigmas and dropped count behind it.

    See `density_map` for the parameters; `sizes` (one per point) feeds ``method="box"``.
    """
    h, w = (int(v) for v in shape)
    kept, heads, sig, dropped = head_kernels(points, (h, w), params, sizes)
    density = render(heads, sig, (h, w), params.border == "renormalize")
    return Density(density, kept, heads, sig.astype(np.float32), dropped, sig)


def head_kernels(
    points: object, shape: tuple[int, int], params: DensityParams = DensityParams(), sizes: object = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(in-image points, head pixels ``(col, row)``, float64 sigmas, dropped count): everything but the drawing."""
    h, w = shape
    if h <= 0 or w <= 0:
        raise DataError(None, f"an image of {w}x{h} pixels has no density map")
    pts = as_points(points)
    size = None
    if params.method == "box":
        if sizes is None:
            raise DataError(None, "method 'box' needs head sizes (JHU-Crowd++ and NWPU-Crowd have them)")
        size = np.asarray(sizes, dtype=np.float64).reshape(-1)
        if len(size) != len(pts) or not np.isfinite(size).all() or (size < 0).any():
            raise DataError(None, f"head sizes must be one finite size >= 0 per point; got {len(size)} for {len(pts)}")
    kept, dropped, size = split_inside(pts, (h, w), size)
    heads = snap(kept)
    if params.duplicates == "merge" and len(heads):
        # unique on the row-major pixel index: fast, and the classic head order
        lin, which = np.unique(heads[:, 1] * w + heads[:, 0], return_inverse=True)
        heads = np.column_stack([lin % w, lin // w])
        if size is not None:  # a merged head is as big as its points on average
            size = np.bincount(which, size) / np.bincount(which)
    return kept, heads, head_sigmas(heads, (h, w), params, size).astype(np.float64), dropped


def render(heads: np.ndarray, sigma: np.ndarray, shape: tuple[int, int], renormalize: bool) -> np.ndarray:
    """The map of heads (pixel ``(col, row)``) with float64 kernel widths `sigma`: the one way maps are drawn,
    so a store that keeps only heads and sigmas renders the very map that was computed."""
    density = np.zeros(shape, dtype=np.float32)
    if len(heads):
        cols = np.ascontiguousarray(heads[:, 0], dtype=np.int64)
        rows = np.ascontiguousarray(heads[:, 1], dtype=np.int64)
        _splat(density, cols, rows, np.ascontiguousarray(sigma, dtype=np.float64), renormalize)
    return density


def density_map(
    points: object,
    shape: tuple[int, int],
    *,
    method: str = "adaptive",
    k: int = 3,
    beta: float = 0.3,
    sigma: float = 15.0,
    border: str = "drop",
    duplicates: str = "merge",
    box_scale: float = 0.3,
    sizes: object = None,
) -> np.ndarray:
    """Gaussian density map of head points, float32 ``(H, W)``.

    Parameters
    ----------
    points : (N, 2) array of (x, y)
        Head positions in pixels; points outside the image are ignored.
    shape : (H, W)
    method : "adaptive", "fixed" or "box"
        Adaptive: sigma = `beta` x mean distance to the `k` nearest heads.
        Box: sigma = `box_scale` x the head's annotated size (`sizes`, one per point).
    border : "drop" or "renormalize"
        "drop" loses the mass outside the image (classic); "renormalize"
        rescales each kernel to sum to 1 inside it, preserving the count.
    duplicates : "merge" or "keep"
        "merge" treats points on the same pixel as one head (classic).

    Examples
    --------
    >>> d = density_map([[5.5, 5.5], [20.0, 8.0]], (16, 32), border="renormalize")
    >>> round(float(d.sum()), 4)
    2.0
    """
    params = DensityParams(
        method=method, k=k, beta=beta, sigma=sigma, border=border, duplicates=duplicates, box_scale=box_scale
    )
    return compute_density(points, shape, params, sizes).density
