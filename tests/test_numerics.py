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
from pipeline.buffers import Pool
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
model = CSRNet(0.25, batch_norm=True, exact=sys.argv[1] == "reproducible")
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


def _chain(pairs) -> np.float32:
    """fma(a[K-1], b[K-1], ... fma(a[0], b[0], 0)) in exact arithmetic, rounded once a term."""
    acc = np.float32(0.0)
    for x, y in pairs:
        acc = _round_f32(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(acc)))
    return acc


def _exact_conv(x, w, g, pad, dil):
    """Forward, input and weight gradient through `pipeline.conv`'s exact path, as numpy arrays."""
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    layer = conv.Conv2d(w.shape[1], w.shape[0], w.shape[-1], padding=pad, dilation=dil, bias=False)
    layer.weight = torch.nn.Parameter(wt)
    layer.exact, layer.workspace = True, Pool(1 << 26)
    out = layer(xt)
    assert out.grad_fn.name() == "_ExactConv2dBackward"
    (out * torch.from_numpy(g)).sum().backward()
    return out.detach().numpy(), xt.grad.numpy(), layer.weight.grad.numpy()


def test_sums_that_underflow_to_minus_zero_keep_the_textbook_sign():
    """Each product underflows to -0.0, so every fma chain is -0.0. The forward pass is that chain
    (-0.0); the input gradient is col2im's: the chains added to a zeroed image, +0.0 + -0.0 = +0.0."""
    x = np.full((1, 2, 5, 5), 1e-30, np.float32)
    w = np.full((3, 2, 3, 3), -1e-30, np.float32)
    g = np.full((1, 3, 5, 5), 1e-30, np.float32)
    out, gx, _ = _exact_conv(x, w, g, 1, 1)
    assert (out.view(np.int32) == np.float32(-0.0).view(np.int32)).all()
    assert (gx.view(np.int32) == 0).all()


@pytest.mark.parametrize("shape", range(len(gemm.SHAPES)))
@pytest.mark.parametrize("weight_layout", ["per offset", "by rows"])
def test_every_tile_shape_gives_the_fixed_fma_sequences_with_any_thread_count(shape, weight_layout, monkeypatch):
    """Each element of the forward pass and of both gradients, replayed in exact arithmetic.

    Sizes cross every edge: more terms than one pass (K > KC), rows and
    columns past a whole tile, borders of the padding and dilation 2; the
    weight gradient in both of its layouts.
    """
    monkeypatch.setattr(gemm, "shape_for", lambda m, n: shape)
    monkeypatch.setattr(conv, "_by_rows_cheaper", lambda *shapes: weight_layout == "by rows")
    rng = np.random.default_rng(7)
    nbatch, cin, cout, h, w, k, pad, dil = 2, 30, gemm.tile_dims(shape)[0] + 3, 7, 9, 3, 2, 2
    x = rng.standard_normal((nbatch, cin, h, w), dtype=np.float32)
    wt = rng.standard_normal((cout, cin, k, k), dtype=np.float32)
    g = rng.standard_normal((nbatch, cout, h, w), dtype=np.float32)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _exact_conv(x, wt, g, pad, dil)
        numba.set_num_threads(threads)
        many = _exact_conv(x, wt, g, pad, dil)
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(one, many, strict=True):
        assert np.array_equal(a.view(np.int32), b.view(np.int32))
    out, gx, gw = one
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    offsets = [(ki, kj) for ki in range(k) for kj in range(k)]
    for bi, co, oy, ox in [(0, 0, 0, 0), (1, cout - 1, h - 1, w - 1), (0, cout - 2, 3, 5), (1, 1, 6, 0)]:
        terms = [
            (wt[co, ci, ki, kj], xp[bi, ci, oy + ki * dil, ox + kj * dil]) for ci in range(cin) for ki, kj in offsets
        ]
        assert out[bi, co, oy, ox] == _chain(terms), ("forward", bi, co, oy, ox)
    for bi, ci, y, xx in [(0, 0, 0, 0), (1, cin - 1, h - 1, w - 1), (0, 17, 2, 4), (1, 5, 6, 1)]:
        acc = np.float32(0.0)  # col2im: each offset's sum added in kernel-offset order, outside ones skipped
        for ki, kj in offsets:
            oy, ox = y - ki * dil + pad, xx - kj * dil + pad
            if 0 <= oy < h and 0 <= ox < w:
                acc = acc + _chain((wt[co, ci, ki, kj], g[bi, co, oy, ox]) for co in range(cout))
        assert gx[bi, ci, y, xx] == acc, ("input gradient", bi, ci, y, xx)
    for co, ci, ki, kj in [(0, 0, 0, 0), (cout - 1, cin - 1, 2, 2), (cout - 2, 16, 1, 0)]:
        per_image = [
            _chain((g[bi, co, oy, ox], xp[bi, ci, oy + ki * dil, ox + kj * dil]) for oy in range(h) for ox in range(w))
            for bi in range(nbatch)
        ]
        assert gw[co, ci, ki, kj] == per_image[0] + per_image[1], ("weight gradient", co, ci, ki, kj)


