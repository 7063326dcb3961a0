"""Presets: named params fragments (``pipeline/presets/<name>.yaml``, shipped with the package) whose
top-level sections replace those of params.yaml.

A preset's ``datasets:`` roots are relative to a datasets folder the user names (``--root DIR``): a
preset is a recipe, and where a user keeps ShanghaiTech is theirs to say. A preset is applied to the
*text* of params.yaml: ruamel.yaml parses it (so quoted keys, flow style and comments are YAML, not
guesses), each replaced section's lines are exchanged for the preset's own (its comments kept), and every
other byte stays as written, comments above a section included. The text that will be written is then
read back and checked, key by key, as every stage will read it, before it is written (atomically).
Anchors and aliases in a replaced section are refused in one line: replacing their section would
silently change, or break, the sections that share them.
"""

from __future__ import annotations

import io
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelError

from pipeline.atomic import write_bytes
from pipeline.errors import ConfigError
from pipeline.params import dataset_config, load_params, run_config, section, yaml_problem

PRESETS = Path(str(resources.files(__name__)))
SECTIONS = ("synth", "density", "run", "datasets", "model", "train", "evaluate")


def available() -> list[str]:
    """The names of the presets shipped with headcount."""
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


def describe(path: Path) -> str:
    """The preset's one-line description: its first comment line."""
    first = path.read_text().partition("\n")[0]
    return first.lstrip("#").strip() if first.startswith("#") else ""


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


def dataset_roots(preset: dict[str, Any], root: str | Path | None, base: Path | None = None) -> dict[str, str]:
    """Each of the preset's datasets' folder under the datasets folder `root`, as it is written to params.

    A preset names a dataset's folder relative to a datasets folder (``ShanghaiTech/part_B``); a preset
    with one dataset also takes `root` as the dataset's own folder. A relative path is written relative
    to `base` (params.yaml's folder), where DVC resolves it; None writes it as the caller gave it.
    """
    datasets = preset.get("datasets") or {}
    if not datasets:
        return {}
    wanted = ", ".join(f"{n}: {e.get('root')}" for n, e in datasets.items())
    if root is None:
        raise ConfigError("--root", f"the preset reads datasets ({wanted}): name the folder that holds them")
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(root, "datasets folder not found")
    out = {}
    for name, entry in datasets.items():
        rel = entry.get("root")
        if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ConfigError("preset", f"datasets.{name}.root must be a path inside the datasets folder, got {rel!r}")
        found = root / rel
        if not found.is_dir():
            if len(datasets) > 1:
                raise ConfigError(root, f"holds no {rel} (the preset reads {wanted})")
            found = root
        if base is not None and not found.is_absolute():
            found = Path(os.path.relpath(os.path.abspath(found), os.path.abspath(base)))
        out[name] = found.as_posix()
    return out


def with_roots(preset: dict[str, Any], roots: dict[str, str]) -> dict[str, Any]:
    """`preset` with its datasets' roots replaced by `roots`."""
    if not roots:
        return preset
    datasets = {n: {**e, "root": roots[n]} for n, e in preset["datasets"].items()}
    return {**preset, "datasets": datasets}


def check(params: dict[str, Any], where: str | Path) -> None:
    """Every section as the stages read it: a bad key is one `ConfigError` naming it, before anything is written."""
    from pipeline.config.evaluate import evaluate_config
    from pipeline.config.model import ModelConfig
    from pipeline.config.train import train_config
    from pipeline.kernels import DensityParams
    from pipeline.synth import SynthConfig

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


