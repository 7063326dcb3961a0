"""Device and precision settings: resolved once, refused clearly, and the bf16 path runs on a CPU."""

from __future__ import annotations

import pytest
import torch
from conftest import committed

from pipeline.device import autocast, resolve_device
from pipeline.errors import ConfigError
from pipeline.model import CSRNet
from pipeline.params import run_config


def test_auto_is_the_cpu_without_a_gpu_and_a_missing_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device("cpu") == torch.device("cpu")
    for spec in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device(spec)


def test_a_gpu_index_past_the_last_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    monkeypatch.setenv("LOCAL_RANK", "3")  # torchrun's fourth process on a 2-GPU machine
    assert resolve_device("auto") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="sees 2 GPU"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "CPU", ""])
def test_a_device_spec_that_names_no_device_is_a_params_error(spec):
    with pytest.raises(ConfigError, match=r"params.yaml: run.device must be auto, cpu, cuda or cuda:N"):
        run_config({"run": committed("run", device=spec)})


def test_bf16_autocast_runs_the_convolutions_in_bfloat16_on_a_cpu():
    torch.manual_seed(0)
    model = CSRNet(0.125).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        with autocast(torch.device("cpu"), "fp32"):
            full = model(x)
        with autocast(torch.device("cpu"), "bf16"):
            half = model(x)
    assert full.dtype == torch.float32 and half.dtype == torch.bfloat16
    assert not torch.equal(full, half.float())
    assert torch.allclose(full, half.float(), rtol=0.05, atol=0.05 * float(full.abs().max()))