@pytest.mark.parametrize(("kernel", "padding", "dilation"), [(3, 1, 1), (3, 2, 2), (1, 0, 1)])
def test_exact_convolution_and_its_gradients_agree_with_pytorchs(kernel, padding, dilation):
    torch.manual_seed(0)
    layer = conv.Conv2d(5, 7, kernel, padding=padding, dilation=dilation)
    x = torch.randn(3, 5, 11, 13, requires_grad=True)
    weights = (layer.weight, layer.bias)
    layer.exact, layer.workspace = True, Pool(1 << 26)
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


def test_the_exact_path_is_the_models_own_property_and_configure_sets_only_backends():
    from pipeline.model import CSRNet
    from pipeline.numerics import aten_kernels, configure

    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    try:
        configure("fast")
        assert torch.backends.mkldnn.enabled
        configure("reproducible")
        assert not torch.backends.mkldnn.enabled
        assert aten_kernels() == "AVX2"  # pinned (conftest) before any op
    finally:
        configure("reproducible")
    exact, plain = CSRNet(0.125, exact=True), CSRNet(0.125)
    assert exact.exact and not plain.exact
    assert exact(x).grad_fn.name() == "_ExactConv2dBackward"
    assert plain(x).grad_fn.name() != "_ExactConv2dBackward"
    assert plain.set_exact(True) is plain and plain.exact and plain(x).grad_fn.name() == "_ExactConv2dBackward"
    convs = [m for m in exact.modules() if isinstance(m, conv.Conv2d)]
    assert convs and all(m.exact and m.workspace is exact.workspace for m in convs)  # one pool, the model's


IMPORTS = """
import os, sys
before = dict(os.environ)
import pipeline, pipeline.train, pipeline.evaluate, pipeline.decoder, pipeline.runner, pipeline.model
import pipeline.cli, pipeline.infer.counter, annotate.server
changed = {k for k in before.keys() | os.environ.keys() if before.get(k) != os.environ.get(k)}
print(sorted(changed))
"""


def test_importing_the_package_leaves_the_environment_alone():
    """No import sets an environment variable: numerics are configured by the entry points, never imported."""
    environ = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
    r = subprocess.run([sys.executable, "-c", IMPORTS], env=environ, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"


CONFIGURED_LATE = """
import torch
from pipeline.errors import ConfigError
from pipeline.numerics import configure
torch.zeros(3).sum()  # torch's first operation fixes ATen's kernels
try:
    configure("reproducible")
except ConfigError as e:
    print(e)
"""


def test_reproducible_numerics_configured_after_torchs_first_operation_is_refused():
    environ = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
    r = subprocess.run(
        [sys.executable, "-c", CONFIGURED_LATE], env=environ, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    from pipeline.numerics import _has_avx2_fma

    if torch.backends.cpu.get_cpu_capability() == "AVX2" and not _has_avx2_fma():
        pytest.skip("a CPU without AVX2: configure warns instead")
    chose = subprocess.run(
        [sys.executable, "-c", "import torch; torch.zeros(1).sum(); print(torch.backends.cpu.get_cpu_capability())"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout.strip()
    if chose == "AVX2":
        assert r.stdout == ""  # ATen's own choice is already the pinned one: nothing to refuse
    else:
        assert "before torch's first operation" in r.stdout, r.stdout


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


def test_a_pooled_array_is_not_handed_out_again_while_a_view_of_it_lives():
    from pipeline.buffers import Pool

    pool = Pool(1 << 20)
    first = pool.array((4, 8))
    first[:] = 1.0
    view = first[1:]  # numpy's base of every view is the lease, not `first`
    del first
    second = pool.array((4, 8))
    second[:] = 2.0
    assert np.all(view == 1.0)
    address = view.__array_interface__["data"][0]
    del view
    third = pool.array((32,))  # the dead array's memory comes back
    assert third.__array_interface__["data"][0] <= address < third.__array_interface__["data"][0] + 128
    assert second.__array_interface__["data"][0] != third.__array_interface__["data"][0]


def test_freezing_a_model_for_inference_leaves_its_convolutions_exact():
    """torch.jit.script swaps submodules for their scriptable copies; the caller's model must keep `conv.Conv2d`."""
    from pipeline.model import CSRNet
    from pipeline.runner import optimize_for_inference

    model = CSRNet(0.125)
    optimize_for_inference(model)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(type(m) is conv.Conv2d for m in convs)
