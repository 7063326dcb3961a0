"""The one exception type for bad input data.

Every problem a user can fix in their files (missing ground truth, corrupt .mat,
NaN coordinates, ...) is raised as `DataError`, whose message starts with the file
name, so the CLI can print one line and exit 1 instead of a numpy traceback.
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
