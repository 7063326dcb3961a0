"""The exception types for what a user can fix: bad data files and bad settings.

Every problem a user can fix in their files (missing ground truth, corrupt .mat,
NaN coordinates, ...) is raised as `DataError`, whose message starts with the file
name, so the CLI can print one line and exit 1 instead of a numpy traceback.
A bad setting (a params.yaml key, a resume onto another run) is a `ConfigError`:
one line naming the setting, exit 2.
"""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data; ``str(err)`` is ``"<file>: <problem>"``."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")

    def __reduce__(self):  # survives the trip back from a worker process
        return (DataError, (self.path, self.problem))


class ConfigError(Exception):
    """A bad setting; ``str(err)`` is ``"<where>: <problem>"`` (e.g. ``params.yaml: train.lr ...``).

    Not a `ValueError`, so a bug's ValueError is never mistaken for a user's mistake.
    """

    def __init__(self, where: str | Path, problem: str) -> None:
        self.where, self.problem = str(where), problem
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        return (ConfigError, (self.where, self.problem))
