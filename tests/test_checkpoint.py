"""Checkpoints never run code from the file."""

from __future__ import annotations

import os

import pytest
import torch

from pipeline.checkpoint import load_checkpoint, save_checkpoint
from pipeline.errors import DataError


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("wrap", [lambda p: p, lambda p: {"model": p, "model_config": {}}])
def test_a_malicious_pickle_is_refused_and_its_code_never_runs(tmp_path, wrap):
    marker = tmp_path / "pwned"
    path = tmp_path / "last.pt"
    torch.save(wrap(_Payload(str(marker))), path)
    with pytest.raises(DataError, match="last.pt: not a headcount checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04truncated", b"not a checkpoint"])
def test_a_truncated_or_foreign_file_is_a_data_error(tmp_path, content):
    path = tmp_path / "best.pt"
    path.write_bytes(content)
    with pytest.raises(DataError, match="best.pt: not a headcount checkpoint"):
        load_checkpoint(path)


def test_a_saved_checkpoint_loads_back(tmp_path):
    save_checkpoint(tmp_path / "c.pt", model={"w": torch.ones(2)}, model_config={"width": 1.0}, best_mae=float("inf"))
    ck = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(ck["model"]["w"], torch.ones(2)) and ck["best_mae"] == float("inf")
