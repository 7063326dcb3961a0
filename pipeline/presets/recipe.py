"""A shipped model from a preset, outside DVC's outputs: stores, training, and the slim checkpoint.

Why: the model a fresh clone proposes and counts with (``weights/``) must be
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
validation, the last epoch of the cosine schedule at 0.60; weights/README.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.build import build_dataset
from pipeline.checkpoint import load_checkpoint, save_checkpoint
from pipeline.density import DensityParams
from pipeline.errors import ConfigError
from pipeline.model import ModelConfig
from pipeline.params import RunConfig, dataset_config, section
from pipeline.presets import load_preset, preset_path
from pipeline.train import train, train_config

SHIPPED_KEYS = ("model", "model_config", "train_config", "history", "epoch", "best_mae", "fingerprint")


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


def ship(checkpoint: str | Path, out: str | Path) -> str:
    """Write the shipped subset of a training checkpoint to `out` atomically; its sha256."""
    state = load_checkpoint(checkpoint)
    save_checkpoint(out, **{k: state[k] for k in SHIPPED_KEYS if k in state})
    with open(out, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def run_recipe(
    preset: str, work: str | Path, out: str | Path, *, run: RunConfig = RunConfig(), progress: bool | None = None
) -> dict:
    """Build the stores of `preset`, train on them into `work/models`, ship the last epoch to `out`.

    A rerun with ``run.resume`` continues a killed training from ``work/models/last.pt``.
    Returns the training summary with the shipped file's ``sha256``.
    """
    work = Path(work)
    params = load_preset(preset_path(preset))
    stores = recipe_stores(params, work, run.workers)
    summary = train(
        stores,
        work / "models",
        train_config(params),
        section(params, "model", ModelConfig),
        run=run,
        live_dir=work / "live",
        progress=progress,
    )
    summary["sha256"] = ship(work / "models" / "last.pt", out)
    summary["stores"] = [str(s) for s in stores]
    return summary
