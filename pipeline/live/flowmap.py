"""Where a crowd stands and where it moves, over a whole video: an occupancy heat map and arrows.

Each frame adds its density map (occupancy: people per cell, averaged over frames) and, where the
optical flow is known, the density-weighted motion of each region (a square of `REGION` output
cells). A region's arrow is its people's mean motion: direction, and a length in pixels per second
drawn at `ARROW_SECONDS` of walking, so a still crowd has dots, a stream long arrows. Regions
with fewer than `MIN_PEOPLE` people on average get no arrow (noise of an empty floor).

The same sums are also kept with each frame's weight fading over `RECENT_SECONDS`: the overlay video
draws those arrows on every frame (where the crowd moves now), the PNG the whole video's.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.overlay import blend

REGION = 4  # output cells per region side
ARROW_SECONDS = 0.5  # an arrow shows where its people would be this much later
MIN_PEOPLE = 0.05  # mean people in a region for it to get an arrow
RECENT_SECONDS = 1.0  # the overlay's arrows: each frame's weight falls by e over this much video


class _Sums:
    """Per cell: summed density (occupancy), density x flow (px per frame), and the density of the frames
    whose flow was known, over frames whose weight falls by `fade` each new frame (1.0: plain sums)."""

    def __init__(self, shape: tuple[int, int], fade: float) -> None:
        self.fade = fade
        self.occupancy = np.zeros(shape)
        self.motion = np.zeros((*shape, 2))
        self.weight = np.zeros(shape)
        self.frames = 0.0  # frames added, each with its weight

    def add(self, density: np.ndarray, moved: np.ndarray | None) -> None:
        """One frame: its density, and density x flow per cell (None where the flow is not known)."""
        if self.fade != 1.0:
            for a in (self.occupancy, self.motion, self.weight):
                a *= self.fade
        self.frames = self.frames * self.fade + 1.0
        self.occupancy += density
        if moved is not None:
            self.motion += moved
            self.weight += density


class FlowMap:
    """Occupancy and density-weighted motion, gathered frame by frame: over the whole video, and fading."""

    def __init__(self, fps: float = 25.0) -> None:
        self.fps = fps
        self.stride = 8
        self.last_frame: np.ndarray | None = None
        self.fade = float(np.exp(-1.0 / (RECENT_SECONDS * fps)))
        self.whole: _Sums | None = None
        self.recent: _Sums | None = None

    @property
    def frames(self) -> int:
        return 0 if self.whole is None else int(self.whole.frames)

    def update(
        self, density: np.ndarray, flow: np.ndarray | None, stride: int, image: np.ndarray | None = None
    ) -> None:
        """Add one frame: its density (cells of `stride` px), the flow from the frame before (or None)."""
        density = np.asarray(density, np.float64)
        if self.whole is None or self.whole.occupancy.shape != density.shape:
            self.whole, self.recent = _Sums(density.shape, 1.0), _Sums(density.shape, self.fade)
        self.stride = stride
        if image is not None:
            self.last_frame = image
        moved = None
        if flow is not None:
            h, w = density.shape
            cells = np.zeros((h * stride, w * stride, 2))
            cells[: flow.shape[0], : flow.shape[1]] = flow
            per_cell = cells.reshape(h, stride, w, stride, 2).mean(axis=(1, 3))
            moved = density[..., None] * per_cell
        self.whole.add(density, moved)
        self.recent.add(density, moved)

    def regions(self, recent: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centres (R, 2) in pixels, mean people per region (R,), mean motion (R, 2) in px per second),
        over the whole video or (`recent`) with the frames fading over `RECENT_SECONDS`."""
        if self.whole is None:
            return np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2))
        sums = self.recent if recent else self.whole
        h, w = sums.occupancy.shape
        rh, rw = -(-h // REGION), -(-w // REGION)

        def pooled(a: np.ndarray) -> np.ndarray:
            full = np.zeros((rh * REGION, rw * REGION, *a.shape[2:]))
            full[:h, :w] = a
            return full.reshape(rh, REGION, rw, REGION, *a.shape[2:]).sum(axis=(1, 3))

        people = pooled(sums.occupancy) / max(sums.frames, 1)
        weight, motion = pooled(sums.weight), pooled(sums.motion)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(weight[..., None] > 0, motion / weight[..., None], 0.0) * self.fps
        size = REGION * self.stride
        ys, xs = np.mgrid[0:rh, 0:rw]
        centres = np.stack([(xs + 0.5) * size, (ys + 0.5) * size], axis=-1).reshape(-1, 2)
        return centres, people.reshape(-1), mean.reshape(-1, 2)

    def render(self, shape: tuple[int, int], background: np.ndarray | None = None) -> Image.Image:
        """The occupancy heat map over `background` (the last frame seen, else grey) with the arrows."""
        h, w = shape
        if background is None:
            background = self.last_frame if self.last_frame is not None else np.full((h, w, 3), 96, np.uint8)
        mean = (self.whole.occupancy / max(self.whole.frames, 1)) if self.whole is not None else np.zeros((1, 1))
        out = Image.fromarray(blend(background, mean, 0.6))
        self.draw_arrows(out)
        draw = ImageDraw.Draw(out)
        font = ImageFont.load_default(size=max(10, h // 30))
        draw.text(
            (8, h - max(10, h // 30) - 8),
            f"{self.frames} frames: mean occupancy, motion per {ARROW_SECONDS:g} s",
            fill=(255, 255, 255),
            font=font,
        )
        return out

    def draw_arrows(self, image: Image.Image, recent: bool = False) -> Image.Image:
        """Each region's arrow (or a dot where its people stand still) drawn on `image`, in place."""
        w, h = image.size
        draw = ImageDraw.Draw(image)
        width = max(2, h // 180)
        for (x, y), people, (vx, vy) in zip(*self.regions(recent), strict=True):
            if people < MIN_PEOPLE or x >= w or y >= h:
                continue
            dx, dy = vx * ARROW_SECONDS, vy * ARROW_SECONDS
            if np.hypot(dx, dy) < 2:
                draw.ellipse([x - width, y - width, x + width, y + width], fill=(255, 255, 255))
                continue
            tip = (x + dx, y + dy)
            draw.line([(x, y), tip], fill=(255, 255, 255), width=width)
            angle = np.arctan2(dy, dx)
            for turn in (2.6, -2.6):  # the arrow's head
                end = (tip[0] + 6 * width * np.cos(angle + turn), tip[1] + 6 * width * np.sin(angle + turn))
                draw.line([tip, end], fill=(255, 255, 255), width=width)
        return image
