"""The README's figures, made again from the synthetic default (no dataset image is ever committed).

    .venv/bin/python docs/figures.py [--checkpoint models/best.pt] [--out docs/img]

- ``lines.png``: one frame of ``count VIDEO --lines ... --overlay``, a walking crowd (`pipeline.live.walkers`)
  counted on a gate line, with the running in/out counts;
- ``flow.png``: ``count VIDEO --flow`` of the same video, where the crowd stood and moved;
- ``proposals.jpg``: the annotation tool proposing heads on a dense synthetic crowd (Chromium, headless).

The model is the DVC pipeline's demo model (``make demo`` makes ``models/best.pt``), trained on the
same synthetic crowds; ShanghaiTech's photos cannot be shown here (research use only).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
LINES = "lines:\n  - name: gate\n    points: [[320, 60], [320, 340]]\n    in: right\n"


def headcount(*args: object) -> None:
    subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], check=True, cwd=ROOT)


def video_figures(checkpoint: Path, out: Path, work: Path) -> None:
    import av

    from pipeline.live.walkers import WalkConfig, simulate, write_video

    video = work / "walk.mp4"
    write_video(video, simulate(WalkConfig(frames=150, arrivals=3.0, seed=1)))
    (work / "lines.yaml").write_text(LINES)
    overlay = work / "overlay.mp4"
    headcount(
        "count",
        video,
        "--checkpoint",
        checkpoint,
        "--lines",
        work / "lines.yaml",
        "--overlay",
        overlay,
        "--flow",
        out / "flow.png",
        "--out",
        work / "records.jsonl",
    )
    with av.open(str(overlay)) as container:
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == 140)
    frame.to_image().save(out / "lines.png", optimize=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proposals_figure(checkpoint: Path | None, out: Path, work: Path) -> None:
    from playwright.sync_api import sync_playwright

    from pipeline.synth import SynthConfig, render_image

    folder = work / "ann"
    (folder / "images").mkdir(parents=True)
    cfg = SynthConfig(width=640, height=480, min_count=700, max_count=700, seed=4)
    image, _ = render_image(np.random.default_rng(4), cfg)
    Image.fromarray(image).save(folder / "images" / "crowd.jpg", quality=92)
    port = free_port()
    model = [] if checkpoint is None else ["--checkpoint", checkpoint]  # none: the shipped photo model
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "annotate", folder, "--port", str(port), *model],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "api/images", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto(url)
            page.wait_for_function("window.headcount && window.headcount.loadedId")
            page.click("#propose")
            page.wait_for_function("window.headcount.state.proposals.length > 0")
            page.wait_for_timeout(5500)  # the proposals' note fades after 5 s
            page.screenshot(path=str(out / "proposals.jpg"), type="jpeg", quality=80)
            browser.close()
    finally:
        server.kill()
        server.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, default=ROOT / "models" / "best.pt")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        video_figures(args.checkpoint.resolve(), args.out.resolve(), Path(d))
        proposals_figure(args.checkpoint.resolve(), args.out.resolve(), Path(d))
    for name in ("lines.png", "flow.png", "proposals.jpg"):
        print(args.out / name, (args.out / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
