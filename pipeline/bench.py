"""Benchmarks, and the classic CSRNet recipe they (and the tests) compare against."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.ndimage
import scipy.spatial


def classic_density(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The CSRNet ``make_dataset`` recipe: one full-image ``gaussian_filter`` per head.

    Kept verbatim in spirit (KD-tree k=4, sigma = 0.1 x sum of 3 distances, lone
    head mean(shape)/4) as the reference for parity; O(heads x H x W), slow.
    Points must lie inside the image.
    """
    gt = np.zeros(shape, dtype=np.float32)
    for x, y in points:
        gt[int(y), int(x)] = 1
    density = np.zeros(gt.shape, dtype=np.float32)
    gt_count = np.count_nonzero(gt)
    if gt_count == 0:
        return density
    pts = np.array(list(zip(np.nonzero(gt)[1], np.nonzero(gt)[0], strict=True)))
    tree = scipy.spatial.KDTree(pts.copy(), leafsize=2048)
    distances, _ = tree.query(pts, k=4)
    for i, pt in enumerate(pts):
        pt2d = np.zeros(gt.shape, dtype=np.float32)
        pt2d[pt[1], pt[0]] = 1.0
        if gt_count > 1:
            sigma = (distances[i][1] + distances[i][2] + distances[i][3]) * 0.1
        else:
            sigma = np.average(np.array(gt.shape)) / 2.0 / 2.0
        density += scipy.ndimage.gaussian_filter(pt2d, sigma, mode="constant")
    return density


def _clustered_points(rng: np.random.Generator, n: int, shape: tuple[int, int]) -> np.ndarray:
    from pipeline.synth import _head_positions

    return _head_positions(rng, n, shape[0], shape[1], horizon=shape[0] // 8)


def bench_density_map(
    shape: tuple[int, int] = (768, 1024), heads: int = 450, seed: int = 0, repeats: int = 50
) -> dict[str, float]:
    """Classic recipe (once) vs `density_map` (best of `repeats`) on one seeded image."""
    from pipeline.density import density_map

    pts = _clustered_points(np.random.default_rng(seed), heads, shape)
    density_map(pts, shape)  # compile / load the numba cache outside the timing
    fast = min(_timed(density_map, pts, shape)[1] for _ in range(repeats))
    ours, _ = _timed(density_map, pts, shape)
    ref, slow = _timed(classic_density, pts, shape)
    return {
        "heads": float(len(pts)),
        "classic_s": slow,
        "headcount_s": fast,
        "ratio": slow / fast,
        "max_abs_diff": float(np.abs(ours.astype(np.float64) - ref).max()),
    }


def make_bench_split(root: Path, images: int, shape: tuple[int, int], heads: int, seed: int = 0) -> Path:
    """A ShanghaiTech-layout split with `images` images of `shape` and ~`heads` heads each.

    The density step only reads image headers, so one JPEG's bytes are reused;
    every ground-truth file is its own seeded clustered crowd.
    """
    import io

    from PIL import Image

    from pipeline.readers.shanghaitech import gt_mat_bytes

    base = root / "test_data"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "ground-truth").mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (shape[1], shape[0]), (90, 90, 90)).save(buf, format="JPEG")
    rng = np.random.default_rng(seed)
    for i in range(1, images + 1):
        n = int(rng.integers(int(heads * 0.8), int(heads * 1.2) + 1))
        (base / "images" / f"IMG_{i}.jpg").write_bytes(buf.getvalue())
        (base / "ground-truth" / f"GT_IMG_{i}.mat").write_bytes(gt_mat_bytes(_clustered_points(rng, n, shape)))
    return root


def bench_split(
    images: int = 482, shape: tuple[int, int] = (768, 1024), heads: int = 500, workers: int = 2
) -> dict[str, float]:
    """End-to-end time for a ShanghaiTech-Part-A-sized split: read, density, HDF5 write."""
    import tempfile

    from pipeline.build import build_split

    with tempfile.TemporaryDirectory(prefix="headcount-bench-") as tmp:
        root = make_bench_split(Path(tmp) / "data", images, shape, heads)
        out = Path(tmp) / "test.h5"
        seconds = _timed(build_split, "shanghaitech", root, "test", out, workers=workers, progress=False)[1]
        size = out.stat().st_size
    return {"images": float(images), "workers": float(workers), "seconds": seconds, "mb": size / 1e6}


