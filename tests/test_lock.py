"""requirements.lock pins every package headcount needs, at the version installed."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def _locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"requirements.lock: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    return pins


def _needed(root: str = "headcount", extras: tuple[str, ...] = ("dev",)) -> set[str]:
    """headcount's requirements, followed through each package's own, with the extras asked for."""
    seen: set[str] = set()
    todo = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            env_ok = [req.marker is None or req.marker.evaluate({"extra": e}) for e in ("", *wanted)]
            if any(env_ok) and canonicalize_name(req.name) not in seen:
                seen.add(canonicalize_name(req.name))
                todo.append((req.name, tuple(req.extras)))
    return seen


def test_every_needed_package_is_pinned_at_its_installed_version():
    pins, needed = _locked(), _needed()
    assert {"torch", "numpy", "pillow", "numba", "scipy", "dvc", "pytest"} <= needed
    missing = sorted(needed - set(pins))
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
    # a local build label (torch's +cpu) is the same release
    wrong = {n: (pins[n], metadata.version(n)) for n in needed if metadata.version(n).split("+")[0] != pins[n]}
    assert not wrong, f"installed versions differ from requirements.lock (locked, installed): {wrong}"
