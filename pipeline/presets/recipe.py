"""A shipped model from a preset, outside DVC's outputs: stores, training, and the slim checkpoint.

Why: the model a fresh clone proposes and counts with (``pipeline/weights/``) must be
rebuilt bit for bit by anyone holding the data, from one committed preset,
without touching the DVC pipeline, whose own model stays the synthetic demo's.
The preset's every ``datasets:`` entry with a ``train`` split is built with its
``density:`` section into ``work/density/<name>/``, exactly as the density stage
builds it, and the model trains on all of them at once (`pipeline.train`, each
store's validation share held out alike). The shipped file keeps what a reader
needs: weights, configs and the validation history, not the optimizer state.

The last epoch ships, not ``best.pt``: training picks ``best.pt`` by validation
count error, and a localizer's decoded count is a poor judge of its heads (on
photo-cpu the count-best epoch 4 finds heads at F1 0.54 at 8 px on ShanghaiTech A
validation, the last epoch of the cosine schedule at 0.60; pipeline/weights/README.md).

A FIDT model ships with its decoder tuned on the same validation images
(`tune_lmds`): the share of the map's maximum a peak needs, FIDTM's 100/255 made
for their models, is the one choice that decides how many heads a weak model's
faint peaks give. The model runs with the exact convolutions there, so the
choice, like the weights, is the same on any CPU.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from pipeline.build import build_dataset
from pipeline.checkpoint import load_checkpoint, save_checkpoint, trained_output
from pipeline.config.model import ModelConfig
from pipeline.config.train import TrainConfig, train_config
from pipeline.decoder import decode
from pipeline.errors import ConfigError
from pipeline.kernels import DensityParams
from pipeline.params import RunConfig, dataset_config, section
from pipeline.presets import dataset_roots, load_preset, preset_path, with_roots
from pipeline.runner import Runner
from pipeline.score import record_truth, score
from pipeline.store import read_split
from pipeline.train import split_ids, train

SHIPPED_KEYS = ("model", "model_config", "train_config", "history", "epoch", "best_mae", "fingerprint")
LMDS_GRID = tuple(round(0.05 + 0.025 * i, 3) for i in range(19))  # the shares tried: 0.05, 0.075, ..., 0.5
TUNE_RADIUS = 8.0  # px: the localization radius the choice maximises F1 at


def recipe_stores(params: dict, work: Path, workers: int = 1) -> list[Path]:
    """Build the train store of every dataset that has a train split; their paths, in preset order."""
    kernel = section(params, "density", DensityParams)
    stores = []
    for name in params.get("datasets") or {}:
        ds = dataset_config(params, name)
        if "train" in ds.splits:
            build_dataset(name, ds, work / "density" / name, params=kernel, workers=workers)
            stores.append(work / "density" / name / "train.h5")
    if not stores:
        raise ConfigError("preset", "no dataset with a train split")
    return stores


def tune_lmds(checkpoint: str | Path, stores: Sequence[str | Path], cfg: TrainConfig) -> tuple[float, float]:
    """(share, F1): the `LMDS_GRID` share with the best F1 within `TUNE_RADIUS` px over every store's
    validation images (those `train` held out with `cfg`), the smallest share of a tie."""
    runner = Runner.from_checkpoint(checkpoint, exact=True)
    target, stride, _ = trained_output(checkpoint)
    outputs, truth = {}, {}
    for n, path in enumerate(stores):
        store = read_split(path)
        _, val = split_ids(list(store), cfg.val_fraction, cfg.seed)
        for image_id, output in runner.densities((i, store.image(i)) for i in val):
            outputs[n, image_id], truth[n, image_id] = output, record_truth(store[image_id])
    best = (LMDS_GRID[0], -1.0)
    for share in LMDS_GRID:
        heads = {key: decode(output, target, stride, share) for key, output in outputs.items()}
        points, counts = {k: h.points for k, h in heads.items()}, {k: h.count for k, h in heads.items()}
        f1 = score(truth, points, counts, checkpoint, radii=(TUNE_RADIUS,))["localization"][f"r{TUNE_RADIUS:g}"]["f1"]
        if f1 > best[1]:
            best = (share, f1)
    return best


def ship(checkpoint: str | Path, out: str | Path, **extra: object) -> str:
    """Write the shipped subset of a training checkpoint, with `extra` keys, to `out` atomically; its sha256."""
    state = load_checkpoint(checkpoint)
    save_checkpoint(out, **{k: state[k] for k in SHIPPED_KEYS if k in state}, **extra)
    with open(out, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def run_recipe(
    preset: str,
    work: str | Path,
    out: str | Path,
    *,
    root: str | Path | None = None,
    run: RunConfig = RunConfig(),
    progress: bool | None = None,
) -> dict:
    """Build the stores of `preset`, train on them into `work/models`, ship the last epoch to `out`.

    `root` is the datasets folder the preset's dataset roots are under (`pipeline.presets.dataset_roots`).
    A rerun with ``run.resume`` continues a killed training from ``work/models/last.pt``.
    Returns the training summary with the shipped file's ``sha256``.
    """
    work = Path(work)
    params = load_preset(preset_path(preset))
    params = with_roots(params, dataset_roots(params, root))
    stores = recipe_stores(params, work, run.workers)
    cfg = train_config(params)
    summary = train(
        stores,
        work / "models",
        cfg,
        section(params, "model", ModelConfig),
        run=run,
        live_dir=work / "live",
        progress=progress,
    )
    last = work / "models" / "last.pt"
    extra = {}
    if cfg.target == "fidt":
        extra["lmds_relative"], summary["lmds_f1"] = tune_lmds(last, stores, cfg)
        summary["lmds_relative"] = extra["lmds_relative"]
    summary["sha256"] = ship(last, out, **extra)
    summary["stores"] = [str(s) for s in stores]
    return summary
