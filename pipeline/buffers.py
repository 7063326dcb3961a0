"""Recycled float32 arrays for the exact convolution: its outputs and work space without fresh pages each step.

Why: a convolution of a 1024x768 image writes hundreds of megabytes, and a
fresh array of that size costs more in page faults (the kernel zeroes every
page on first touch) than the arithmetic that fills it. `array` hands out
memory that an earlier, dead array used. A pool belongs to a model
(`pipeline.model.CSRNet` makes one for its exact convolutions, bounded by
`pipeline.model.WORKSPACE_BYTES`) and dies with it. An array's memory goes back to the
pool when the last view of it dies (its base is a `_Lease` whose finalizer
returns it), so an output that torch keeps for the backward pass is never
handed out twice.
"""

from __future__ import annotations

import bisect
import collections
import math
import threading

import numpy as np


class _Lease:
    """The owner of one pooled block while arrays use it: numpy's base object for all of them."""

    __slots__ = ("__array_interface__", "block", "pool")

    def __init__(self, block: np.ndarray, shape: tuple[int, ...], pool: Pool) -> None:
        self.block, self.pool = block, pool
        self.__array_interface__ = {
            "shape": shape,
            "typestr": "<f4",
            "data": (block.ctypes.data, False),
            "version": 3,
        }

    def __del__(self) -> None:
        pool = self.pool
        if pool is not None:
            pool.returned.append(self.block)  # no lock here: a finalizer may run inside the pool's own code


class Pool:
    """Free float32 blocks, reused best fit (at most twice the size asked), at most `limit_bytes` kept."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit, self.held = limit_bytes, 0
        self.sizes: list[int] = []
        self.blocks: list[np.ndarray] = []
        self.returned: collections.deque[np.ndarray] = collections.deque()  # dead arrays' blocks, not yet sorted in
        self.lock = threading.Lock()

    def __deepcopy__(self, memo: dict) -> Pool:  # a copied model gets a pool of its own, empty
        return Pool(self.limit)

    def __reduce__(self) -> tuple:
        return Pool, (self.limit,)

    def array(self, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised C-contiguous float32 array of `shape`."""
        n = max(1, math.prod(shape))
        with self.lock:
            self._sort_in_returned()
            i = bisect.bisect_left(self.sizes, n)
            if i < len(self.sizes) and self.sizes[i] <= 2 * n:
                self.sizes.pop(i)
                block = self.blocks.pop(i)
                self.held -= block.nbytes
            else:
                block = None
        if block is None:
            block = np.empty(n, np.float32)
        return np.asarray(_Lease(block, tuple(shape), self))

    def _sort_in_returned(self) -> None:
        """Keep the blocks that dead arrays gave back (under the lock), the largest dropped past the limit.

        A finalizer only appends to `returned` (atomic): taking the lock there could deadlock, since
        the garbage collector may run a finalizer while this thread holds it.
        """
        while self.returned:
            block = self.returned.popleft()
            while self.blocks and self.held + block.nbytes > self.limit:  # the largest kept go first
                self.held -= self.blocks.pop().nbytes
                self.sizes.pop()
            if self.held + block.nbytes <= self.limit:
                i = bisect.bisect_left(self.sizes, block.size)
                self.sizes.insert(i, block.size)
                self.blocks.insert(i, block)
                self.held += block.nbytes
