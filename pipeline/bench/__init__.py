"""Benchmarks, one module per subject: density maps, the training loader, training and inference, video.

Each prints what a user would quote; `headcount bench ...` runs them and the
test suite runs each at toy sizes. Speed is measured here, never asserted in a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    """(fn's result, seconds it took)."""
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t
