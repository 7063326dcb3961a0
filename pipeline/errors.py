"""The one error model: what a user can fix, with the exit code the CLI maps it to.

`DataError` is a problem in the user's files (missing ground truth, corrupt
.mat, NaN coordinates, a damaged store): its message starts with the file name,
and ``headcount`` exits 1. `ConfigError` is a bad setting (a params.yaml key, a
command-line option, a resume onto another run): its message names the setting,
and ``headcount`` exits 2. Neither is a `ValueError`, so a bug's ValueError is
never mistaken for a user's mistake. `exit_code_of` maps them, once: for the
``headcount`` command (``pipeline.cli.main``) and, through `run_stage`, for the
DVC stages, so ``dvc repro`` with a typo in params.yaml prints the same one line.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn


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


def exit_code_of(body: Callable[[], object]) -> int:
    """Run `body`; 0 when it returns, else the exit code of what stopped it, with one line on stderr.

    1 bad data (the line names the file), 2 bad settings (it names the key or
    option), 130 interrupted, 143 terminated (SIGTERM unwinds, so atomic writes
    clean up). Anything else is a bug and keeps its traceback.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        body()
    except HeadcountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except MemoryError:
        print("error: out of memory (a kernel sigma or an image far larger than the others?)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def run_stage(body: Callable[[], object]) -> NoReturn:
    """A DVC stage's entry point: `body` under the command's error model (see `exit_code_of`)."""
    sys.exit(exit_code_of(body))
