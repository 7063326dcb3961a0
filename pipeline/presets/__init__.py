"""Presets: named params fragments (``presets/<name>.yaml``) whose top-level sections replace those of params.yaml.

A preset is applied to the text of params.yaml, section by section: the other sections keep their
comments and layout, and the result is checked, key by key, as every stage will read it, before it
is written (atomically). `dvc repro` then re-runs what the replaced sections touch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pipeline.atomic import write_bytes
from pipeline.errors import ConfigError
from pipeline.params import dataset_config, load_params, run_config, section

PRESETS = Path(__file__).resolve().parents[2] / "presets"
SECTIONS = ("synth", "density", "run", "datasets", "model", "train", "evaluate")
_TOP = re.compile(r"^([A-Za-z_][\w-]*):", re.M)


def available() -> list[str]:
    """The names of the presets in the project's presets/ folder."""
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """A preset by name (``csrnet-shb``) or by path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    path = PRESETS / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError("preset", f"no preset {name!r} (known: {', '.join(available()) or 'none'})")
    return path


def load_preset(path: Path) -> dict[str, Any]:
    """The preset's sections, each a known section of params.yaml holding a mapping."""
    doc = load_params(path)
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        raise ConfigError(path, f"unknown section(s) {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    for name, value in doc.items():
        if not isinstance(value, dict):
            raise ConfigError(path, f"'{name}' must be a mapping of keys, got {value!r}")
    return doc


def check(params: dict[str, Any], where: str | Path) -> None:
    """Every section as the stages read it: a bad key is one `ConfigError` naming it, before anything is written."""
    from pipeline.density import DensityParams
    from pipeline.evaluate import evaluate_config
    from pipeline.model import ModelConfig
    from pipeline.synth import SynthConfig
    from pipeline.train import train_config

    section(params, "synth", SynthConfig, skip=("root",), where=str(where))
    section(params, "density", DensityParams, where=str(where))
    section(params, "model", ModelConfig, where=str(where))
    train_config(params)
    run_config(params)
    evaluate_config(params)
    for name in params.get("datasets") or {}:
        dataset_config(params, name, where=str(where))
    dataset = (params.get("train") or {}).get("dataset")
    if dataset is not None and dataset not in (params.get("datasets") or {}):
        raise ConfigError(where, f"train.dataset {dataset!r} is not in 'datasets'")


def apply_preset(name: str, params_file: str | Path = "params.yaml") -> list[str]:
    """Replace the sections of `params_file` that preset `name` has; returns their names."""
    path, params_file = preset_path(name), Path(params_file)
    preset = load_preset(path)
    text = params_file.read_text() if params_file.is_file() else ""
    merged = {**load_params(params_file), **preset} if text else dict(preset)
    check(merged, params_file)
    for key, value in preset.items():
        text = _replace_section(text, key, value, f"from presets/{path.name}" if path.parent == PRESETS else str(path))
    write_bytes(params_file, text.encode())
    return list(preset)


def _replace_section(text: str, key: str, value: dict, source: str) -> str:
    """`text` with the top-level block `key:` (up to the next top-level key) replaced by `value`, or it appended."""
    body = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False)
    first, _, rest = body.partition("\n")
    block = f"{first}  # {source}\n{rest}"
    starts = [(m.start(), m.group(1)) for m in _TOP.finditer(text)]
    for i, (start, name) in enumerate(starts):
        if name == key:
            end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
            tail = "\n" if end < len(text) else ""
            return text[:start] + block + tail + text[end:]
    return text + ("" if text.endswith("\n") or not text else "\n") + ("\n" if text else "") + block
