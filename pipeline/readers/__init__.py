"""Annotation readers, looked up by format name.

A new format is one module with a function decorated ``@register("name")`` that
takes ``(root, split, **options)`` and yields `Sample`s, plus its import below.

>>> sorted(FORMATS)
['points', 'shanghaitech', 'ucf_cc_50']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline.sample import Sample

Reader = Callable[..., Iterator[Sample]]
FORMATS: dict[str, Reader] = {}


def register(name: str) -> Callable[[Reader], Reader]:
    """Register a reader under `name`."""

    def deco(fn: Reader) -> Reader:
        if name in FORMATS:
            raise ValueError(f"reader {name!r} registered twice")
        FORMATS[name] = fn
        return fn

    return deco


def read(format: str, root: str | Path, split: str, **options: object) -> Iterator[Sample]:
    """Yield the samples of one split of a dataset in `format` under `root`."""
    try:
        reader = FORMATS[format]
    except KeyError:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(sorted(FORMATS))}") from None
    return reader(Path(root), split, **options)


# registration happens on import
from pipeline.readers import points, shanghaitech, ucf_cc_50  # noqa: E402, F401
