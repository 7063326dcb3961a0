"""The project writes JSON one way (`strictjson.dumps`): never NaN or Infinity, which are not JSON."""

import ast
import math
from pathlib import Path

import pytest

from pipeline import strictjson

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_dumps_refuses_what_json_cannot_hold(value):
    with pytest.raises(ValueError):
        strictjson.dumps({"mse": value})
    assert strictjson.dumps({"mse": 1e308}) == '{"mse": 1e+308}'


def test_no_module_writes_json_but_through_strictjson():
    """A new `json.dumps` / `json.dump` anywhere in the package fails here: the rule holds by construction."""
    offenders = []
    for path in sorted([*ROOT.glob("pipeline/**/*.py"), *ROOT.glob("annotate/**/*.py"), *ROOT.glob("stages/*.py")]):
        if path.name == "strictjson.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            writes = isinstance(node, ast.Attribute) and node.attr in ("dumps", "dump")
            if writes and getattr(node.value, "id", "") == "json":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders
