"""A synthetic video of people who walk: every head's identity and position in every frame, so
the true crossings of any line are known exactly.

Why: counting who crosses a line is measured against ground truth, and no public video of a
dense crowd comes with every head's track and a license to ship it. The scene is a fixed camera
over ground seen in perspective; people enter at an edge and walk through it:

- two opposite streams along the frame (``stream``), sharing the middle band;
- a crossing flow from top to bottom (``cross``);
- some of each walk stop-and-go: standing for a second out of every three;
- the arrival rate sets the density, from sparse to about one head per 100 px² in the bands.

Positions between frames are straight steps, so a line's true crossings are the crossings of
those steps (`pipeline.live.lines.Line.crossings`), exactly what a perfect tracker would see.
Same config, same bytes. The ground truth is also written in the MOTChallenge format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipeline.atomic import atomic_path, write_bytes
from pipeline.synth import SUPERSAMPLE, Look, background, draw_person, head_diameters, random_look

WARMUP = 30.0  # seconds: longer than anyone takes to cross the frame
FLOWS = ("stream-right", "stream-left", "cross")


@dataclass(frozen=True)
class WalkConfig:
    """The scene: frame size and count, the arrival rate per flow, walking speeds, perspective."""

    frames: int = 100
    width: int = 640
    height: int = 360
    fps: float = 25.0
    seed: int = 0
    arrivals: float = 1.0  # people entering per second, per stream direction; the crossing flow gets half
    speed: tuple[float, float] = (1.5, 3.0)  # pixels per frame at the bottom edge (slower farther up)
    stop_and_go: float = 0.3  # the share of people who stand for 1 s out of every 3
    flows: tuple[str, ...] = FLOWS  # which of the flows walk


@dataclass(frozen=True)
class Scene:
    """What was simulated: `positions` (T, N, 2) head centres (NaN where a person is not in view),
    `ids` (N,) their identities (1, 2, ...), `flows` (N,) which flow each walks in, and `sizes` (T, N)
    head diameters in pixels."""

    positions: np.ndarray
    ids: np.ndarray
    flows: tuple[str, ...]
    sizes: np.ndarray
    looks: tuple[Look, ...]
    horizon: int
    config: WalkConfig

    def heads(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, (K, 2) points) of the heads in view in `frame`."""
        p = self.positions[frame]
        seen = np.isfinite(p).all(axis=1)
        return self.ids[seen], p[seen]


def simulate(cfg: WalkConfig) -> Scene:
    """Every person's path through the scene, by seed."""
    rng = np.random.default_rng(cfg.seed)
    h, w, t = cfg.height, cfg.width, np.arange(cfg.frames)
    horizon = int(0.25 * h)
    near = 0.07 * h  # head diameter at the bottom edge
    far = 0.35 * near
    seconds = cfg.frames / cfg.fps
    paths, flows, looks = [], [], []
    plan = (("stream-right", cfg.arrivals), ("stream-left", cfg.arrivals), ("cross", cfg.arrivals / 2))
    for flow, rate in plan:
        if flow not in cfg.flows:
            continue
        # arrivals from WARMUP seconds before the first frame: the video starts on a crowd in steady state
        for start in np.sort(rng.uniform(-WARMUP, seconds, rng.poisson(rate * (seconds + WARMUP)))):
            speed = rng.uniform(*cfg.speed)
            stops = rng.random() < cfg.stop_and_go
            if flow == "cross":
                x0, y0 = rng.uniform(0.15 * w, 0.85 * w), horizon
                direction = np.array([rng.normal(0, 0.15), 1.0])
            else:
                y0 = rng.uniform(horizon + 0.2 * (h - horizon), h - 0.05 * h)
                x0 = -0.05 * w if flow == "stream-right" else 1.05 * w
                direction = np.array([1.0 if flow == "stream-right" else -1.0, rng.normal(0, 0.05)])
            direction /= np.linalg.norm(direction)
            moving = (t / cfg.fps - start) % 3.0 >= 1.0 if stops else np.ones(cfg.frames, bool)
            moving &= t / cfg.fps >= start
            step = np.zeros(cfg.frames)
            pos = np.array([x0, y0], np.float64)
            path = np.full((cfg.frames, 2), np.nan)
            # steps before frame 0 (people already walking when the video starts)
            lead = max(0, int(round(-start * cfg.fps)))
            for k in range(-lead, cfg.frames):
                if k >= 0:
                    path[k] = pos
                if k < 0 or moving[k]:
                    depth = np.clip((pos[1] - horizon) / (h - horizon), 0, 1)
                    step_len = speed * (0.35 + 0.65 * depth)  # slower farther up, as perspective shrinks
                    pos = pos + step_len * direction
                    if k >= 0:
                        step[k] = step_len
            inside = (path[:, 0] >= 0) & (path[:, 0] < w) & (path[:, 1] >= horizon) & (path[:, 1] < h)
            inside &= t / cfg.fps >= start
            if not inside.any():
                continue
            path[~inside] = np.nan
            paths.append(path)
            flows.append(flow)
            looks.append(random_look(rng))
    positions = np.stack(paths, axis=1) if paths else np.zeros((cfg.frames, 0, 2))
    sizes = head_diameters(positions[..., 1], horizon, h, near, far)
    ids = np.arange(1, positions.shape[1] + 1)
    return Scene(positions, ids, tuple(flows), sizes, tuple(looks), horizon, cfg)


