"""A long live run: memory and lag of `count` on a camera-paced stream for many minutes (issue 24).

A 10 s synthetic crowd video (640x360, 25 fps) is replayed in a loop as a camera
would deliver it (frames at their timestamps, late ones dropped), through the
same `count_frames` loop `headcount count` runs, with two zones. Every 30 s the
process's resident memory (VmRSS) and the lag so far are sampled. One run:

    .venv/bin/python benchmarks/stream_soak.py [--minutes 10] [--checkpoint models/best.pt] [--runtime int8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.bench.stream import bench_counter  # noqa: E402
from pipeline.live.sources import Frame, decode, paced  # noqa: E402
from pipeline.live.stream import Alerting, count_frames  # noqa: E402
from pipeline.live.synth_video import make_video  # noqa: E402
from pipeline.live.zones import Zone  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def looped(video: Path, seconds: float, fps: float):
    """The video's frames again and again, numbered and timed as one endless camera, for `seconds`."""
    clip = [f.image for f in decode(str(video))]
    n = 0
    while n / fps < seconds:
        yield Frame(n, n / fps, clip[n % len(clip)])
        n += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--checkpoint", default="models/best.pt")
    ap.add_argument("--runtime", default="int8", choices=["int8", "onnx", "pytorch"])
    ap.add_argument("--fps", type=float, default=25.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="headcount-soak-") as tmp:
        tmp = Path(tmp)
        video = tmp / "crowd.mp4"
        make_video(video, frames=250, shape=(360, 640), fps=args.fps)
        counter = bench_counter(Path(args.checkpoint), args.runtime, tmp, video)
        zones = (
            Zone("left", np.array([[0, 0], [320, 0], [320, 360], [0, 360]], float)),
            Zone("right", np.array([[320, 0], [640, 0], [640, 360], [320, 360]], float)),
        )
        samples, lags, start = [], [], time.monotonic()
        next_sample = [0.0]

        def on_record(r: dict) -> None:
            lags.append(r["lag"])
            elapsed = time.monotonic() - start
            if elapsed >= next_sample[0]:
                samples.append(
                    {"s": round(elapsed), "rss_mb": round(rss_mb(), 1), "lag_ms_max_so_far": round(max(lags) * 1e3)}
                )
                next_sample[0] += 30.0

        s = count_frames(
            paced(looped(video, args.minutes * 60, args.fps)),
            counter,
            live=True,
            alerting=Alerting(zones),
            on_record=on_record,
        )
        samples.append({"s": round(time.monotonic() - start), "rss_mb": round(rss_mb(), 1)})
    later = [x["rss_mb"] for x in samples if x["s"] >= 30]
    print(
        json.dumps(
            {
                "minutes": args.minutes,
                "counter": counter.name,
                **{k: v for k, v in s.as_dict().items() if k != "alerts"},
                "rss_mb_at_30s": later[0] if later else None,
                "rss_mb_end": samples[-1]["rss_mb"],
                "rss_mb_max": max(x["rss_mb"] for x in samples),
                "samples": samples,
            }
        )
    )


if __name__ == "__main__":
    main()
