"""Training CSRNet on a density store: seeded, deterministic on CPU, resumable, DDP-ready.

Every random choice derives from ``(seed, epoch, index)``, so an epoch is a pure
function of the weights it starts from: a resumed run ends with the same
weights as an uninterrupted one, and ``torchrun --nproc_per_node N`` splits each
global batch over N processes without changing what is computed.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
import os
import random
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from pipeline import strictjson
from pipeline.adam import Adam
from pipeline.cache import decoded_cache
from pipeline.checkpoint import load_checkpoint, save_checkpoint
from pipeline.config.train import TrainConfig
from pipeline.decoder import decode
from pipeline.device import Precision, autocast, resolve_device
from pipeline.errors import ConfigError
from pipeline.geometry import STRIDE
from pipeline.metrics import mae
from pipeline.model import ModelConfig, build_model, to_model_input
from pipeline.numerics import configure
from pipeline.params import RunConfig
from pipeline.runner import Runner
from pipeline.store import read_split
from pipeline.training_data import EpochBatches, StoreUnion, TrainingCrops, make_loader


def _distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size) under torchrun, (0, 1) otherwise; NCCL between GPUs, gloo between CPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def _warn_if_crops_pad_every_image(stores: list, splits: list, crop: tuple[int, int]) -> None:
    """A crop larger than every training image is all padding past their edges: said once, not silent."""
    sizes = [hw for s, (ids, _) in zip(stores, splits, strict=True) for hw in read_split(s).sizes(ids).values()]
    if not sizes:
        return
    h, w = max(hw[0] for hw in sizes), max(hw[1] for hw in sizes)
    if crop[0] > h or crop[1] > w:
        warnings.warn(
            f"train.crop_height x crop_width {crop[0]}x{crop[1]} is larger than every training image "
            f"(at most {h}x{w}): each crop is padded with zeros past the image",
            stacklevel=2,
        )


def split_ids(ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded train/validation split of image ids (validation may be empty)."""
    order = np.random.default_rng(seed).permutation(len(ids))
    n_val = int(round(len(ids) * fraction)) if len(ids) > 1 else 0
    val = sorted((ids[i] for i in order[:n_val]), key=ids.index)
    return [i for i in ids if i not in set(val)], val


