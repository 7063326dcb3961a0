"""A procedurally generated crowd dataset in the real ShanghaiTech layout.

The embedded default: a fresh clone trains and evaluates on it with no
download. Images are drawn so a counter must learn heads, not pixels: head and
shoulder blobs with perspective (smaller farther up), clusters, occlusion,
varied backgrounds and lighting. Ground truth is written as ``GT_IMG_<n>.mat``
with the official ``image_info`` nesting, so the same reader serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipeline.atomic import write_bytes
from pipeline.image import encode
from pipeline.readers.matfile import gt_mat_bytes

SKIN = np.array([[255, 220, 190], [230, 180, 140], [190, 140, 100], [140, 95, 65], [95, 65, 45]])
HAIR = np.array([[20, 15, 10], [60, 40, 25], [110, 80, 50], [160, 140, 110], [200, 170, 90]])
SUPERSAMPLE = 2  # draw at 2x and downsample: anti-aliased edges


@dataclass(frozen=True)
class SynthConfig:
    """What `make_dataset` generates; every field comes from ``params.yaml``."""

    train: int = 60
    test: int = 20
    width: int = 320
    height: int = 240
    min_count: int = 10
    max_count: int = 400
    seed: int = 0
    jpeg_quality: int = 90


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: bicubic upsampling of a coarse random grid."""
    grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0


