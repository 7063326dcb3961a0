"""A file of named items (zones, lines): strict YAML or JSON, each item a declared structure.

Strict YAML: PyYAML's safe loader refusing a key given twice, since it would keep the last one
silently. Each item is checked against its pydantic model (`pipeline.schema`) before a value is used,
and names are unique, so an alert never reports a zone that two entries describe.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel

from pipeline.errors import DataError
from pipeline.schema import unique, validated

M = TypeVar("M", bound=BaseModel)


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice (it would keep the last one silently)."""

    def construct_mapping(self, node, deep=False):  # noqa: ANN001, ANN201 - PyYAML's signature
        keys = [self.construct_object(k, deep=True) for k, _ in node.value]
        dup = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if dup is not None:
            raise yaml.constructor.ConstructorError(None, None, f"the key {dup!r} appears twice", node.start_mark)
        return super().construct_mapping(node, deep)


def read_items(path: str | Path, key: str, what: str, model: type[M], kind: str) -> list[M]:
    """The items of the non-empty list under `key` of a strict YAML or JSON file, each as `model`, with
    unique names; a bad file is one `DataError` naming it (`what`: what kind of file it should be;
    `kind`: what one item is, in messages)."""
    path = Path(path)
    try:
        doc = yaml.load(path.read_text(), Loader=StrictLoader)  # noqa: S506 - a SafeLoader; JSON is YAML
    except FileNotFoundError:
        raise DataError(path, f"{what} not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(path, f"not a YAML or JSON {what} ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise DataError(path, f"not a {what}: nested too deeply") from None
    items = doc.get(key) if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise DataError(path, f"expected a non-empty list under {key!r}")
    out = []
    for i, item in enumerate(items):
        named = isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]
        out.append(validated(model, item, path, f"{kind} {item['name']!r}: " if named else f"{kind} {i + 1}: "))
    unique((item.name for item in out), path, f"{kind} name")
    return out
