"""Density maps: headcount against the classic CSRNet recipe on one image, then a whole split end to end."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.bench import timed
from pipeline.bench.reference import classic_density
from pipeline.build import build_split
from pipeline.density import density_map
from pipeline.readers.matfile import gt_mat_bytes
from pipeline.synth import head_positions


def clustered_points(rng: np.random.Generator, n: int, shape: tuple[int, int]) -> np.ndarray:
    """`n` heads in a few groups, as the synthetic crowds place them: what dense real crowds look like."""
    return head_positions(rng, n, shape[0], shape[1], horizon=shape[0] // 8)


def bench_density_map(
    shape: tuple[int, int] = (768, 1024), heads: int = 450, seed: int = 0, repeats: int = 50
) -> dict[str, float]:
    """Classic recipe (once) vs `density_map` (best of `repeats`) on one seeded image."""
    pts = clustered_points(np.random.default_rng(seed), heads, shape)
    density_map(pts, shape)  # compile / load the numba cache outside the timing
    fast = min(timed(density_map, pts, shape)[1] for _ in range(repeats))
    ours, _ = timed(density_map, pts, shape)
    ref, slow = timed(classic_density, pts, shape)
    return {
        "heads": float(len(pts)),
        "classic_s": slow,
        "headcount_s": fast,
        "ratio": slow / fast,
        "max_abs_diff": float(np.abs(ours.astype(np.float64) - ref).max()),
    }


def make_bench_split(root: Path, images: int, shape: tuple[int, int], heads: int, seed: int = 0) -> Path:
    """A ShanghaiTech-layout split with `images` images of `shape` and ~`heads` heads each.

    The density step only reads image headers, so one JPEG's bytes are reused;
    every ground-truth file is its own seeded clustered crowd.
    """
    base = root / "test_data"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "ground-truth").mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (shape[1], shape[0]), (90, 90, 90)).save(buf, format="JPEG")
    rng = np.random.default_rng(seed)
    for i in range(1, images + 1):
        n = int(rng.integers(int(heads * 0.8), int(heads * 1.2) + 1))
        (base / "images" / f"IMG_{i}.jpg").write_bytes(buf.getvalue())
        (base / "ground-truth" / f"GT_IMG_{i}.mat").write_bytes(gt_mat_bytes(clustered_points(rng, n, shape)))
    return root


def bench_split(
    images: int = 482, shape: tuple[int, int] = (768, 1024), heads: int = 500, workers: int = 2
) -> dict[str, float]:
    """End-to-end time for a ShanghaiTech-Part-A-sized split: read, density, HDF5 write."""
    with tempfile.TemporaryDirectory(prefix="headcount-bench-") as tmp:
        root = make_bench_split(Path(tmp) / "data", images, shape, heads)
        out = Path(tmp) / "test.h5"
        seconds = timed(build_split, "shanghaitech", root, "test", out, workers=workers, progress=False)[1]
        size = out.stat().st_size
    return {"images": float(images), "workers": float(workers), "seconds": seconds, "mb": size / 1e6}
