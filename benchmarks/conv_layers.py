"""Each convolution of the demo model alone, fast (oneDNN) against reproducible (`pipeline.conv`): where the
exact path's time goes, layer by layer.

    .venv/bin/python benchmarks/conv_layers.py [--batch 8] [--side 128] [--repeats 7]

For every `pipeline.conv.Conv2d` of `CSRNet(0.25, batch_norm=True)` (the demo's model), at the input shape
it sees in a forward pass of a batch of `--side` crops, the best of `--repeats` forward and backward
times in ms in each numerics mode; then the totals. The first layer's input needs no gradient, as in
training.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--side", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    from pipeline.numerics import configure, pin_cpu_kernels

    pin_cpu_kernels()  # before torch's first operation, as `headcount bench train` does
    import torch

    from pipeline.conv import Conv2d
    from pipeline.model import CSRNet

    torch.manual_seed(0)
    model = CSRNet(0.25, batch_norm=True)
    seen: list[tuple[Conv2d, torch.Size]] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: seen.append((m, i[0].shape)))
        for m in model.modules()
        if isinstance(m, Conv2d)
    ]
    with torch.no_grad():
        model(torch.randn(args.batch, 3, args.side, args.side))
    for h in hooks:
        h.remove()

    def timed(mode: str, layer: Conv2d, shape: torch.Size, first: bool) -> tuple[float, float]:
        configure(mode)
        model.set_exact(mode == "reproducible")
        x = torch.randn(shape, requires_grad=not first)
        best = [float("inf")] * 2
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = layer(x)
            t1 = time.perf_counter()
            out.backward(torch.ones_like(out))
            t2 = time.perf_counter()
            best = [min(best[0], t1 - t0), min(best[1], t2 - t1)]
        return best[0] * 1e3, best[1] * 1e3

    print("| layer | input (B, C, H, W) | out | k | dil | fwd fast | fwd exact | bwd fast | bwd exact |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals = {"fast": [0.0, 0.0], "reproducible": [0.0, 0.0]}
    for i, (layer, shape) in enumerate(seen):
        got = {mode: timed(mode, layer, shape, i == 0) for mode in totals}
        for mode, (f, b) in got.items():
            totals[mode][0] += f
            totals[mode][1] += b
        (ff, fb), (ef, eb) = got["fast"], got["reproducible"]
        print(
            f"| {i} | {tuple(shape)} | {layer.out_channels} | {layer.kernel_size[0]} | {layer.dilation[0]} "
            f"| {ff:.2f} | {ef:.2f} | {fb:.2f} | {eb:.2f} |"
        )
    (ff, fb), (ef, eb) = totals["fast"], totals["reproducible"]
    print(f"| all | | | | | {ff:.1f} | {ef:.1f} | {fb:.1f} | {eb:.1f} |")


if __name__ == "__main__":
    main()
