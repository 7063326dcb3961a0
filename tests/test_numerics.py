"""Reproducible numerics: the same training bits on any CPU vendor, instruction set and thread count.

A machine checks itself against constants pinned here, not against itself under
emulated settings: an AMD and an Intel CPU that run `make test` both compare
their bits with the ones the committed `dvc.lock` and `metrics.json` came from.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from fractions import Fraction

import numba
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline import conv, gemm
from pipeline.checkpoint import load_checkpoint
from pipeline.model import ModelConfig
from pipeline.params import RunConfig
from pipeline.train import TrainConfig, train

# sha256 of STEPS's weights and output; change only together with dvc.lock and metrics.json
GOLDEN_STEPS = "159a0c286b753b84dd247fb5bdfa6b03058f3d1647a0a0c15468c38a646ba792"
GOLDEN_EPOCHS = {
    "weights": "b427270d2a7ce2075914ab74a20a6d2090f959734d040ac307576645fb0de703",
    "val_mae": 181.95317993237404,
    "test_mae": 138.83859200708685,
}

STEPS = """
import hashlib, sys
from pipeline.numerics import configure
from pipeline.model import CSRNet
import torch
from pipeline.train import TrainConfig, make_optimizer
configure(sys.argv[1], int(sys.argv[2]))
torch.manual_seed(0)
model = CSRNet(0.25, batch_norm=True)
x, y = torch.randn(4, 3, 64, 96), torch.rand(4, 1, 8, 12)
opt = make_optimizer(model, TrainConfig(lr=1e-3, numerics=sys.argv[1]))
for _ in range(3):
    loss = ((model(x) - y) ** 2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
model.eval()
with torch.no_grad():
    out = model(x)
blob = b"".join(p.detach().numpy().tobytes() for p in model.parameters()) + out.numpy().tobytes()
print(hashlib.sha256(blob).hexdigest())
"""


def _digest(numerics: str, threads: int, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")}
    r = subprocess.run(
        [sys.executable, "-c", STEPS, numerics, str(threads)],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


@pytest.mark.slow
def test_three_training_steps_give_the_committed_bits_on_this_cpu_with_any_thread_count():
    """The golden digest: any CPU with AVX2, Intel or AMD, any thread count, AVX-512 or not."""
    assert _digest("reproducible", 1) == GOLDEN_STEPS
    assert _digest("reproducible", 3, ONEDNN_MAX_CPU_ISA="AVX2", NUMBA_NUM_THREADS="2") == GOLDEN_STEPS


def _round_f32(q: Fraction) -> np.float32:
    """`q` rounded to the nearest float32, ties to even: IEEE 754's rounding, done exactly."""
    x = np.float32(float(q))
    near = [np.nextafter(x, np.float32(-np.inf)), x, np.nextafter(x, np.float32(np.inf))]
    return min(near, key=lambda c: (abs(Fraction(float(c)) - q), int(np.array(c).view(np.int32)) & 1))


def _replayed(a_row: np.ndarray, b_col: np.ndarray) -> np.float32:
    """fma(a[K-1], b[K-1], ... fma(a[0], b[0], 0)) in exact arithmetic, rounded once a term."""
    acc = np.float32(0.0)
    for x, y in zip(a_row.tolist(), b_col.tolist(), strict=True):
        acc = _round_f32(Fraction(x) * Fraction(y) + Fraction(float(acc)))
    return acc


@pytest.mark.parametrize("transposed", [False, True])
def test_matmul_is_the_fixed_fma_sequence_for_every_element_and_thread_count(transposed):
    """Edges of every blocking (rows past a multiple of 4, a K chunk boundary, a partial column tile)."""
    rng = np.random.default_rng(7)
    nbatch, m, k, n = 2, 6, gemm.KC + 45, gemm.NB + 9
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((nbatch, k, n), dtype=np.float32)
    operand = np.ascontiguousarray(b.transpose(0, 2, 1)) if transposed else b
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = gemm.matmul(a, operand, b_transposed=transposed)
        numba.set_num_threads(threads)
        many = gemm.matmul(a, operand, b_transposed=transposed)
    finally:
        numba.set_num_threads(threads)
    assert np.array_equal(one, many)
    for bi in range(nbatch):
        for i in range(m):  # rows in and past the 4-row blocks
            for j in (0, 7, gemm.NB - 1, gemm.NB, n - 1):  # columns in and past the first tile
                assert one[bi, i, j] == _replayed(a[i], b[bi, :, j]), (bi, i, j)
    np.testing.assert_allclose(one, a @ b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(("kernel", "padding", "dilation"), [(3, 1, 1), (3, 2, 2), (1, 0, 1)])
def test_exact_convolution_and_its_gradients_agree_with_pytorchs(kernel, padding, dilation):
    torch.manual_seed(0)
    layer = conv.Conv2d(5, 7, kernel, padding=padding, dilation=dilation)
    x = torch.randn(3, 5, 11, 13, requires_grad=True)
    weights = (layer.weight, layer.bias)
    conv.use_exact(True)
    out = layer(x)
    (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
    got = [out.detach(), x.grad.clone(), *(p.grad.clone() for p in weights)]
    assert out.grad_fn.name() == "_ExactConv2dBackward"
    x.grad = None
    for p in weights:
        p.grad = None
    ref = F.conv2d(x, layer.weight, layer.bias, padding=padding, dilation=dilation)
    (ref * torch.linspace(-1, 1, ref.numel()).reshape(ref.shape)).sum().backward()
    want = [ref.detach(), x.grad, *(p.grad for p in weights)]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_reproducible_mode_takes_the_fixed_order_path_and_fast_mode_onednn():
    from pipeline.numerics import aten_kernels, configure

    try:
        configure("fast")
        assert torch.backends.mkldnn.enabled and not conv._state["exact"]
        configure("reproducible")
        assert not torch.backends.mkldnn.enabled and conv._state["exact"]
        assert aten_kernels() == "AVX2"  # pinned on import, before any op
    finally:
        configure("reproducible")


def test_thread_count_does_not_change_trained_weights(tiny_stores, tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=2, lr=1e-3, crop_height=32, crop_width=32, val_fraction=0.25, seed=1)
    model = ModelConfig(width=0.125, batch_norm=True)
    threads = torch.get_num_threads()
    try:
        for n in (1, 3):
            train(tiny_stores["train"], tmp_path / str(n), cfg, model, run=RunConfig(threads=n), progress=False)
    finally:
        torch.set_num_threads(threads)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    a, b = (load_checkpoint(tmp_path / str(n) / "last.pt")["model"] for n in (1, 3))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_short_demo_recipe_training_gives_the_committed_weights_and_metrics(tmp_path):
    """Two epochs of the demo's model, crops, batch and optimiser on 40 of its images, then `evaluate`."""
    import json

    from pipeline.build import build_split
    from pipeline.evaluate import evaluate
    from pipeline.synth import SynthConfig, make_dataset

    make_dataset(tmp_path / "raw", SynthConfig(train=40, test=8, min_count=10, max_count=400, seed=0), progress=False)
    stores = {s: tmp_path / f"{s}.h5" for s in ("train", "test")}
    for split, store in stores.items():
        build_split("shanghaitech", tmp_path / "raw", split, store, progress=False)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, crop_height=128, crop_width=128, val_fraction=0.1, seed=0)
    summary = train(stores["train"], tmp_path / "m", cfg, ModelConfig(width=0.25, batch_norm=True), progress=False)
    weights = load_checkpoint(tmp_path / "m" / "last.pt")["model"]
    blob = b"".join(weights[k].numpy().tobytes() for k in sorted(weights))
    metrics = evaluate(
        tmp_path / "m" / "last.pt",
        stores["test"],
        stores["train"],
        metrics_out=tmp_path / "metrics.json",
        predictions_out=tmp_path / "predictions.csv",
        progress=False,
    )
    got = {"weights": hashlib.sha256(blob).hexdigest(), "val_mae": summary["best_val_mae"], "test_mae": metrics["mae"]}
    assert got == GOLDEN_EPOCHS
    assert json.loads((tmp_path / "metrics.json").read_text())["numerics"]["aten_kernels"] == "AVX2"