def make_synthetic_store(root: Path, images: int, size: tuple[int, int], seed: int = 0) -> Path:
    """A store over `images` synthetic crowd JPEGs of `size` (W, H): what the loader and training benches read."""
    from pipeline.build import build_split
    from pipeline.synth import SynthConfig, make_dataset

    w, h = size
    make_dataset(root / "raw", SynthConfig(train=images, test=0, width=w, height=h, seed=seed), progress=False)
    out = root / "train.h5"
    build_split("shanghaitech", root / "raw", "train", out, progress=False)
    return out


def bench_loader(
    workers: int = 2,
    images: int = 64,
    size: tuple[int, int] = (1024, 768),
    crop: tuple[int, int] = (384, 512),
    batch: int = 16,
    epochs: int = 2,
    cache_dir: str | Path | None = None,
) -> Iterator[dict[str, float]]:
    """Crops per second out of the training loader, one dict per epoch (the first decodes, later ones are steady).

    The same path `train` runs: `CrowdDataset` over a store, the shared decoded
    cache, persistent workers, `EpochBatches`. Only the loader is timed: the
    crops are consumed as they arrive.
    """
    import tempfile

    import torch

    from pipeline.cache import decoded_cache
    from pipeline.data import CrowdDataset, EpochBatches, make_loader

    with tempfile.TemporaryDirectory(prefix="headcount-bench-") as tmp:
        store = make_synthetic_store(Path(tmp), images, size)
        with decoded_cache(cache_dir) as cache:
            dataset = CrowdDataset(store, crop=crop, flip=True, cache=cache)
            sampler = EpochBatches(len(dataset), batch, seed=0)
            loader = make_loader(dataset, sampler, workers, torch.device("cpu"))
            for epoch in range(epochs):
                sampler.set_epoch(epoch)
                t, n = time.perf_counter(), 0
                for b in loader:
                    n += len(b["image"])
                seconds = time.perf_counter() - t
                rate = n / seconds
                yield {"epoch": epoch + 1, "img_per_s": rate, "images": n, "seconds": seconds, "workers": workers}


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def plain_csrnet():
    """CSRNet as the public CSRNet-pytorch code writes it, for timing comparisons only."""
    from torch import nn

    def make_layers(cfg, in_channels, dilation):
        layers = []
        d = 2 if dilation else 1
        for v in cfg:
            if v == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                conv = nn.Conv2d(in_channels, v, kernel_size=3, padding=d, dilation=d)
                layers += [conv, nn.ReLU(inplace=True)]
                in_channels = v
        return nn.Sequential(*layers)

    class PlainCSRNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frontend = make_layers([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512], 3, False)
            self.backend = make_layers([512, 512, 512, 256, 128, 64], 512, True)
            self.output_layer = nn.Conv2d(64, 1, kernel_size=1)

        def forward(self, x):
            return self.output_layer(self.backend(self.frontend(x)))

    return PlainCSRNet()


