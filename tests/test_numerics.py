"""Reproducible numerics: the same training bits on any instruction set and thread count."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from pipeline.checkpoint import load_checkpoint
from pipeline.model import ModelConfig
from pipeline.params import RunConfig
from pipeline.train import TrainConfig, train

STEPS = """
import hashlib, sys
from pipeline.numerics import configure
from pipeline.model import CSRNet
import torch
configure(sys.argv[1], int(sys.argv[2]))
torch.manual_seed(0)
model = CSRNet(0.25, batch_norm=True)
x, y = torch.randn(4, 3, 64, 96), torch.rand(4, 1, 8, 12)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
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


def test_reproducible_training_steps_are_the_same_bits_on_avx2_and_avx512_with_any_thread_count():
    """Three forward/backward/Adam steps of CSRNet, as an AVX2-only CPU and as this one would run them."""
    digests = {
        _digest("reproducible", 1),
        _digest("reproducible", 2, ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2"),
        _digest("reproducible", 3, ATEN_CPU_CAPABILITY="avx2"),
    }
    assert len(digests) == 1


def test_reproducible_mode_turns_onednn_off_and_fast_mode_on():
    from pipeline.numerics import configure

    try:
        configure("reproducible")
        assert not torch.backends.mkldnn.enabled and os.environ["MKL_CBWR"] == "AVX2,STRICT"
        configure("fast")
        assert torch.backends.mkldnn.enabled
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
    a, b = (load_checkpoint(tmp_path / str(n) / "last.pt")["model"] for n in (1, 3))
    assert all(torch.equal(a[k], b[k]) for k in a)
