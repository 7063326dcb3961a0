"""CSRNet's 2x2 max pooling, without ATen's index-keeping kernel where no gradient is needed.

Why: on a CPU, PyTorch's NCHW `max_pool2d` always goes through
`max_pool2d_with_indices`, which keeps the argmax of every window for a
backward pass that inference never runs; it costs more than the convolution
after it. Validation, `evaluate` and `count` run the eager model on the
reproducible path, where oneDNN's pooling (of the frozen fast path) is not
used. The maximum of four floats is exact in any order, so both ways give the
same values (a NaN propagates in both; a zero's sign can differ, and a
convolution's sum, which starts at +0.0, never sees it).
"""

from __future__ import annotations

import torch
from torch import nn


class MaxPool2d(nn.MaxPool2d):
    """`nn.MaxPool2d(2, 2)` (same module, same state dict) that pools by three `torch.maximum`s without autograd."""

    def __init__(self) -> None:
        super().__init__(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return super().forward(x)  # training: ATen's indices drive the backward pass
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # floor mode: an odd last row or column is dropped
        top, bottom = x[..., 0:h:2, :w], x[..., 1:h:2, :w]
        return torch.maximum(
            torch.maximum(top[..., 0::2], top[..., 1::2]), torch.maximum(bottom[..., 0::2], bottom[..., 1::2])
        )

    def __prepare_scriptable__(self) -> nn.MaxPool2d:
        return nn.MaxPool2d(2, 2)  # TorchScript (the frozen fast path) keeps the plain module, fused by oneDNN
