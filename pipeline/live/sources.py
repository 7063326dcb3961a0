"""Where frames come from: video files, streams and cameras, opened with PyAV (FFmpeg in its wheels).

A file is decoded as fast as the hardware allows, in a thread that fills a short queue while the model
runs (`_Reader`). A live source is never fallen behind: the reader keeps only the newest frame, so when
the model is slower than the camera the frames in between are dropped, counted. A live source that
breaks or stalls is opened again after a back-off (`reconnecting`); frame numbers and times keep
counting across the gap, and the first frame after it carries the gap. The counting loop that consumes
these frames is `pipeline.live.stream`.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.infer.scale import scaled_size

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".gif"}
STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


def is_live(spec: str) -> bool:
    """URLs and camera devices deliver frames in real time; files do not."""
    return spec.lower().startswith(STREAM_PREFIXES) or spec.startswith("/dev/video")


def is_video(spec: str) -> bool:
    return is_live(spec) or Path(spec).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source, counting every decoded frame
    t: float  # seconds from the source's start (its timestamps)
    image: np.ndarray  # uint8 (H, W, 3) RGB
    arrived: float = 0.0  # time.monotonic() when it was decoded
    gap: float = 0.0  # seconds without frames before this one (a live source that dropped and came back)


def decode(spec: str, *, timeout_s: float = 10.0, scale: float = 1.0) -> Iterator[Frame]:
    """Every frame of a file, URL or camera, in order, as RGB; resized by `scale` in FFmpeg's scaler.

    Why in the decoder: swscale converts and shrinks in one C pass on the decoding
    thread, so a 720p frame counted at a quarter of its size never exists at full size in RGB.
    """
    import av

    options = {"rtsp_transport": "tcp"} if spec.lower().startswith("rtsp") else {}
    fmt = "v4l2" if spec.startswith("/dev/video") else None
    live = is_live(spec)
    try:
        container = av.open(spec, format=fmt, options=options, timeout=timeout_s)
    except (av.error.FFmpegError, OSError) as exc:
        raise DataError(spec, f"cannot open as video ({exc.strerror if hasattr(exc, 'strerror') else exc})") from None
    with container:
        if not container.streams.video:
            raise DataError(spec, "has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame-parallel decoding where the codec allows it
        start = None
        try:
            for i, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else i / float(stream.average_rate or 25)
                start = t if start is None else start
                if scale == 1.0:
                    image = frame.to_ndarray(format="rgb24")
                else:
                    h, w = scaled_size(spec, (frame.height, frame.width), scale, live=live)
                    image = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA", threads=1)
                yield Frame(i, t - start, image, time.monotonic())
        except av.error.FFmpegError as exc:
            raise DataError(spec, f"video stream broken ({exc})") from None


RECONNECT_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # waits before each new attempt; then 8 s each


def reconnecting(
    spec: str,
    attempts: int,
    *,
    timeout_s: float = 10.0,
    open_frames: Callable[..., Iterable[Frame]] = decode,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Frame]:
    """A live source's frames across drops: when it breaks or stalls, or will not open, it is opened again.

    Waits `RECONNECT_BACKOFF_S` between attempts and gives up after `attempts`
    in a row that bring no frame, raising the last error. A clean end (all of
    an HTTP file, a session the server closed) ends the frames. Frame indices
    and times continue across a gap, times by the wall clock, and the first
    frame after one carries its length (`Frame.gap`).
    """
    index, failures, offset = 0, 0, 0.0
    last_t: float | None = None
    lost_at: float | None = None
    while True:
        error: DataError | None = None
        got_frames = False
        try:
            for f in open_frames(spec, timeout_s=timeout_s):
                gap = 0.0
                if not got_frames:  # the first frame of this connection
                    got_frames = True
                    if lost_at is not None:
                        gap = time.monotonic() - lost_at
                        offset = (last_t or 0.0) + gap - f.t
                        lost_at = None
                    failures = 0
                last_t = f.t + offset
                yield Frame(index, last_t, f.image, f.arrived, gap)
                index += 1
        except DataError as exc:
            error = exc
        if error is None:  # a clean end (a whole HTTP file, a session the server closed) ends the run
            return
        if not got_frames:
            failures += 1  # an attempt that brought no frame
        if attempts == 0 or failures > attempts:
            raise error
        lost_at = lost_at if lost_at is not None else time.monotonic()
        print(f"{spec}: stream lost ({error.problem}); reconnecting", file=sys.stderr)
        sleep(RECONNECT_BACKOFF_S[min(max(failures - 1, 0), len(RECONNECT_BACKOFF_S) - 1)])


def source_info(spec: str) -> tuple[float | None, int | None]:
    """(frames per second, frame count) where the container says; (None, None) for live sources."""
    if is_live(spec):
        return None, None
    import av

    try:
        with av.open(spec) as c:
            s = c.streams.video[0]
            return (float(s.average_rate) if s.average_rate else None), (s.frames or None)
    except (av.error.FFmpegError, OSError, IndexError):
        return None, None


def paced(frames: Iterable[Frame], speed: float = 1.0) -> Iterator[Frame]:
    """Deliver frames at their timestamps, as a camera would (a file replayed live)."""
    start = None
    for f in frames:
        now = time.monotonic()
        start = now - f.t / speed if start is None else start
        delay = start + f.t / speed - now
        if delay > 0:
            time.sleep(delay)
        yield Frame(f.index, f.t, f.image, time.monotonic())


class _Reader(threading.Thread):
    """Pulls frames from a source on its own thread; `latest` keeps only the newest (live),
    otherwise a bounded queue makes the decoder wait for the model (files)."""

    def __init__(self, frames: Iterable[Frame], latest: bool, depth: int = 8) -> None:
        super().__init__(daemon=True)
        self.frames, self.latest = frames, latest
        self.q: queue.Queue = queue.Queue(maxsize=1 if latest else depth)
        self.dropped = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            for f in self.frames:
                if self.stop.is_set():
                    return
                if self.latest:
                    try:
                        old = self.q.get_nowait()  # the model never took it: the newer one replaces it
                        self.dropped += 1
                        if old.gap:  # a reconnect is still reported, by the frame that replaced its first
                            f = replace(f, gap=old.gap + f.gap)
                    except queue.Empty:
                        pass
                    self.q.put_nowait(f)
                else:
                    while not self.stop.is_set():
                        try:
                            self.q.put(f, timeout=0.1)
                            break
                        except queue.Full:
                            continue
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self.error = exc
        finally:
            self._put_end()

    def _put_end(self) -> None:
        """The end marker; a live reader drops its last unread frame for it, a file reader waits for room."""
        while not self.stop.is_set():
            try:
                self.q.put(None, timeout=0.1)
                return
            except queue.Full:
                if self.latest:
                    try:
                        self.q.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass

    def __iter__(self) -> Iterator[Frame]:
        self.start()
        while True:
            f = self.q.get()
            if f is None:
                if self.error is not None:
                    raise self.error
                return
            yield f


def _within_bound(frames: Iterable[Frame], spec: str) -> Iterator[Frame]:
    """Frames of a size one model call can take; a larger one is a `DataError` naming the source."""
    from pipeline.infer.scale import check_model_size

    for f in frames:
        check_model_size(spec, *f.image.shape[:2])
        yield f


def sample(frames: Iterable[Frame], every: int = 1, fps: float | None = None) -> Iterator[Frame]:
    """Every `every`-th frame, or frames `1/fps` seconds apart (by timestamp), on purpose."""
    next_t = 0.0
    for f in frames:
        if f.index % every:
            continue
        if fps is not None:
            if f.t + 1e-9 < next_t:
                continue
            next_t = max(next_t + 1 / fps, f.t)
        yield f
