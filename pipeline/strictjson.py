"""JSON that cannot crash its reader: bounded depth and numbers, finite floats, no duplicate keys.

Both ways: `loads` and `read` parse somebody else's bytes strictly, and `dumps`
is how the project writes JSON, never with ``NaN`` or ``Infinity``, which are
not JSON and which other parsers refuse.

Why: a point file, an edit, a store's attributes or an annotation export is
somebody else's bytes. Python's own parser accepts ``NaN`` and ``Infinity``,
turns ``1e400`` into ``inf``, spends quadratic time on (and then refuses) a
5,000-digit integer, raises `RecursionError` on deep nesting and keeps the
last of two equal keys. Here each of those is a `DataError` naming the file,
raised before any of it reaches arithmetic.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pipeline.errors import DataError

MAX_INT_DIGITS = 18  # beyond any pixel coordinate, revision or size, and below int64's range


class _Refused(ValueError):
    pass


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _float(text: str) -> float:
    if len(text) > 400:
        raise _Refused("a number of over 400 characters")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"{text[:20]} is out of range")
    return value


def _constant(name: str) -> float:
    raise _Refused(f"{name} is not a number JSON allows")


def _object(pairs: list[tuple[str, object]]) -> dict:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _Refused(f"the key {dup!r} appears twice")
    return doc


def loads(data: str | bytes, source: str | Path) -> object:
    """Parse `data` strictly; a `DataError` naming `source` says what is wrong with it."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise DataError(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    text = text.removeprefix("\ufeff")  # a BOM, as some Windows tools write
    try:
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant, object_pairs_hook=_object)
    except _Refused as exc:
        raise DataError(source, f"refused JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DataError(source, f"not JSON ({exc})") from None
    except RecursionError:  # the C parser's own bound on nesting (about 1,000 deep)
        raise DataError(source, "JSON nested too deeply") from None


def read(path: str | Path, max_bytes: int = 256 << 20) -> object:
    """`loads` of a file, refusing one over `max_bytes`."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DataError(path, f"{size:,} bytes; a JSON file here is at most {max_bytes:,}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read ({exc.strerror or exc})") from None
    return loads(data, path)


def dumps(obj: object, **options: object) -> str:
    """`json.dumps` of `obj` that refuses a non-finite float (`ValueError`): what this writes, any parser reads."""
    return json.dumps(obj, allow_nan=False, **options)
