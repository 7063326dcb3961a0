"""A synthetic crowd video with a known count in every frame: a camera panning across a wide crowd.

One crowd image twice as wide as the frame is rendered (`pipeline.synth`), and
each frame is a window sliding across it, so heads enter and leave the view and
the true count of each frame is the number of heads inside its window. Tests
and `headcount bench stream` count it without a camera.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.atomic import atomic_path
from pipeline.live.sinks import add_video_stream
from pipeline.synth import SynthConfig, render_image


def make_video(
    path: str | Path,
    frames: int = 50,
    shape: tuple[int, int] = (360, 640),
    fps: float = 25.0,
    seed: int = 0,
    heads: tuple[int, int] = (150, 300),
) -> np.ndarray:
    """Write an H.264 video of `frames` frames of `shape` (H, W); return each frame's true head count.

    The container follows the suffix (``.ts``: MPEG-TS, what an HTTP live stream carries).

    The file is written atomically; quality is high (CRF 18) so that the
    encoding barely changes what a model sees.
    """
    import av

    h, w = shape
    rng = np.random.default_rng(seed)
    wide, pts = render_image(rng, SynthConfig(width=2 * w, height=h, min_count=heads[0], max_count=heads[1]))
    offsets = np.linspace(0, w, frames).round().astype(int) if frames > 1 else np.zeros(1, int)
    counts = np.array([int(((pts[:, 0] >= x) & (pts[:, 0] < x + w)).sum()) for x in offsets])
    path = Path(path)
    fmt = {"ts": "mpegts", "mkv": "matroska", "": "mp4"}.get(path.suffix.lstrip(".").lower(), path.suffix.lstrip("."))
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format=fmt) as out:
        stream = add_video_stream(out, fps, shape, crf=18)
        for i, x in enumerate(offsets):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(wide[:, x : x + w]), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return counts
