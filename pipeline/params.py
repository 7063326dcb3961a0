"""Reading ``params.yaml`` into the library's config objects, checked key by key.

This module imports nothing heavy: every stage reads its params through it, and
a stage's DVC dependencies are the modules it imports (tests/test_dvc_deps.py).
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError

DEVICE_SPEC = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_spec(spec: str) -> None:
    """Refuse a device spec that names no device, before anything is built (see `pipeline.device`)."""
    if not DEVICE_SPEC.fullmatch(spec):
        raise ConfigError("device", f"must be auto, cpu, cuda or cuda:N, got {spec!r}")


@dataclass(frozen=True)
class RunConfig:
    """How to run, not what is computed: the ``run:`` section, which no stage hashes.

    On the CPU none of these changes a result (tests/test_numerics.py checks
    threads and workers), so changing one never re-runs a stage or invalidates a
    checkpoint. ``device`` is the exception by nature: a GPU computes in other
    arithmetic, so the committed metrics are the CPU's.
    """

    workers: int = 1  # density: worker processes
    threads: int | None = None  # torch intra-op threads; None = torch's default (one per core)
    loader_workers: int = 0  # training: DataLoader worker processes
    resume: bool = False  # training: continue models/last.pt of a killed run (same data and settings)
    device: str = "auto"  # auto | cpu | cuda | cuda:N (pipeline/device.py)
    cache_dir: str | None = None  # decoded-image cache (pipeline/cache.py); None: a temporary one per run
    eval_batch: int = 8  # evaluation: images of one size per forward pass (the same bits for any value)

    def __post_init__(self) -> None:
        check_device_spec(self.device)
        for key, least in (("workers", 1), ("threads", 1), ("loader_workers", 0), ("eval_batch", 1)):
            value = getattr(self, key)
            if value is not None and value < least:
                raise ConfigError(key, f"must be at least {least}, got {value}")


def yaml_problem(exc: Exception) -> str:
    """A YAML error as one line: the problem and where (PyYAML's own message spans several)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The whole params file as a dict."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(path, f"cannot read parameters ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"cannot read parameters ({yaml_problem(exc)})") from None
    if not isinstance(doc, dict):
        raise ConfigError(path, "expected a mapping of sections")
    return doc


def section(
    params: dict[str, Any],
    name: str,
    cls: type,
    skip: tuple[str, ...] = (),
    where: str = "params.yaml",
    *,
    only: tuple[str, ...] | None = None,
    optional: tuple[str, ...] = (),
):
    """Build dataclass `cls` from ``params[name]``, checking every key's name, type and choices.

    Every field of `cls` must be set (those of `only`, where the section holds
    a part of them), except the `optional` ones: params.yaml is the one source
    of every number, and a dataclass default never stands in for a missing key.
    `skip` names keys of the section that other code reads (paths, dataset names).
    A field annotated ``Literal[...]`` only takes those values.
    """
    raw = params.get(name) or {}
    if not isinstance(raw, dict):
        raise ConfigError(where, f"'{name}' must be a mapping of keys, got {raw!r}")
    raw = {k: v for k, v in raw.items() if k not in skip}
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)} if only is None else set(only)
    unknown = sorted(set(raw) - known)
    if unknown:
        listed = f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"
        raise ConfigError(where, f"unknown key(s) in '{name}': {listed}")
    for key, value in raw.items():
        problem = _type_problem(value, hints[key])
        if problem:
            raise ConfigError(where, f"{name}.{key} {problem}, got {value!r}")
    missing = [f.name for f in fields(cls) if f.name in known and f.name not in raw and f.name not in optional]
    if missing:
        raise ConfigError(where, f"{name} needs {', '.join(missing)} (every key is set here, none defaults)")
    try:
        return cls(**raw)
    except ConfigError as exc:  # a range check in the config's __post_init__: `where` is its key
        raise ConfigError(where, f"{name}.{exc.where} {exc.problem}") from None


# what each plain annotation accepts, and how a refusal names it; bools are not numbers here
_PLAIN = {
    type(None): ("null", lambda v: v is None),
    float: ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    int: ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    bool: ("true or false", lambda v: isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
}


def _type_problem(value: Any, hint: Any) -> str | None:
    """Why `value` does not fit the annotation `hint`, or None when it does."""
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    problems = []
    for option in typing.get_args(hint) if union else (hint,):
        if typing.get_origin(option) is typing.Literal:
            choices = typing.get_args(option)
            name, fits = "one of " + ", ".join(map(str, choices)), value in choices and not isinstance(value, bool)
        elif typing.get_origin(option) is list:
            (item,) = typing.get_args(option)
            name = f"a list of {_PLAIN[item][0].removeprefix('a ')}s"
            fits = isinstance(value, list) and bool(value) and all(_PLAIN[item][1](v) for v in value)
        elif option is dict:
            name, fits = "a mapping", isinstance(value, dict)
        elif option in _PLAIN:
            name, fits = _PLAIN[option][0], _PLAIN[option][1](value)
        else:  # pragma: no cover - a field type this checker does not know is a programming error
            raise TypeError(f"cannot check a params value against {option!r}")
        if fits:
            return None
        problems.append(name)
    return "must be " + " or ".join(problems)


@dataclass(frozen=True)
class DatasetConfig:
    """One ``datasets:`` entry: a density stage (and a report) per split of `format` under `root`."""

    format: str
    root: str
    splits: list[str]
    options: dict | None = None  # the reader's options, e.g. {fold: 1} for ucf_cc_50


def dataset_config(params: dict[str, Any], name: str, where: str = "params.yaml") -> DatasetConfig:
    """``datasets.<name>``, checked key by key like every other section (a typo is one line, not a traceback)."""
    datasets = params.get("datasets")
    if not isinstance(datasets, dict):
        raise ConfigError(where, f"'datasets' must be a mapping of dataset names, got {datasets!r}")
    if name not in datasets:
        raise ConfigError(where, f"no dataset {name!r} in 'datasets' (known: {', '.join(map(str, datasets))})")
    entry = f"datasets.{name}"
    return section({entry: datasets[name]}, entry, DatasetConfig, where=where, optional=("options",))


def run_config(params: dict[str, Any]) -> RunConfig:
    return section(params, "run", RunConfig)


def value(params: dict[str, Any], dotted: str, kind: type = str, where: str = "params.yaml") -> Any:
    """The key `dotted` (``"train.dataset"``) of params.yaml, required and of `kind`; else one `ConfigError`."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(where, f"{dotted} is missing")
        node = node[part]
    if _type_problem(node, kind):
        raise ConfigError(where, f"{dotted} {_type_problem(node, kind)}, got {node!r}")
    return node


def train_store(params: dict[str, Any], split: str) -> Path:
    """The density store a split of the training dataset lives in."""
    return Path("data/density") / value(params, "train.dataset") / f"{split}.h5"
