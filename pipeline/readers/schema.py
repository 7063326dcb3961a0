"""Declared structures for foreign files: a pydantic model per format, checked before a value is used.

Why: a format read field by field with ``isinstance`` checks here and there let through a
keypoint that was text, an id that was a list and a category without an id, each ending in a
traceback, and two images sharing one id silently swapped heads. A model states each field's type,
range and finiteness once; `validated` turns the first violation into the one-line `DataError`
every reader gives (``<file>: annotations[3].keypoints[1]: ...``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import DataError

MAX_COORDINATE = 1e6  # pixels: no photo is a million pixels wide, and nothing past this overflows later
Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORDINATE, le=MAX_COORDINATE)]
Percent = Annotated[float, Field(allow_inf_nan=False, ge=-1e4, le=1e4)]  # Label Studio: per cent of a side
Size = Annotated[int, Field(ge=1, le=1_000_000)]
Id = int | str


class Strict(BaseModel):
    """Fields of exactly their declared type (no "12" for 12, no true for 1); unknown keys are kept."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], doc: object, path: str | Path) -> M:
    """`doc` as `model`, or a `DataError` naming `path`, the first field that is wrong and why."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        got = first.get("input")
        shown = repr(got) if isinstance(got, (int, float, str, bool, type(None))) else type(got).__name__
        raise DataError(path, f"{where or 'the file'}: {first['msg'].lower()} (got {shown[:60]})") from None


def unique(ids: Iterable[object], path: str | Path, what: str) -> None:
    """A `DataError` naming `path` where an id repeats: two records with one id would swap their data."""
    seen: set[object] = set()
    for i in ids:
        if i in seen:
            raise DataError(path, f"{what} {i!r} is used twice")
        seen.add(i)
