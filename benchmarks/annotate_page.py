"""Figures for the annotation page in headless Chromium (issue 10): run from the repository root,

    .venv/bin/python benchmarks/annotate_page.py [--images 10000] [--json]

* page ready: 10,000 images in the folder, from navigation to the first image shown with its heads;
* an edit with 10,000 images: script time of one click, and list rows rebuilt (should be 0);
* click to saved, the drawing script's time, and the frame interval while panning (requestAnimationFrame
  timestamps: what the eye sees), with 5,000 heads on a 6000x4000 photo;
* density preview of that photo at the window's size (request to overlay shown), and at full size.

Needs Playwright and Debian's Chromium (`make browser`). Timings are medians; the
machine's load shows in them, so run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import many_images, served  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def dense_photo(root: Path, heads: int = 5000, size: tuple[int, int] = (6000, 4000)) -> Path:
    folder = root / "dense"
    (folder / "images").mkdir(parents=True)
    (folder / "points").mkdir()
    w, h = size
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8)
    Image.fromarray(small).resize((w, h)).save(folder / "images" / "photo.jpg", quality=85)
    pts = np.column_stack([rng.uniform(0, w, heads), rng.uniform(0, h, heads)]).round(2).tolist()
    doc = {"format": "headcount-points", "version": 3, "image": "images/photo.jpg", "width": w, "height": h}
    doc.update(revision=1, status="todo", tiles=None, points=pts)
    (folder / "points" / "photo.json").write_text(json.dumps(doc))
    return folder


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_function("window.headcount && window.headcount.loadedId", timeout=120_000)
    return page, time.perf_counter() - t


def bench(images: int) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        folder = many_images(Path(tmp), images)
        with served(folder) as url:
            ready = []
            for _ in range(3):
                page, seconds = open_page(browser, url)
                ready.append(seconds)
                page.close()
            out["page_ready_s"] = statistics.median(ready)
            out["images"] = images
            page, _ = open_page(browser, url)
            page.evaluate("""() => { window.rebuilt = 0; new MutationObserver((m) => { window.rebuilt +=
                m.reduce((n, r) => n + r.addedNodes.length, 0); }).observe(document.getElementById('images'),
                {childList: true}); }""")
            box = page.locator("#canvas").bounding_box()
            edit_ms = []
            for k in range(5):
                sx, sy = box["x"] + box["width"] / 2 + 10 * k, box["y"] + box["height"] / 2
                edit_ms.append(
                    page.evaluate(f"""() => {{ const t = performance.now();
                    document.getElementById('canvas').dispatchEvent(new MouseEvent('mousedown',
                        {{clientX: {sx}, clientY: {sy}, button: 0, bubbles: true}}));
                    window.dispatchEvent(new MouseEvent('mouseup', {{clientX: {sx}, clientY: {sy}, button: 0}}));
                    return performance.now() - t; }}""")
                )
                page.wait_for_function("document.getElementById('status').textContent === 'saved'")
            out["edit_script_ms_10k_images"] = statistics.median(edit_ms)
            out["list_rows_rebuilt_per_edit"] = page.evaluate("window.rebuilt") / len(edit_ms)

        folder = dense_photo(Path(tmp))
        with served(folder) as url:
            page, _ = open_page(browser, url)
            out["heads"] = page.evaluate("window.headcount.state.points.length")
            out["frame_ms_5000_heads"] = page.evaluate("""() => { const t = [];
                for (let i = 0; i < 30; i++) { window.headcount.draw(); t.push(window.headcount.metrics.renderMs); }
                t.sort((a, b) => a - b); return t[15]; }""")
            # what a user sees: the interval between frames while the view pans (rAF timestamps), which
            # includes rasterising and compositing, not only the drawing script
            median, p95 = page.evaluate("""async () => {
                const h = window.headcount, s = h.state, times = [];
                await new Promise((resolve) => {
                    let n = 0;
                    const frame = (t) => { times.push(t); s.view.ox += 2; h.draw();
                        if (++n < 120) requestAnimationFrame(frame); else resolve(); };
                    requestAnimationFrame(frame);
                });
                const d = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
                return [d[Math.floor(d.length / 2)], d[Math.floor(d.length * 0.95)]]; }""")
            out["frame_interval_ms_median_5000_heads"], out["frame_interval_ms_p95_5000_heads"] = median, p95
            page.keyboard.press("0")  # fit again: the clicks below land on the image
            box = page.locator("#canvas").bounding_box()
            saves = []
            for k in range(10):
                page.keyboard.down("Shift")  # Shift: a head even where one is already
                page.mouse.click(box["x"] + 100 + 20 * k, box["y"] + 100)
                page.keyboard.up("Shift")
                page.wait_for_function("document.getElementById('status').textContent === 'saved'")
                saves.append(page.evaluate("window.headcount.metrics.lastSaveMs"))
            out["click_to_saved_ms"] = statistics.median(saves)
            previews = []
            for _ in range(5):
                page.evaluate("window.headcount.state.densityState = 'off'; window.headcount.loadDensity()")
                page.wait_for_function("window.headcount.state.densityState === 'fresh'", timeout=60_000)
                previews.append(page.evaluate("window.headcount.metrics.previewMs"))
            out["preview_ms_6000x4000"] = statistics.median(previews)
            out["preview_side_px"] = page.evaluate("Math.max(canvas.width, canvas.height)")
            t = time.perf_counter()
            page.request.get(url + "api/images/photo/density.png", timeout=120_000)
            out["full_size_density_png_s"] = time.perf_counter() - t
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = bench(args.images)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:32s} {v:.3f}" if isinstance(v, float) else f"{k:32s} {v}")


if __name__ == "__main__":
    main()
