"""CSRNet training and inference speed: the CPU numerics table, and images per second per device."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.bench import timed
from pipeline.bench.loader import make_synthetic_store
from pipeline.bench.reference import plain_csrnet
from pipeline.cache import decoded_cache
from pipeline.device import autocast, resolve_device, synchronize
from pipeline.geometry import STRIDE, cells
from pipeline.model import CSRNet, to_model_input
from pipeline.numerics import configure, pin_cpu_kernels
from pipeline.runner import Runner, optimize_for_inference
from pipeline.train import TrainConfig, make_optimizer, train_step
from pipeline.training_data import EpochBatches, TrainingCrops, make_loader


def bench_model(
    repeats: int = 3, train_shape=(384, 512), infer_shape=(768, 1024), demo_shape=(8, 128, 128)
) -> dict[str, float]:
    """Full-width CSRNet: one train step (batch 1) and one inference, headcount vs plain PyTorch.

    headcount's train step is timed in both numerics modes (`pipeline.numerics`):
    ``fast`` (oneDNN) and ``reproducible`` (the same bits on any CPU), plus the
    demo's own step (width 0.25 with BatchNorm, batch 8 of 128x128 crops), which
    is what the pinning costs `dvc repro`. All run in one process, interleaved,
    best of `repeats`, so ATen's own kernels are pinned (`pin_cpu_kernels`) for
    both modes; the convolutions, most of a step, are oneDNN's best (fast) or
    the exact ones (reproducible).
    """
    pin_cpu_kernels()  # before the first operation: reproducible needs it, and both modes share the process
    torch.manual_seed(0)
    ours, plain, demo = CSRNet(1.0), plain_csrnet(), CSRNet(0.25, batch_norm=True)
    x = torch.randn(1, 3, *train_shape)
    y = torch.rand(1, 1, *cells(train_shape))
    batch, height, width = demo_shape
    demo_x, demo_y = torch.randn(batch, 3, height, width), torch.rand(batch, 1, *cells((height, width)))
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
            for model in (ours, demo):
                model.set_exact(mode == "reproducible")
            try:
                return fn()
            finally:
                configure("fast")
                for model in (ours, demo):
                    model.set_exact(False)

        return run

    configure("fast")
    frozen = Runner(optimize_for_inference(ours))  # what `count` and the annotation tool run
    exact = Runner(ours)
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
        "inference_s": lambda: frozen(image[None]).sum(),
        "reproducible_inference_s": in_mode("reproducible", lambda: (ours.eval(), exact(image[None]).sum())),
        "plain_inference_s": plain_infer,
    }
    best = {k: float("inf") for k in cases}
    for fn in cases.values():  # warm-up: oneDNN picks its kernels on first use
        fn()
    for _ in range(repeats):
        for name, fn in cases.items():
            best[name] = min(best[name], timed(fn)[1])
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
    shape: tuple[int, int] = (768, 1024),
    steps: int = 30,
    warmup: int = 5,
    loader_workers: int | None = None,
    compile: bool = True,
    infer: tuple[tuple[int, int, int], ...] = ((768, 1024, 1), (1080, 1920, 8)),
) -> Iterator[dict]:
    """Training and inference images per second on `device`, one dict per case.

    Each training case is timed twice: the model alone on a batch already on the
    device (``img_per_s``), and end to end (``e2e_img_per_s``): `TrainingCrops`
    crops of synthetic JPEGs of `shape` (H, W) through the training loader, normalised on
    the device, as `train` runs them. Inference cases are ``(height, width, batch)``
    in fp32 and in bf16 + channels_last (+ compile when `compile`).
    """
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
        store = make_synthetic_store(Path(tmp), images, shape)
        ids = list(TrainingCrops(store).ids)
        per_epoch = (warmup + steps) * max(c.batch for c in cases)
        dataset = TrainingCrops(store, crop=crop, flip=True, ids=ids * -(-per_epoch // len(ids)), cache=cache)
        for _ in make_loader(TrainingCrops(store, cache=cache), EpochBatches(len(ids), 1, 0), workers, dev):
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
                x = torch.randn(b, 3, *(c * STRIDE for c in cells((h, w))), device=dev)
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
