"""Containment: a path built from a user's option or a file's contents stays inside the folder it belongs to.

Why one function: a split name (``--split ../x``), an ``--out-split``, an image named in an annotation
file or a store attribute (``../secret/secret.jpg``), or a symlink an image folder holds can each lead a
reader, a writer or the annotation server outside the folder the user gave. `contained` is the only way
the readers, writers, exports, the store and the server join a folder with such a name
(`tests/test_paths.py` fails on a join that does not go through it). It resolves symlinks and requires
the result inside the folder, for reading and writing alike, and for writing refuses any symlink on the
way: nothing is written through a link.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import ConfigError, DataError


def contained(
    base: str | Path,
    *parts: str | Path,
    named_in: str | Path | None = None,
    option: str | None = None,
    write: bool = False,
) -> Path:
    """``base / parts...`` if it lies inside `base` once symlinks are resolved; else one error.

    The error is a `ConfigError` naming `option` where the name came from an option, else a `DataError`
    naming `named_in` (the file the name came from, or `base`). With `write`, a symlink anywhere below
    `base` on the way is refused too. An absolute part is judged as the path it is.
    """
    base = Path(base)
    path = base.joinpath(*(str(p) for p in parts))
    shown = "/".join(str(p) for p in parts) or "."
    root = base.resolve()
    resolved = path.resolve()
    problem = None
    if not resolved.is_relative_to(root):
        problem = f"{shown} leads outside {base}; not {'writing' if write else 'reading'} there"
    elif write:
        step = base
        for piece in Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).parts:
            step = step / piece
            if step.is_symlink():
                problem = f"{step} is a symbolic link; not writing through it"
                break
    if problem is None:
        return path
    if option is not None:
        raise ConfigError(option, problem)
    raise DataError(named_in if named_in is not None else base, problem)