def render(scene: Scene) -> Iterator[np.ndarray]:
    """Each frame as uint8 (H, W, 3): the fixed background and the people in view, far to near."""
    cfg = scene.config
    h, w, s = cfg.height, cfg.width, SUPERSAMPLE
    rng = np.random.default_rng([cfg.seed, 1])
    ground = Image.fromarray(np.clip(background(rng, h, w, scene.horizon), 0, 255).astype(np.uint8))
    ground = ground.resize((w * s, h * s), Image.BILINEAR)
    for k in range(cfg.frames):
        canvas = ground.copy()
        draw = ImageDraw.Draw(canvas)
        p, d = scene.positions[k], scene.sizes[k]
        seen = np.flatnonzero(np.isfinite(p).all(axis=1))
        for i in seen[np.argsort(p[seen, 1])]:
            draw_person(draw, p[i, 0] * s, p[i, 1] * s, d[i] * s, scene.looks[i])
        yield np.asarray(canvas.resize((w, h), Image.LANCZOS).filter(ImageFilter.GaussianBlur(0.4)))


def true_crossings(scene: Scene, line) -> np.ndarray:  # noqa: ANN001 - a pipeline.live.lines.Line
    """(T, 2) int: per frame, the heads that crossed `line` in and out since the frame before."""
    out = np.zeros((scene.config.frames, 2), np.int64)
    for k in range(1, scene.config.frames):
        c = line.crossings(scene.positions[k - 1], scene.positions[k])
        out[k] = (c > 0).sum(), (c < 0).sum()
    return out


def write_video(path: str | Path, scene: Scene) -> None:
    """The scene as an H.264 video (CRF 18), written atomically; the suffix picks the container."""
    import av

    from pipeline.live.sinks import add_video_stream

    cfg, path = scene.config, Path(path)
    fmt = {"ts": "mpegts", "mkv": "matroska", "": "mp4"}.get(path.suffix.lstrip(".").lower(), path.suffix.lstrip("."))
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format=fmt) as out:
        stream = add_video_stream(out, cfg.fps, (cfg.height, cfg.width), crf=18)
        for i, image in enumerate(render(scene)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_mot(path: str | Path, scene: Scene) -> int:
    """The ground truth as a MOTChallenge ``gt.txt`` (``frame,id,left,top,width,height,1,1,1``, frames
    from 1, a head's box its diameter square), written atomically; returns the rows written."""
    rows = []
    for k in range(scene.config.frames):
        for i in np.flatnonzero(np.isfinite(scene.positions[k]).all(axis=1)):
            (x, y), d = scene.positions[k, i], scene.sizes[k, i]
            rows.append(f"{k + 1},{scene.ids[i]},{x - d / 2:.2f},{y - d / 2:.2f},{d:.2f},{d:.2f},1,1,1\n")
    write_bytes(path, "".join(rows).encode())
    return len(rows)