def apply_preset(name: str, params_file: str | Path = "params.yaml", root: str | Path | None = None) -> list[str]:
    """Replace the sections of `params_file` that preset `name` has; returns their names.

    `root` is the datasets folder, required where the preset reads a dataset (`dataset_roots`).
    """
    path, params_file = preset_path(name), Path(params_file)
    if params_file.is_symlink():  # replacing it would turn the link into a plain file; writing through it is refused
        raise ConfigError(params_file, "is a symbolic link; not replacing it (run preset where the file itself is)")
    preset = load_preset(path)
    roots = dataset_roots(preset, root, base=params_file.parent)
    wanted = with_roots(preset, roots)
    text = params_file.read_text() if params_file.is_file() else ""
    old = load_params(params_file) if text.strip() else {}
    source = f"from pipeline/presets/{path.name}" if path.parent == PRESETS else f"from {path}"
    new_text = splice(text, _preset_blocks(path, roots, source), where=params_file)
    try:
        new = yaml.safe_load(new_text)
    except yaml.YAMLError as exc:  # splice is exact on YAML ruamel parsed; this is the guard that proves it
        raise ConfigError(params_file, f"the preset would leave it unreadable ({yaml_problem(exc)})") from None
    if not isinstance(new, dict) or any(new.get(k) != v for k, v in {**old, **wanted}.items()):
        raise ConfigError(params_file, "the preset could not be applied without changing other sections")
    check(new, params_file)
    write_bytes(params_file, new_text.encode())
    return list(preset)


def _rt() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return rt


def _preset_blocks(path: Path, roots: dict[str, str], source: str) -> dict[str, str]:
    """Each section of the preset file as params.yaml text, its comments kept, roots replaced,
    ``# <source>`` on its key line."""
    rt = _rt()
    doc = rt.load(path.read_text())
    blocks = {}
    for key, value in doc.items():
        if key == "datasets":
            for name, entry in value.items():
                if name in roots:
                    entry["root"] = roots[name]
        top = CommentedMap()
        top[key] = value
        top.yaml_add_eol_comment(source, key)
        buf = io.StringIO()
        rt.dump(top, buf)
        blocks[key] = buf.getvalue()
    return blocks


def splice(text: str, blocks: dict[str, str], where: str | Path = "params.yaml") -> str:
    """`text` (a YAML mapping of sections) with each section named in `blocks` replaced by its text, or
    appended; every other line as it was.

    A section is its key's line up to the next section's key, less the blank lines and column-0
    comments just above that key (they belong to it).
    """
    if not text.strip():
        return "".join(blocks.values())
    try:
        doc = YAML(typ="rt").load(text)
    except RuamelError as exc:
        raise ConfigError(where, f"cannot read parameters ({yaml_problem(exc)})") from None
    if not isinstance(doc, CommentedMap):
        raise ConfigError(where, "expected a mapping of sections")
    _refuse_shared_nodes(text, set(blocks) & set(doc), where)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    starts = sorted((doc.lc.key(k)[0], k) for k in doc)
    spans = {}
    for i, (start, key) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(lines)
        if i + 1 < len(starts):
            while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
                end -= 1
        spans[key] = (start, end)
    out, pos = [], 0
    for _, key in starts:
        if key not in blocks:
            continue
        s, e = spans[key]
        out += lines[pos:s]
        out.append(blocks[key])
        pos = e
    out += lines[pos:]
    for key, block in blocks.items():
        if key not in doc:
            out.append("\n" + block)
    return "".join(out)


def _refuse_shared_nodes(text: str, replaced: set[str], where: str | Path) -> None:
    """One `ConfigError` where a section to be replaced holds an anchor or an alias."""
    depth, top_key, expect_key = 0, None, True
    for event in YAML(typ="rt").parse(text):
        kind = type(event).__name__
        if depth == 1 and expect_key and kind == "ScalarEvent":
            top_key, expect_key = event.value, False
            continue
        if getattr(event, "anchor", None) and depth >= 1 and top_key in replaced:
            mark = "*" if kind == "AliasEvent" else "&"
            raise ConfigError(
                where,
                f"section '{top_key}' uses the YAML {'alias' if mark == '*' else 'anchor'} {mark}{event.anchor}: "
                "write it out in full before a preset replaces it",
            )
        if kind in ("MappingStartEvent", "SequenceStartEvent"):
            depth += 1
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1
        if depth == 1 and kind in ("ScalarEvent", "AliasEvent", "MappingEndEvent", "SequenceEndEvent"):
            expect_key = True