def background(rng: np.random.Generator, h: int, w: int, horizon: int) -> np.ndarray:
    """A scene: sky/wall above the horizon, textured ground below, some structures."""
    top, ground = rng.integers(40, 230, size=(2, 3))
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = top * (1 - t) + ground * t
    img = np.broadcast_to(img, (h, w, 3)).copy()
    img += (_smooth_field(rng, h, w, int(rng.integers(3, 10)))[..., None] - 0.5) * rng.uniform(20, 80)
    img += rng.normal(0, rng.uniform(2, 10), size=(h, w, 1))  # fine ground texture
    for _ in range(int(rng.integers(0, 6))):  # buildings, stands, banners
        x0, bw = int(rng.integers(0, w)), int(rng.integers(w // 12, w // 3))
        y1 = int(rng.integers(horizon // 2 + 1, max(horizon, 2) + h // 4))
        y0 = int(rng.integers(0, max(y1 - h // 10, 1)))
        img[y0:y1, x0 : x0 + bw] = rng.integers(30, 220, size=3)
    return img


def head_positions(rng: np.random.Generator, n: int, h: int, w: int, horizon: int) -> np.ndarray:
    """Clustered positions below the horizon: a few Gaussian groups plus stragglers."""
    n_clusters = int(rng.integers(1, 6))
    centers = np.column_stack([rng.uniform(0, w, n_clusters), rng.uniform(horizon, h, n_clusters)])
    spreads = rng.uniform(0.05, 0.3, n_clusters) * min(h, w)
    weights = rng.dirichlet(np.ones(n_clusters))
    pts = np.zeros((0, 2))
    while len(pts) < n:
        m = 2 * (n - len(pts))
        which = rng.choice(n_clusters, size=m, p=weights)
        cand = centers[which] + rng.normal(size=(m, 2)) * spreads[which, None]
        stray = rng.random(m) < 0.2
        cand[stray] = np.column_stack([rng.uniform(0, w, stray.sum()), rng.uniform(horizon, h, stray.sum())])
        ok = (cand[:, 0] >= 0) & (cand[:, 0] < w) & (cand[:, 1] >= horizon) & (cand[:, 1] < h)
        pts = np.vstack([pts, cand[ok]])
    return pts[:n]


def head_diameters(y: np.ndarray, horizon: float, height: int, near: float, far: float) -> np.ndarray:
    """Perspective: head diameter grows linearly from `far` at the horizon to `near` at the bottom."""
    depth = np.clip((y - horizon) / max(height - horizon, 1), 0, 1)
    return far + (near - far) * depth


@dataclass(frozen=True)
class Look:
    """How one person is drawn: shirt and face colours, and hair (or a hat) down to `cover` head
    diameters below the head's centre, None for none."""

    shirt: tuple[int, int, int]
    face: tuple[int, int, int]
    hair: tuple[int, int, int]
    cover: float | None


def random_look(rng: np.random.Generator) -> Look:
    """A person's look, drawn from `rng` (the synthetic video keeps one per person)."""
    shirt = tuple(int(c) for c in 0.6 * rng.integers(0, 256, 3) + 0.4 * rng.integers(20, 160))
    skin = SKIN[rng.integers(len(SKIN))] + rng.integers(-15, 16, 3)
    hair = tuple(int(c) for c in HAIR[rng.integers(len(HAIR))])
    cover = rng.uniform(-0.2, 0.6) if rng.random() < 0.85 else None  # hair or a hat, from the front or behind
    return Look(shirt, tuple(int(c) for c in np.clip(skin, 0, 255)), hair, cover)


def draw_person(draw: ImageDraw.ImageDraw, x: float, y: float, d: float, look: Look) -> None:
    """Head and shoulders with the head's centre at (`x`, `y`) and diameter `d`, in the canvas's pixels."""
    draw.ellipse([x - 1.2 * d, y + 0.35 * d, x + 1.2 * d, y + 2.2 * d], fill=look.shirt)
    draw.ellipse([x - 0.42 * d, y - 0.5 * d, x + 0.42 * d, y + 0.5 * d], fill=look.face)
    if look.cover is not None:
        draw.chord([x - 0.45 * d, y - 0.55 * d, x + 0.45 * d, y + look.cover * d], 180, 360, fill=look.hair)


def render_image(rng: np.random.Generator, cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """One crowd image (uint8 ``(H, W, 3)``) and its head points ``(N, 2)`` as (x, y)."""
    h, w = cfg.height, cfg.width
    n = int(round(np.exp(rng.uniform(np.log(cfg.min_count), np.log(cfg.max_count)))))
    horizon = int(rng.uniform(0.0, 0.35) * h)
    pts = head_positions(rng, n, h, w, horizon)
    near = rng.uniform(0.05, 0.10) * h  # head diameter at the bottom edge
    far = near * rng.uniform(0.25, 0.5)  # ... and at the horizon
    size = head_diameters(pts[:, 1], horizon, h, near, far)

    s = SUPERSAMPLE
    canvas = Image.fromarray(np.clip(background(rng, h, w, horizon), 0, 255).astype(np.uint8)).resize(
        (w * s, h * s), Image.BILINEAR
    )
    draw = ImageDraw.Draw(canvas)
    for i in np.argsort(pts[:, 1]):  # far to near: nearer people occlude farther ones
        draw_person(draw, pts[i, 0] * s, pts[i, 1] * s, size[i] * s, random_look(rng))
    img = canvas.resize((w, h), Image.LANCZOS)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.8)))

    arr = np.asarray(img, dtype=np.float32)
    light = 0.6 + 0.8 * _smooth_field(rng, h, w, 3)[..., None]  # uneven lighting
    tint = rng.uniform(0.85, 1.15, 3)
    arr = arr * light * tint * rng.uniform(0.6, 1.3) + rng.normal(0, 3, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8), pts


def make_dataset(root: str | Path, cfg: SynthConfig, progress: bool | None = None) -> dict[str, int]:
    """Write ``root/{train,test}_data/{images,ground-truth}``; return images per split.

    Each image has its own seed (config seed, split, index), so changing the
    number of test images leaves the training images as they were.
    """
    from tqdm import tqdm

    root = Path(root)
    counts = {}
    for split_no, (split, n) in enumerate((("train", cfg.train), ("test", cfg.test))):
        base = root / f"{split}_data"
        for i in tqdm(range(1, n + 1), desc=f"synth {split}", disable=None if progress is None else not progress):
            rng = np.random.default_rng([cfg.seed, split_no, i])
            image, pts = render_image(rng, cfg)
            jpeg = encode(Image.fromarray(image), "JPEG", quality=cfg.jpeg_quality)
            write_bytes(base / "images" / f"IMG_{i}.jpg", jpeg)
            write_bytes(base / "ground-truth" / f"GT_IMG_{i}.mat", gt_mat_bytes(pts))
        counts[split] = n
    return counts
