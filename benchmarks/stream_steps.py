"""Counting video on 2 cores, step by step: fps and MAE against the true counts for each runtime and scale (issue 24).

Each row is one `headcount bench stream` run (decode, model, two zones, writing) in its own
process, so an environment setting applies to it alone:

* ``ONEDNN_MAX_CPU_ISA=AVX2`` caps oneDNN (PyTorch's CPU convolutions) at AVX2: no AVX-512,
  no VNNI, no AMX, as on the AMD EPYC of the issue. Where oneDNN ran at that cap is read back from
  ``ONEDNN_VERBOSE`` (the ISA each convolution kernel was built for), not assumed.
* ONNX Runtime has no such switch (MLAS picks its kernels from CPUID), so its int8 rows use
  whatever the CPU has; the no-VNNI figure of a row is the PyTorch/AVX2 one, which on the issue's
  AMD machine was the slowest runtime (8.6 fps against int8's 20.3 at 640x360, scale 1).

    .venv/bin/python benchmarks/stream_steps.py [--checkpoint models/best.pt] [--frames 250] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2"}

# (label, size, runtime, scale, live, extra environment)
STEPS = [
    ("PyTorch fp32", "640x360", "pytorch", 1.0, False, {}),
    ("PyTorch fp32, oneDNN capped at AVX2", "640x360", "pytorch", 1.0, False, AVX2),
    ("ONNX Runtime fp32", "640x360", "onnx", 1.0, False, {}),
    ("ONNX Runtime int8", "640x360", "int8", 1.0, False, {}),
    ("PyTorch fp32, AVX2, --scale 0.5", "640x360", "pytorch", 0.5, False, AVX2),
    ("ONNX Runtime fp32, --scale 0.5", "640x360", "onnx", 0.5, False, {}),
    ("ONNX Runtime int8, --scale 0.5", "640x360", "int8", 0.5, False, {}),
    ("720p live: int8, --scale 0.5", "1280x720", "int8", 0.5, True, {}),
    ("720p live: PyTorch AVX2, --scale 0.5", "1280x720", "pytorch", 0.5, True, AVX2),
    ("720p live: PyTorch AVX2, --scale 0.25", "1280x720", "pytorch", 0.25, True, AVX2),
]


def bench(size: str, runtime: str, scale: float, live: bool, env: dict, checkpoint: str | None, frames: int) -> dict:
    args = [sys.executable, "-m", "pipeline", "bench", "stream", "--json", "--size", size, "--runtime", runtime]
    args += ["--scale", str(scale), "--frames", str(frames), *(["--live"] if live else [])]
    args += ["--checkpoint", checkpoint] if checkpoint else []
    out = subprocess.run(args, env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def onednn_isas(checkpoint: str) -> list[str]:
    """The ISAs oneDNN's convolution kernels ran with under the AVX2 cap (from its verbose log)."""
    code = (
        "import numpy as np, torch; from pipeline.infer.counter import TorchCounter; "
        f"c = TorchCounter({checkpoint!r}, torch.device('cpu')); "
        "[c(np.zeros((1, 360, 640, 3), np.uint8)) for _ in range(3)]"
    )
    env = {**os.environ, **AVX2, "ONEDNN_VERBOSE": "1"}
    log = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True).stdout
    kernels = {m.group(1) for m in re.finditer(r"onednn_verbose,[^\n]*?,exec,cpu,convolution,([^,]+),", log)}
    return sorted(kernels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="models/best.pt" if (ROOT / "models/best.pt").is_file() else None)
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--quick", action="store_true", help="the first and the int8 --scale 0.5 rows only")
    a = ap.parse_args()
    info = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in info if ln.startswith("flags")), [])
    isa = [f for f in flags if f.startswith(("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx"))]
    print(f"# {cpu}, {os.cpu_count()} cores, {' '.join(isa)}; weights {a.checkpoint or 'untrained'}")
    if a.checkpoint:
        print(f"# oneDNN convolutions under ONEDNN_MAX_CPU_ISA=AVX2: {', '.join(onednn_isas(a.checkpoint)) or '?'}")
    print("| step | size | fps | dropped | lag mean / max ms | MAE vs truth |\n|---|---|---|---|---|---|")
    steps = [STEPS[0], STEPS[6]] if a.quick else STEPS
    for label, size, runtime, scale, live, env in steps:
        r = bench(size, runtime, scale, live, env, a.checkpoint, a.frames)
        drop = f"{r['dropped'] / max(r['decoded'], 1):.0%}" if live else "-"
        lag = f"{r['lag_mean_s'] * 1e3:.0f} / {r['lag_max_s'] * 1e3:.0f}" if live and r["lag_max_s"] else "-"
        mae = f"{r['mae_vs_truth']:.2f}" if r["mae_vs_truth"] is not None else "-"
        print(f"| {label} | {size} | {r['fps']:.1f} | {drop} | {lag} | {mae} |", flush=True)


if __name__ == "__main__":
    main()
