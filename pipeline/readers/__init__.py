"""Annotation formats, looked up by name: one module per format registers its reader.

The registry is lazy: `FORMATS` maps a name to its module, imported on
lookup, so code that reads one format (or writes the synthetic dataset) neither
loads nor depends on the others. A new format is one module with a function
decorated ``@register("name")`` that takes ``(root, split, **options)`` and
yields `Sample`s, plus its line in `FORMATS`. Writing a format is not the
density stage's business: the writers are `pipeline.writers`.

>>> sorted(FORMATS)
['coco', 'cvat', 'jhu', 'label_studio', 'labelme', 'nwpu', 'points', 'qnrf', 'shanghaitech', 'ucf_cc_50']
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError

if TYPE_CHECKING:  # for annotations only: the registry loads no sample code
    from pipeline.sample import Sample

Reader = Callable[..., "Iterator[Sample]"]
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


class Registry:
    """Functions registered by name in modules imported on first lookup (`modules`: name -> module)."""

    def __init__(self, kind: str, modules: dict[str, str]) -> None:
        self.kind, self.modules, self.table = kind, modules, {}

    def register(self, name: str) -> Callable[[Callable], Callable]:
        """A decorator that registers a function under `name`."""

        def deco(fn: Callable) -> Callable:
            if name in self.table:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")  # two modules claim a name: a bug
            self.table[name] = fn
            return fn

        return deco

    def get(self, name: str, option: str, unknown: str) -> Callable:
        """The function of `name`; else a `ConfigError` on `option`: `unknown` and the names there are."""
        if name not in self.modules:
            raise ConfigError(option, f"{unknown} {name!r}; known: {', '.join(sorted(self.modules))}")
        importlib.import_module(self.modules[name])
        return self.table[name]


READERS = Registry("reader", FORMATS)
register = READERS.register  # ``@register("name")`` in a format's module


def read(format: str, root: str | Path, split: str, **options: object) -> Iterator[Sample]:
    """Yield the samples of one split of a dataset in `format` under `root`."""
    reader = READERS.get(format, "format", "unknown format")
    takes = _options_of(reader)
    for name in options:
        if name not in takes:
            raise _no_option(format, reader, name, name)
    return reader(Path(root), split, **options)


def _options_of(reader: Reader) -> list[str]:
    """The options a reader takes: its parameters after ``(root, split)``."""
    return list(inspect.signature(reader).parameters)[2:]


def _no_option(format: str, reader: Reader, name: str, option: str) -> ConfigError:
    takes = _options_of(reader)
    offered = f"it takes {', '.join(takes)}" if takes else "it takes none"
    return ConfigError(option, f"format {format!r} has no option {name!r} ({offered})")


def options_from_text(format: str, given: dict[str, str]) -> dict[str, object]:
    """Reader options given as text (``--option KEY=VALUE``) as the reader takes them: a whole number
    where its parameter is an int (``fold=2``), the text otherwise (``label=head``); a `ConfigError`
    names an option the format lacks or a number that is not one."""
    reader = READERS.get(format, "--from", "unknown format")
    hints, takes = typing.get_type_hints(reader), _options_of(reader)
    out: dict[str, object] = {}
    for name, text in given.items():
        want = hints.get(name)
        if name not in takes:
            raise _no_option(format, reader, name, "--option")
        if int in (want, *typing.get_args(want)) and str not in typing.get_args(want):
            try:
                out[name] = int(text)
            except ValueError:
                raise ConfigError("--option", f"{name}={text!r}: {name} is a whole number") from None
        else:
            out[name] = text
    return out
