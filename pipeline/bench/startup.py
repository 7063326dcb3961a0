"""How long the command line takes to answer ``--help``: the price of every TAB of shell completion.

Why: each command imports its library only when it runs, so help and completion never pay for numba,
scipy, torch or h5py; this measures that the promise holds, in fresh processes as a shell starts them.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

HEAVY = ("numba", "scipy", "torch", "h5py")


def bench_startup(commands: Sequence[Sequence[str]] = ((),), repeats: int = 5) -> list[dict]:
    """Per command line (``()`` is ``headcount --help``): the median and best wall time of `repeats`
    fresh ``python -m pipeline ... --help`` processes, in seconds."""
    rows = []
    for args in commands:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pipeline", *args, "--help"], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "command": " ".join(["headcount", *args, "--help"]),
                "median_s": statistics.median(times),
                "best_s": min(times),
                "repeats": repeats,
            }
        )
    return rows
