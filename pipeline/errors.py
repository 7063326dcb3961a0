"""The one error model: what a user can fix, with the exit code the CLI maps it to.

`DataError` is a problem in the user's files (missing ground truth, corrupt
.mat, NaN coordinates, a damaged store): its message starts with the file name,
and ``headcount`` exits 1. `ConfigError` is a bad setting (a params.yaml key, a
command-line option, a resume onto another run): its message names the setting,
and ``headcount`` exits 2. Neither is a `ValueError`, so a bug's ValueError is
never mistaken for a user's mistake; ``pipeline.cli.main`` maps them, once.
"""

from __future__ import annotations

from pathlib import Path


class HeadcountError(Exception):
    """Something the user can fix; ``exit_code`` is what ``headcount`` exits with."""

    exit_code = 1


class DataError(HeadcountError):
    """Bad input data; ``str(err)`` is ``"<file>: <problem>"``."""

    exit_code = 1

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")

    def __reduce__(self):  # survives the trip back from a worker process
        return (DataError, (self.path, self.problem))


class ConfigError(HeadcountError):
    """A bad setting; ``str(err)`` is ``"<where>: <problem>"`` (e.g. ``params.yaml: train.lr must be ...``)."""

    exit_code = 2

    def __init__(self, where: str | Path, problem: str) -> None:
        self.where, self.problem = str(where), problem
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        return (ConfigError, (self.where, self.problem))
