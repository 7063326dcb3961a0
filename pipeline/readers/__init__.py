"""Annotation formats, looked up by name: one module per format registers its reader and its writer.

The registry is lazy: `FORMATS` maps a name to its module, imported on
lookup, so code that reads one format (or writes the synthetic dataset) neither
loads nor depends on the others. A new format is one module with a function
decorated ``@register("name")`` that takes ``(root, split, **options)`` and
yields `Sample`s, optionally a function decorated ``@register_writer("name")``
that takes ``(sample, out, split)``, writes it in that layout and returns the
points it had to drop, plus its line in `FORMATS`.

>>> sorted(FORMATS)
['coco', 'cvat', 'jhu', 'label_studio', 'labelme', 'nwpu', 'points', 'qnrf', 'shanghaitech', 'ucf_cc_50']
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.sample import Sample

Reader = Callable[..., Iterator[Sample]]
Writer = Callable[[Sample, Path, str], int]
FORMATS: dict[str, str] = {  # name -> the module that registers it
    "coco": "pipeline.readers.coco",
    "cvat": "pipeline.readers.cvat",
    "jhu": "pipeline.readers.jhu",
    "label_studio": "pipeline.readers.label_studio",
    "labelme": "pipeline.readers.labelme",
    "nwpu": "pipeline.readers.nwpu",
    "points": "pipeline.readers.points",
    "qnrf": "pipeline.readers.qnrf",
    "shanghaitech": "pipeline.readers.shanghaitech",
    "ucf_cc_50": "pipeline.readers.ucf_cc_50",
}
_READERS: dict[str, Reader] = {}
_WRITERS: dict[str, Writer] = {}


def _registrar(table: dict, kind: str, name: str) -> Callable:
    def deco(fn):
        if name in table:
            raise RuntimeError(f"{kind} {name!r} registered twice")  # two modules claim a name: a bug
        table[name] = fn
        return fn

    return deco


def register(name: str) -> Callable[[Reader], Reader]:
    """Register a reader under `name`."""
    return _registrar(_READERS, "reader", name)


def register_writer(name: str) -> Callable[[Writer], Writer]:
    """Register a writer under `name` (in the module that registers its reader)."""
    return _registrar(_WRITERS, "writer", name)


def read(format: str, root: str | Path, split: str, **options: object) -> Iterator[Sample]:
    """Yield the samples of one split of a dataset in `format` under `root`."""
    if format not in FORMATS:
        raise ConfigError("format", f"unknown format {format!r}; known: {', '.join(sorted(FORMATS))}")
    importlib.import_module(FORMATS[format])
    reader = _READERS[format]
    takes = list(inspect.signature(reader).parameters)[2:]
    for name in options:
        if name not in takes:
            offered = f"it takes {', '.join(takes)}" if takes else "it takes none"
            raise ConfigError(name, f"format {format!r} has no option {name!r} ({offered})")
    return reader(Path(root), split, **options)


def writer(format: str) -> Writer:
    """The writer of `format`; a `ConfigError` for a format that cannot be written."""
    if format in FORMATS:
        importlib.import_module(FORMATS[format])
    if format not in _WRITERS:
        raise ConfigError("to", f"cannot write {format!r}; writable formats: {', '.join(writable())}")
    return _WRITERS[format]


def writable() -> list[str]:
    """The formats that have a writer (imports every format module)."""
    for module in FORMATS.values():
        importlib.import_module(module)
    return sorted(_WRITERS)
