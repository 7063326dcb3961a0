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
Pair = Annotated[list[Coordinate], Field(min_length=2, max_length=2)]  # [x, y]
Box = Annotated[list[Coordinate], Field(min_length=4, max_length=4)]  # [x1, y1, x2, y2]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]  # a threshold, a count
Name = Annotated[str, Field(min_length=1, max_length=200)]
Whole = Annotated[int, Field(ge=0, le=2**53)]  # a size, a revision, an id: non-negative, exact in JSON and JS


class Strict(BaseModel):
    """Fields of exactly their declared type (no "12" for 12, no true for 1); unknown keys are kept."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class Closed(Strict):
    """A `Strict` structure whose keys are all declared: a misspelt key is an error, not ignored."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], doc: object, path: str | Path, where: str = "") -> M:
    """`doc` as `model`, or a `DataError` naming `path`, the first field that is wrong and why
    (after `where`, which says which part of the file `doc` is)."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        got = first.get("input")
        if isinstance(got, (int, float, str, bool, type(None))):
            shown = repr(got)[:60]
        else:
            shown = f"a list of {len(got)}" if isinstance(got, list) else "an object" if isinstance(got, dict) else "?"
        if first["type"] == "extra_forbidden":
            raise DataError(path, f"{where}unknown key {field!r}") from None
        message = first["msg"].lower().replace(" after validation", "")
        raise DataError(path, f"{where}{field or 'the file'}: {message} (got {shown})") from None


def unique(ids: Iterable[object], path: str | Path, what: str) -> None:
    """A `DataError` naming `path` where an id repeats: two records with one id would swap their data."""
    seen: set[object] = set()
    for i in ids:
        if i in seen:
            raise DataError(path, f"{what} {i!r} is used twice")
        seen.add(i)