def _digest(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fingerprint(store: str | Path | Sequence[str | Path], cfg: TrainConfig, model_cfg: ModelConfig) -> str:
    """What a checkpoint was trained from: resuming onto other data or settings is refused.

    The stores' bytes are hashed (stores are byte-reproducible), so re-annotated
    points or new kernel parameters both count as other data.
    """
    stores = _stores(store)
    data: str | list[str] = _digest(stores[0]) if len(stores) == 1 else [_digest(s) for s in stores]
    doc = {"store": data, "train": asdict(cfg), "model": asdict(model_cfg)}
    return hashlib.sha256(strictjson.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _stores(store: str | Path | Sequence[str | Path]) -> list[Path]:
    return [Path(store)] if isinstance(store, (str, Path)) else [Path(s) for s in store]


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of an epoch; a pure function of it, so resuming needs no scheduler state."""
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))
    raise ConfigError("schedule", f"must be cosine or constant, got {cfg.schedule!r}")


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device_type: str = "cpu") -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        if cfg.numerics == "reproducible" and device_type == "cpu":  # torch.sqrt is MKL's, by CPU vendor
            return Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ConfigError("optimizer", f"must be adam or sgd, got {cfg.optimizer!r}")


def predict_counts(
    model: torch.nn.Module,
    dataset: TrainingCrops | StoreUnion,
    *,
    device: torch.device = torch.device("cpu"),
    precision: Precision = "fp32",
    channels_last: bool = False,
    batch_size: int = 1,
    target: str = "density",
    stride: int = STRIDE,
) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, true) counts over whole images, through the `Runner` that evaluation and `count` use;
    a FIDT model counts its decoded heads (`pipeline.decoder.decode`)."""
    runner = Runner(model, device, precision, channels_last=channels_last, batch=batch_size)
    samples = (dataset[i] for i in range(len(dataset)))
    outputs = runner.densities((float(s["count"]), s["image"]) for s in samples)
    counted = [(decode(d, target, stride).count, n) for n, d in outputs]
    return np.array([p for p, _ in counted]), np.array([n for _, n in counted])


def train_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    images: torch.Tensor,
    targets: torch.Tensor,
    scale: float,
    precision: Precision = "fp32",
) -> torch.Tensor:
    """One optimisation step on the squared error summed over cells, times `scale`.

    Returns the loss as a tensor on the model's device: reading it as a number
    would make the host wait for the GPU on every step.
    """
    with autocast(images.device, precision):
        out = model(images)
    # per image first: a sum split by image is the same for any thread count, one long sum is not
    loss = ((out.float() - targets) ** 2).flatten(1).sum(1).sum() * scale
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def train(
    store: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    cfg: TrainConfig,
    model_cfg: ModelConfig,
    *,
    run: RunConfig = RunConfig(),
    live_dir: str | Path | None = None,
    progress: bool | None = None,
) -> dict:
    """Train on `store` (one, or several whose batches mix); write ``last.pt`` and ``best.pt`` to `out_dir` every epoch.

    With ``run.resume`` a killed run continues from ``last.pt``; a ``last.pt`` of
    other data or settings is refused (`ConfigError`) and left as it is.
    Returns a summary (epochs run in this call, best validation MAE).
    """
    with contextlib.ExitStack() as stack:  # the decoded-image cache lives as long as the run
        if model_cfg.output_stride != STRIDE and cfg.target != "fidt":
            problem = f"model.output_stride {model_cfg.output_stride} localizes heads: it needs train.target: fidt"
            raise ConfigError("params.yaml", problem)
        device = resolve_device(run.device)
        configure(cfg.numerics, run.threads, device.type)  # before torch's first operation
        seed_everything(cfg.seed)
        rank, world = _distributed(device)
        if cfg.batch_size % world:
            problem = f"train.batch_size {cfg.batch_size} must be divisible by {world} processes"
            raise ConfigError("params.yaml", problem)
        out_dir = Path(out_dir)
        model = build_model(model_cfg, exact=cfg.numerics == "reproducible").to(device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = make_optimizer(model, cfg, device.type)
        stores = _stores(store)
        if not stores:
            raise ConfigError("params.yaml", "train.dataset names no store")
        all_ids = [list(read_split(s)) for s in stores]  # first: a missing or foreign store is named as such
        fp = fingerprint(stores, cfg, model_cfg)
        splits = [split_ids(ids, cfg.val_fraction, cfg.seed) for ids in all_ids]  # each store held out alike
        n_train, n_val = sum(len(t) for t, _ in splits), sum(len(v) for _, v in splits)
        if n_train < cfg.batch_size:
            named = ", ".join(map(str, stores))
            raise ConfigError(
                "params.yaml",
                f"train.batch_size {cfg.batch_size} is more than the {n_train} training images of {named} "
                f"({n_val} held out by train.val_fraction {cfg.val_fraction})",
            )
        _warn_if_crops_pad_every_image(stores, splits, (cfg.crop_height, cfg.crop_width))
        cache = stack.enter_context(decoded_cache(run.cache_dir))
        train_parts = [
            TrainingCrops(
                s,
                crop=(cfg.crop_height, cfg.crop_width),
                flip=cfg.flip,
                seed=cfg.seed if k == 0 else (cfg.seed, k),  # the first store crops as a one-store run does
                ids=train_ids,
                cache=cache,
                target=cfg.target,
                stride=model_cfg.output_stride,
            )
            for k, (s, (train_ids, _)) in enumerate(zip(stores, splits, strict=True))
        ]
        val_parts = [TrainingCrops(s, ids=v or t, cache=cache) for s, (t, v) in zip(stores, splits, strict=True)]
        train_set = train_parts[0] if len(stores) == 1 else StoreUnion(train_parts)
        val_set = val_parts[0] if len(stores) == 1 else StoreUnion(val_parts)
        sampler = EpochBatches(len(train_set), cfg.batch_size, cfg.seed, rank, world)
        loader = make_loader(train_set, sampler, run.loader_workers, device)

        start, best, history = 0, float("inf"), []
        last = out_dir / "last.pt"
        if run.resume and last.exists():
            ck = load_checkpoint(last)
            if ck.get("fingerprint") != fp:
                raise ConfigError(
                    last,
                    "was trained on other data or settings; not resuming and not overwriting it "
                    "(set run.resume: false to start afresh, or restore the params it was trained with)",
                )
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            torch.set_rng_state(ck["torch_rng"])
            start, best, history = ck["epoch"] + 1, ck["best_mae"], ck["history"]

        ddp = model
        if world > 1:
            ids = [device.index] if device.type == "cuda" else None
            ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        step_model = torch.compile(ddp) if cfg.compile else ddp
        live = None  # opened after the first epoch: a run that fails on its data leaves the old plots alone

        epochs = tqdm(
            range(start, cfg.epochs),
            initial=start,
            total=cfg.epochs,
            desc="train",
            unit="epoch",
            disable=(rank != 0) or (None if progress is None else not progress),
        )
        for epoch in epochs:
            model.train()
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, epoch)
            sampler.set_epoch(epoch)
            total = torch.zeros((), dtype=torch.float64, device=device)
            for batch in loader:
                images = to_model_input(batch["image"], device, cfg.channels_last)
                targets = batch["target"].to(device, non_blocking=True)
                # sum over the global batch, divided by its size; DDP averages over ranks, hence x world
                loss = train_step(step_model, opt, images, targets, world / cfg.batch_size, cfg.precision)
                total += loss.double() / world
            train_loss = _all_sum(total, world) / max(len(sampler), 1)

            if rank == 0:
                pred, true = predict_counts(
                    model,
                    val_set,
                    device=device,
                    precision=cfg.precision,
                    channels_last=cfg.channels_last,
                    batch_size=cfg.batch_size,
                    target=cfg.target,
                    stride=model_cfg.output_stride,
                )
                val_mae = mae(pred, true)
                history.append({"epoch": epoch, "loss": train_loss, "val_mae": val_mae})
                if len(stores) > 1:  # each dataset's own error: the union's is the dense one's
                    ends = np.cumsum([len(p) for p in val_parts])
                    parts = zip(np.split(pred, ends[:-1]), np.split(true, ends[:-1]), strict=True)
                    history[-1]["val_mae_by_store"] = [mae(p, t) for p, t in parts]
                improved = val_mae < best
                best = min(best, val_mae)
                state = dict(
                    model=model.state_dict(),
                    optimizer=opt.state_dict(),
                    epoch=epoch,
                    best_mae=best,
                    history=history,
                    torch_rng=torch.get_rng_state(),
                    fingerprint=fp,
                    train_config=asdict(cfg),
                    model_config=asdict(model_cfg),
                )
                save_checkpoint(last, **state)
                if improved:
                    save_checkpoint(out_dir / "best.pt", **state)
                if live is None and live_dir is not None:
                    from dvclive import Live

                    live = Live(str(live_dir), resume=start > 0, dvcyaml=None, save_dvc_exp=False, report=None)
                    live.step = epoch
                if live is not None:
                    live.log_metric("train/loss", train_loss)
                    live.log_metric("val/mae", val_mae)
                    live.next_step()
                epochs.set_postfix(loss=f"{train_loss:.3g}", val_mae=f"{val_mae:.2f}")
            if world > 1:
                dist.barrier()
        if live is not None:
            live.end()
        if world > 1:
            # the DDP wrapper's reducer holds the process group: let it go now, while gloo's threads are
            # idle, not at interpreter exit, where its destructor joins a gloo thread that waits for the
            # GIL the exiting thread holds (a rank hung that way under make test)
            del ddp, step_model
            gc.collect()
            dist.destroy_process_group()
        ran = cfg.epochs - start
        return {"epochs": ran, "best_val_mae": best, "train_images": n_train, "val_images": n_val}


def _all_sum(value: torch.Tensor, world: int) -> float:
    """A per-rank sum added up over all ranks (on the ranks' device, as NCCL needs)."""
    if world > 1:
        value = value.clone()
        dist.all_reduce(value)
    return float(value)
