"""In/out counts on a line against the truth, by method and density: the synthetic walking crowd.

    .venv/bin/python benchmarks/flow.py [--checkpoint models/best.pt] [--frames 150] [--min-crossings 40] [--json]

For each arrival rate (sparse to dense), one walking-crowd video (`pipeline.live.walkers`), at least
`--frames` long and doubled until the line's true crossings (in and out) reach `--min-crossings`, so
that an error as a share of them means something, is
counted on a vertical line across the middle with each method, from the model's density maps
(`--checkpoint`, the demo pipeline's by default) and, as the ceiling, from the true density. It
prints the true crossings and each method's, the mean absolute error of in and out, and the tracks'
HOTA (`pipeline.scoring.hota`, similarity 1 - d/8 px), IDF1 and MOTA (motmetrics, heads matched within 8 px).

Then the speed, end to end: each video written as an MP4 and counted by `count_video` (decoding, the
model, the lines) as fast as it goes, with no line and with each method, by the checkpoint in PyTorch
and by its ONNX exports (fp32, and int8 calibrated on synthetic crowds as `headcount export-model
--int8` does), in frames per second.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import motmetrics as mm

    from pipeline.density import compute_density
    from pipeline.infer.counter import load_counter
    from pipeline.kernels import DensityParams
    from pipeline.live.flow import LineCounter, LineCounting
    from pipeline.live.flux import Motion
    from pipeline.live.lines import Line
    from pipeline.live.walkers import WalkConfig, render, simulate, true_crossings
    from pipeline.scoring.hota import hota

    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, default=Path("models/best.pt"))
    ap.add_argument("--frames", type=int, default=150, help="frames at least")
    ap.add_argument("--min-crossings", type=int, default=40, help="true crossings at least (in + out)")
    ap.add_argument("--arrivals", type=float, nargs="+", default=[1.0, 4.0, 12.0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-fps", action="store_true", help="skip the end-to-end speed table")
    args = ap.parse_args()
    counter = load_counter(args.checkpoint, "cpu")
    line = Line("mid", np.array([320.0, 90.0]), np.array([320.0, 360.0]), "left")
    kernel = DensityParams(method="fixed", sigma=4.0, border="renormalize")
    rows, speeds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        runtimes = {} if args.no_fps else _runtimes(args.checkpoint, Path(tmp))
        for rate in args.arrivals:
            n_frames = args.frames
            scene = simulate(WalkConfig(frames=n_frames, arrivals=rate, seed=1))
            truth = true_crossings(scene, line).sum(axis=0)
            while truth.sum() < args.min_crossings and n_frames < 16 * args.frames:
                n_frames *= 2
                scene = simulate(WalkConfig(frames=n_frames, arrivals=rate, seed=1))
                truth = true_crossings(scene, line).sum(axis=0)
            frames = list(render(scene))
            model = [counter(f[None])[0] for f in frames]
            ideal = [
                compute_density(scene.heads(k)[1], (360, 640), kernel).density.reshape(45, 8, 80, 8).sum(axis=(1, 3))
                for k in range(n_frames)
            ]
            in_view = float(np.isfinite(scene.positions[..., 0]).sum(axis=1).mean())
            for source, maps in (("model", model), ("true density", ideal)):
                for method in ("tracks", "flux", "auto"):
                    start = time.perf_counter()
                    lc, motion = LineCounter(LineCounting((line,), method)), Motion()
                    acc = mm.MOTAccumulator(auto_id=True)
                    true_frames, tracked_frames = [], []
                    for k, (f, d) in enumerate(zip(frames, maps, strict=True)):
                        got = lc.update(f.shape[:2], d, 8, motion.step(f) if lc.needs_flow else None)["mid"]
                        if method == "tracks":  # the tracks as MOTChallenge scores them, within 8 px
                            ids, truth_points = scene.heads(k)
                            hyp = lc.tracker.active()
                            hyp_points = np.array([p for _, p in hyp]).reshape(-1, 2)
                            distances = mm.distances.norm2squared_matrix(truth_points, hyp_points, max_d2=64.0)
                            acc.update(ids, [i for i, _ in hyp], distances)
                            true_frames.append((ids, truth_points))
                            tracked_frames.append(([i for i, _ in hyp], hyp_points))
                    scores = {}
                    if method == "tracks":
                        summary = mm.metrics.create().compute(acc, metrics=["idf1", "mota"], name="tracks")
                        scores = {m: round(float(summary[m].iloc[0]), 3) for m in ("idf1", "mota")}
                        scores["hota"] = round(hota(true_frames, tracked_frames, 8.0).hota, 3)
                    err = (abs(got["in"] - truth[0]) + abs(got["out"] - truth[1])) / 2
                    rows.append(
                        {
                            "arrivals": rate,
                            "frames": n_frames,
                            "in_view": round(in_view, 1),
                            "density": source,
                            "method": method,
                            "true_in": int(truth[0]),
                            "true_out": int(truth[1]),
                            "in": got["in"],
                            "out": got["out"],
                            "mae": round(err, 2),
                            "error_pct": round(100 * 2 * err / max(int(truth.sum()), 1), 1),  # of the crossings
                            "seconds": round(time.perf_counter() - start, 2),
                            **scores,
                        }
                    )
            speeds += _speeds(scene, line, runtimes, Path(tmp), rate, in_view)
    if args.json:
        for r in rows + speeds:
            print(json.dumps(r))
        return
    columns = ["arrivals/s", "frames", "heads in view", "density", "method", "true in / out", "counted in / out"]
    print("| " + " | ".join([*columns, "MAE", "error %", "HOTA", "IDF1", "MOTA"]) + " |")
    print("|" + "---|" * (len(columns) + 5))
    for r in rows:
        print(
            f"| {r['arrivals']:g} | {r['frames']} | {r['in_view']} | {r['density']} | {r['method']}"
            f" | {r['true_in']} / {r['true_out']} | {r['in']:.1f} / {r['out']:.1f} | {r['mae']:.2f}"
            f" | {r['error_pct']:.1f}"
            f" | {r.get('hota', '')} | {r.get('idf1', '')} | {r.get('mota', '')} |"
        )
    if speeds:
        methods = list(dict.fromkeys(r["method"] for r in speeds))
        print("\n| arrivals/s | heads in view | runtime | " + " | ".join(f"fps, {m}" for m in methods) + " |")
        print("|---|---|---|" + "---|" * len(methods))
        for key in dict.fromkeys((r["arrivals"], r["in_view"], r["runtime"]) for r in speeds):
            fps = {r["method"]: r["fps"] for r in speeds if (r["arrivals"], r["in_view"], r["runtime"]) == key}
            print(f"| {key[0]:g} | {key[1]} | {key[2]} | " + " | ".join(f"{fps[m]:.1f}" for m in methods) + " |")


def _runtimes(checkpoint: Path, tmp: Path) -> dict:
    """The checkpoint as each runtime `headcount count` takes: PyTorch, ONNX fp32 and ONNX int8."""
    from pipeline.infer.counter import load_counter
    from pipeline.infer.export import calibration_frames, export_onnx, quantize_onnx

    fp32 = export_onnx(checkpoint, tmp / "fp32.onnx")
    int8 = quantize_onnx(fp32, tmp / "int8.onnx", calibration_frames(None))
    return {name: load_counter(path, "cpu") for name, path in (("pytorch", checkpoint), ("onnx", fp32), ("int8", int8))}


def _speeds(scene, line, runtimes: dict, tmp: Path, rate: float, in_view: float) -> list[dict]:  # noqa: ANN001
    """Frames per second of `count_video` over the scene's MP4, per runtime and line method."""
    from pipeline.live.flow import LineCounting
    from pipeline.live.stream import Outputs, count_video
    from pipeline.live.walkers import write_video

    if not runtimes:
        return []
    video = tmp / f"walk-{rate:g}.mp4"
    write_video(video, scene)
    out = []
    for name, counter in runtimes.items():
        for method in ("no line", "tracks", "flux", "auto"):
            lines = LineCounting() if method == "no line" else LineCounting((line,), method)
            records = Outputs(str(tmp / "records.jsonl"), alerts_stdout=False)
            summary = count_video(str(video), counter, outputs=records, lines=lines, progress=False)
            fps = summary.frames / summary.seconds
            out.append({"arrivals": rate, "in_view": round(in_view, 1), "runtime": name, "method": method, "fps": fps})
    return out


if __name__ == "__main__":
    main()
