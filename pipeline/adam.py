"""Adam with an IEEE square root, for `train.numerics: reproducible` on the CPU.

Why: ``torch.sqrt`` on a CPU tensor calls MKL's vector math library, which
picks its code by CPU vendor; numpy's square root is the processor's own
correctly rounded instruction, the same bits on every CPU. The rest of the
update is `torch.optim.Adam`'s, on the same state (``step``, ``exp_avg``,
``exp_avg_sq``), so a checkpoint's optimizer state means the same to both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch


class Adam(torch.optim.Optimizer):
    """`torch.optim.Adam` (L2 weight decay, no amsgrad) for CPU parameters."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201 - torch.optim.Optimizer's signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                grad = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                state["step"] += 1
                step = float(state["step"])
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = torch.from_numpy(np.sqrt(exp_avg_sq.numpy()))
                denom.div_(math.sqrt(1 - beta2**step)).add_(group["eps"])
                p.addcdiv_(exp_avg, denom, value=-group["lr"] / (1 - beta1**step))
        return loss