def bench_model(
    repeats: int = 3, train_shape=(384, 512), infer_shape=(768, 1024), demo_shape=(8, 128, 128)
) -> dict[str, float]:
    """Full-width CSRNet: one train step (batch 1) and one inference, headcount vs plain PyTorch.

    headcount's train step is timed in both numerics modes (`pipeline.numerics`):
    ``fast`` (oneDNN) and ``reproducible`` (the same bits on any CPU), plus the
    demo's own step (width 0.25 with BatchNorm, batch 8 of 128x128 crops), which
    is what the pinning costs `dvc repro`. All run in one process, interleaved,
    best of `repeats`.
    """
    import torch

    from pipeline.data import to_model_input
    from pipeline.model import CSRNet
    from pipeline.numerics import configure
    from pipeline.predict import optimize_for_inference, predict_density
    from pipeline.train import TrainConfig, make_optimizer, train_step

    torch.manual_seed(0)
    ours, plain, demo = CSRNet(1.0), plain_csrnet(), CSRNet(0.25, batch_norm=True)
    x = torch.randn(1, 3, *train_shape)
    y = torch.rand(1, 1, train_shape[0] // 8, train_shape[1] // 8)
    batch, height, width = demo_shape
    demo_x, demo_y = torch.randn(batch, 3, height, width), torch.rand(batch, 1, height // 8, width // 8)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=1e-7, momentum=0.95)
    opt_plain = torch.optim.SGD(plain.parameters(), lr=1e-7, momentum=0.95)
    # each mode with the optimiser `train` gives it (reproducible: pipeline.adam)
    opt_demo = make_optimizer(demo, TrainConfig(lr=1e-3, numerics="fast"))
    opt_demo_exact = make_optimizer(demo, TrainConfig(lr=1e-3, numerics="reproducible"))
    criterion = torch.nn.MSELoss(reduction="sum")

    def plain_step():
        loss = criterion(plain(x), y)
        opt_plain.zero_grad()
        loss.backward()
        opt_plain.step()

    image = np.random.default_rng(0).integers(0, 256, (*infer_shape, 3), dtype=np.uint8)
    tensor = to_model_input(torch.from_numpy(image)[None], torch.device("cpu"))

    def plain_infer():
        with torch.no_grad():
            plain.eval()(tensor).sum()

    def in_mode(mode, fn):
        def run():
            configure(mode)
            try:
                return fn()
            finally:
                configure("fast")

        return run

    configure("fast")
    frozen = optimize_for_inference(ours)  # what `count` and the annotation tool run
    cases = {
        "train_step_s": lambda: (ours.train(), train_step(ours, opt_ours, x, y, 1.0)),
        "reproducible_train_step_s": in_mode(
            "reproducible", lambda: (ours.train(), train_step(ours, opt_ours, x, y, 1.0))
        ),
        "plain_train_step_s": lambda: (plain.train(), plain_step()),
        "demo_step_s": lambda: train_step(demo.train(), opt_demo, demo_x, demo_y, 1 / batch),
        "reproducible_demo_step_s": in_mode(
            "reproducible", lambda: train_step(demo.train(), opt_demo_exact, demo_x, demo_y, 1 / batch)
        ),
        "inference_s": lambda: predict_density(frozen, image).sum(),
        "reproducible_inference_s": in_mode("reproducible", lambda: predict_density(ours.eval(), image).sum()),
        "plain_inference_s": plain_infer,
    }
    best = {k: float("inf") for k in cases}
    for fn in cases.values():  # warm-up: oneDNN picks its kernels on first use
        fn()
    for _ in range(repeats):
        for name, fn in cases.items():
            best[name] = min(best[name], _timed(fn)[1])
    configure("reproducible")
    return best


@dataclass(frozen=True)
class TrainCase:
    """One training set-up that `bench_train_device` times."""

    name: str
    batch: int
    precision: str
    channels_last: bool
    compile: bool
    optimizer: str


TRAIN_CASES = (
    TrainCase("reference", 1, "fp32", False, False, "sgd"),  # CSRNet-pytorch: fp32, batch 1, SGD
    TrainCase("fp32", 16, "fp32", False, False, "adam"),
    TrainCase("bf16+channels_last", 16, "bf16", True, False, "adam"),
    TrainCase("fast", 16, "bf16", True, True, "adam"),  # train.precision bf16, channels_last, compile
)


def bench_train_device(
    device: str = "auto",
    *,
    width: float = 1.0,
    crop: tuple[int, int] = (384, 512),
    images: int = 64,
    size: tuple[int, int] = (1024, 768),
    steps: int = 30,
    warmup: int = 5,
    loader_workers: int | None = None,
    compile: bool = True,
    infer: tuple[tuple[int, int, int], ...] = ((768, 1024, 1), (1080, 1920, 8)),
) -> Iterator[dict]:
    """Training and inference images per second on `device`, one dict per case.

    Each training case is timed twice: the model alone on a batch already on the
    device (``img_per_s``), and end to end (``e2e_img_per_s``): `CrowdDataset`
    crops of synthetic `size` JPEGs through the training loader, normalised on
    the device, as `train` runs them. Inference cases are ``(height, width, batch)``
    in fp32 and in bf16 + channels_last (+ compile when `compile`).
    """
    import os
    import tempfile

    import torch

    from pipeline.cache import decoded_cache
    from pipeline.data import CrowdDataset, EpochBatches, make_loader, to_model_input
    from pipeline.device import autocast, resolve_device, synchronize
    from pipeline.model import STRIDE, CSRNet
    from pipeline.numerics import configure
    from pipeline.train import train_step

    dev = resolve_device(device)
    configure("fast", None, dev.type)
    workers = min(os.cpu_count() or 1, 16) if loader_workers is None else loader_workers
    cases = [c for c in TRAIN_CASES if compile or not c.compile]

    def peak_gib() -> float | None:
        return torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None

    def reset_peak() -> None:
        if dev.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)

    def timed(step, n: int) -> float:
        synchronize(dev)
        t = time.perf_counter()
        for _ in range(n):
            step()
        synchronize(dev)
        return time.perf_counter() - t

    with tempfile.TemporaryDirectory(prefix="headcount-bench-") as tmp, decoded_cache(None) as cache:
        store = make_synthetic_store(Path(tmp), images, size)
        ids = list(CrowdDataset(store).ids)
        per_epoch = (warmup + steps) * max(c.batch for c in cases)
        dataset = CrowdDataset(store, crop=crop, flip=True, ids=ids * -(-per_epoch // len(ids)), cache=cache)
        for _ in make_loader(CrowdDataset(store, cache=cache), EpochBatches(len(ids), 1, 0), workers, dev):
            pass  # decode every image once, outside the timings
        for case in cases:
            reset_peak()
            torch.manual_seed(0)
            fmt = torch.channels_last if case.channels_last else torch.contiguous_format
            model = CSRNet(width).to(dev, memory_format=fmt).train()
            opt = (
                torch.optim.SGD(model.parameters(), lr=1e-7, momentum=0.95)
                if case.optimizer == "sgd"
                else torch.optim.Adam(model.parameters(), lr=1e-5)
            )
            net = torch.compile(model) if case.compile else model
            loader = make_loader(dataset, EpochBatches(len(dataset), case.batch, 0), workers, dev)
            batches = iter(loader)

            def from_loader(net=net, opt=opt, case=case, batches=batches) -> None:
                b = next(batches)
                x = to_model_input(b["image"], dev, case.channels_last)
                train_step(net, opt, x, b["target"].to(dev, non_blocking=True), 1 / case.batch, case.precision)

            first = next(iter(make_loader(dataset, EpochBatches(len(dataset), case.batch, 1), 0, dev)))
            x, y = to_model_input(first["image"], dev, case.channels_last), first["target"].to(dev)

            def on_device(net=net, opt=opt, case=case, x=x, y=y) -> None:
                train_step(net, opt, x, y, 1 / case.batch, case.precision)

            timed(from_loader, warmup)  # compiles, picks cuDNN kernels, starts the workers
            e2e = timed(from_loader, steps)
            alone = timed(on_device, steps)
            yield {
                "case": case.name,
                "phase": "train",
                "device": str(dev),
                "batch": case.batch,
                "crop": f"{crop[1]}x{crop[0]}",
                "precision": case.precision,
                "channels_last": case.channels_last,
                "compile": case.compile,
                "img_per_s": steps * case.batch / alone,
                "e2e_img_per_s": steps * case.batch / e2e,
                "loader_workers": workers,
                "peak_gib": peak_gib(),
            }
            del net, model, opt, loader, batches
        for h, w, b in infer:
            for precision, channels_last, compiled in (
                ("fp32", False, False),
                ("bf16", True, False),
                *((("bf16", True, True),) if compile else ()),
            ):
                reset_peak()
                torch.manual_seed(0)
                fmt = torch.channels_last if channels_last else torch.contiguous_format
                model = CSRNet(width).to(dev, memory_format=fmt).eval()
                net = torch.compile(model) if compiled else model
                x = torch.randn(b, 3, -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE, device=dev)
                x = x.contiguous(memory_format=fmt)

                def infer_step(net=net, x=x, precision=precision) -> None:
                    with torch.inference_mode(), autocast(dev, precision):
                        net(x).sum()

                timed(infer_step, warmup)
                seconds = timed(infer_step, steps)
                yield {
                    "case": "+".join([precision] + ["channels_last"] * channels_last + ["compile"] * compiled),
                    "phase": "inference",
                    "device": str(dev),
                    "batch": b,
                    "size": f"{w}x{h}",
                    "precision": precision,
                    "channels_last": channels_last,
                    "compile": compiled,
                    "img_per_s": steps * b / seconds,
                    "peak_gib": peak_gib(),
                }
                del net, model, x


def bench_stream(
    checkpoint: str | Path | None = None,
    *,
    size: tuple[int, int] = (640, 360),
    frames: int = 250,
    fps: float = 25.0,
    live: bool = False,
    runtime: str = "int8",
    width: float = 0.25,
    threads: int | None = None,
) -> dict:
    """`count` end to end (decode, model, zones, writing) on a synthetic crowd video of `size` (W, H).

    `runtime`: ``int8`` / ``onnx`` (ONNX Runtime, exported here) or ``pytorch``.
    Without a checkpoint an untrained model of the demo's shape (`width`, BatchNorm)
    is timed: speed does not depend on the weights; ``mae_vs_truth`` then means nothing.
    `live` replays the video at `fps` as a camera would (frames drop when the model is slower).
    """
    import json
    import tempfile
    from dataclasses import asdict

    import torch

    from pipeline.checkpoint import save_checkpoint
    from pipeline.counter import OnnxCounter, TorchCounter, export_onnx, is_onnx, quantize_onnx
    from pipeline.model import CSRNet, ModelConfig
    from pipeline.stream import count_video, decode
    from pipeline.synth_video import make_video
    from pipeline.zones import Zone

    w, h = size
    with tempfile.TemporaryDirectory(prefix="headcount-bench-") as tmp:
        tmp = Path(tmp)
        video = tmp / "crowd.mp4"
        truth = make_video(video, frames=frames, size=size, fps=fps)
        if checkpoint is None:
            torch.manual_seed(0)
            cfg = ModelConfig(width=width, batch_norm=True)
            checkpoint = tmp / "untrained.pt"
            save_checkpoint(checkpoint, model=CSRNet(width, True).state_dict(), model_config=asdict(cfg))
        if threads:
            torch.set_num_threads(threads)
        if is_onnx(checkpoint):
            counter = OnnxCounter(checkpoint, threads)
        elif runtime == "pytorch":
            counter = TorchCounter(checkpoint, torch.device("cpu"))
        else:
            model = export_onnx(checkpoint, tmp / "model.onnx")
            if runtime == "int8":
                calibration = [f.image for f in decode(str(video))][:: max(frames // 8, 1)]
                model = quantize_onnx(model, tmp / "model-int8.onnx", calibration)
            counter = OnnxCounter(model, threads)
        halves = [
            Zone("left", np.array([[0, 0], [w / 2, 0], [w / 2, h], [0, h]], float)),
            Zone("right", np.array([[w / 2, 0], [w, 0], [w, h], [w / 2, h]], float)),
        ]
        out = tmp / "counts.jsonl"
        s = count_video(str(video), counter, out=str(out), zones=halves, alerts_stdout=False, live=live, progress=False)
        records = [json.loads(line) for line in out.read_text().splitlines()]
    counted = np.array([r["count"] for r in records])
    return {
        "size": f"{w}x{h}",
        "counter": counter.name + (":int8" if runtime == "int8" and not is_onnx(checkpoint) else ""),
        "live": live,
        "source_fps": fps,
        **s.as_dict(),
        "mae_vs_truth": float(np.abs(counted - truth[[r["frame"] for r in records]]).mean()) if records else None,
    }
