"""Annotation formats, looked up by name: one module per format registers its reader and its writer.

A new format is one module with a function decorated ``@register("name")`` that
takes ``(root, split, **options)`` and yields `Sample`s, optionally a function
decorated ``@register_writer("name")`` that takes ``(sample, out, split)``,
writes it in that layout and returns the points it had to drop, plus its import
below.

>>> sorted(FORMATS)
['jhu', 'labelme', 'nwpu', 'points', 'qnrf', 'shanghaitech', 'ucf_cc_50']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.sample import Sample

Reader = Callable[..., Iterator[Sample]]
Writer = Callable[[Sample, Path, str], int]
FORMATS: dict[str, Reader] = {}
WRITERS: dict[str, Writer] = {}


def _registrar(table: dict, kind: str, name: str) -> Callable:
    def deco(fn):
        if name in table:
            raise ValueError(f"{kind} {name!r} registered twice")
        table[name] = fn
        return fn

    return deco


def register(name: str) -> Callable[[Reader], Reader]:
    """Register a reader under `name`."""
    return _registrar(FORMATS, "reader", name)


def register_writer(name: str) -> Callable[[Writer], Writer]:
    """Register a writer under `name` (in the module that registers its reader)."""
    return _registrar(WRITERS, "writer", name)


def read(format: str, root: str | Path, split: str, **options: object) -> Iterator[Sample]:
    """Yield the samples of one split of a dataset in `format` under `root`."""
    try:
        reader = FORMATS[format]
    except KeyError:
        raise ConfigError("format", f"unknown format {format!r}; known: {', '.join(sorted(FORMATS))}") from None
    takes = list(inspect.signature(reader).parameters)[2:]
    for name in options:
        if name not in takes:
            offered = f"it takes {', '.join(takes)}" if takes else "it takes none"
            raise ConfigError(name, f"format {format!r} has no option {name!r} ({offered})")
    return reader(Path(root), split, **options)


def writer(format: str) -> Writer:
    """The writer of `format`; a `ConfigError` for a format that cannot be written."""
    try:
        return WRITERS[format]
    except KeyError:
        raise ConfigError("to", f"cannot write {format!r}; writable formats: {', '.join(sorted(WRITERS))}") from None


# registration happens on import
from pipeline.readers import jhu, labelme, nwpu, points, qnrf, shanghaitech, ucf_cc_50  # noqa: E402, F401
