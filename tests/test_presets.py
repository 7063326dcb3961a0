"""Presets replace whole sections of params.yaml, keep the rest as it was written, and refuse a bad key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.presets import PRESETS, apply_preset, available

ROOT = Path(__file__).resolve().parents[1]


def _blocks(text: str) -> dict[str, str]:
    """Top-level sections of a params file, as text."""
    out, name = {}, None
    for line in text.splitlines(keepends=True):
        if line[:1].isalpha():
            name = line.split(":")[0]
        if name:
            out[name] = out.get(name, "") + line
    return out


@pytest.mark.parametrize("name", available())
def test_every_preset_applies_to_the_committed_params_and_keeps_the_other_sections(tmp_path, name):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    before = params.read_text()
    replaced = apply_preset(name, params)
    preset = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
    after = yaml.safe_load(params.read_text())
    assert replaced == list(preset) and all(after[k] == v for k, v in preset.items())
    old, new = _blocks(before), _blocks(params.read_text())
    assert set(new) == set(old) | set(preset)
    for key in set(old) - set(preset):  # untouched, comments included
        assert new[key].rstrip() == old[key].rstrip(), key


@pytest.mark.parametrize("name", available())
def test_every_preset_gives_params_complete_key_by_key(tmp_path, name):
    """After any preset, every section holds exactly the keys of the committed params.yaml: nothing is left
    to a dataclass default (the check that found csrnet-sha and csrnet-shb without train.target)."""
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    apply_preset(name, params)
    committed, applied = yaml.safe_load((ROOT / "params.yaml").read_text()), yaml.safe_load(params.read_text())
    for section_name, keys in committed.items():
        if section_name == "datasets":
            for entry in applied["datasets"].values():
                assert {"format", "root", "splits"} <= set(entry) <= {"format", "root", "splits", "options"}
            continue
        assert set(applied[section_name]) == set(keys), (name, section_name)


def test_the_papers_presets_are_the_reference_recipe():
    for name in ("csrnet-sha", "csrnet-shb"):
        p = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
        assert p["model"] == {"width": 1.0, "batch_norm": False, "pretrained": None, "output_stride": 8}
        t = p["train"]
        assert (t["optimizer"], t["lr"], t["momentum"], t["weight_decay"], t["batch_size"]) == (
            "sgd",
            1e-7,
            0.95,
            5e-4,
            1,
        )
    gpu = yaml.safe_load((PRESETS / "csrnet-shb-gpu.yaml").read_text())["train"]
    assert (gpu["precision"], gpu["channels_last"], gpu["compile"], gpu["batch_size"]) == ("bf16", True, True, 16)


def test_a_preset_with_a_bad_key_is_refused_and_params_stays_as_it_was(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    before = params.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  dataset: synthetic\n  lr: fast\n")
    with pytest.raises(ConfigError, match=r"train\.lr must be a number"):
        apply_preset(str(bad), params)
    bad.write_text("trainn:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match="unknown section"):
        apply_preset(str(bad), params)
    train = yaml.safe_load(before)["train"]
    bad.write_text(yaml.safe_dump({"train": {**train, "dataset": "nowhere"}}))
    with pytest.raises(ConfigError, match="train.dataset 'nowhere' is not in 'datasets'"):
        apply_preset(str(bad), params)
    bad.write_text(yaml.safe_dump({"train": {k: v for k, v in train.items() if k != "target"}}))
    with pytest.raises(ConfigError, match="train needs target"):  # a preset replaces a whole section
        apply_preset(str(bad), params)
    assert params.read_text() == before


def test_the_command_lists_and_applies(tmp_path):
    r = CliRunner().invoke(cli, ["preset", "--list"])
    assert r.exit_code == 0 and all(n in r.output for n in ("csrnet-sha", "csrnet-shb", "csrnet-shb-gpu"))
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    r = CliRunner().invoke(cli, ["preset", "csrnet-shb", "--params", str(tmp_path / "params.yaml")])
    assert r.exit_code == 0 and "datasets, model, train" in r.output
    r = CliRunner().invoke(cli, ["preset", "nope", "--params", str(tmp_path / "params.yaml")])
    assert r.exit_code != 0 and "no preset 'nope'" in str(r.exception)
