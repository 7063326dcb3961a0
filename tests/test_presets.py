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


@pytest.fixture
def datasets(tmp_path):
    """A datasets folder as a user keeps one: ShanghaiTech's two parts."""
    for part in ("part_A", "part_B"):
        (tmp_path / "ds" / "ShanghaiTech" / part).mkdir(parents=True)
    return tmp_path / "ds"


@pytest.mark.parametrize("name", available())
def test_every_preset_applies_to_the_committed_params_and_keeps_the_other_sections(tmp_path, name, datasets):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    before = params.read_text()
    replaced = apply_preset(name, params, root=datasets)
    preset = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
    after = yaml.safe_load(params.read_text())
    for entry in preset.get("datasets", {}).values():  # under the datasets folder (absolute: as given)
        entry["root"] = f"{datasets}/{entry['root']}"
    assert replaced == list(preset) and all(after[k] == v for k, v in preset.items())
    old, new = _blocks(before), _blocks(params.read_text())
    assert set(new) == set(old) | set(preset)
    for key in set(old) - set(preset):  # untouched, comments included
        assert new[key].rstrip() == old[key].rstrip(), key


@pytest.mark.parametrize("name", available())
def test_every_preset_gives_params_complete_key_by_key(tmp_path, name, datasets):
    """After any preset, every section holds exactly the keys of the committed params.yaml: nothing is left
    to a dataclass default (the check that found csrnet-sha and csrnet-shb without train.target)."""
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    apply_preset(name, params, root=datasets)
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


def test_the_command_lists_one_line_each_and_applies(tmp_path, datasets):
    r = CliRunner().invoke(cli, ["preset", "--list"])
    lines = r.output.splitlines()
    assert r.exit_code == 0 and [line.split()[0] for line in lines] == available()
    assert all(len(line.split()) > 3 for line in lines)  # a description, not only the name
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    args = ["preset", "csrnet-shb", "--params", str(tmp_path / "params.yaml")]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code != 0 and "--root" in str(r.exception) and "ShanghaiTech/part_B" in str(r.exception)
    r = CliRunner().invoke(cli, [*args, "--root", str(datasets)])
    assert r.exit_code == 0 and "datasets, model, train" in r.output
    r = CliRunner().invoke(cli, ["preset", "nope", "--params", str(tmp_path / "params.yaml")])
    assert r.exit_code != 0 and "no preset 'nope'" in str(r.exception)


def test_root_may_name_a_single_datasets_own_folder_but_not_a_missing_one(tmp_path, datasets, monkeypatch):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    apply_preset("shb-cpu", params, root=datasets / "ShanghaiTech" / "part_B")
    assert yaml.safe_load(params.read_text())["datasets"]["shb"]["root"] == f"{datasets}/ShanghaiTech/part_B"
    monkeypatch.chdir(tmp_path.parent)  # a relative root is written relative to params.yaml's folder
    apply_preset("shb-cpu", params, root=Path(tmp_path.name) / "ds")
    assert yaml.safe_load(params.read_text())["datasets"]["shb"]["root"] == "ds/ShanghaiTech/part_B"
    before = params.read_text()
    (datasets / "ShanghaiTech" / "part_A").rmdir()
    with pytest.raises(ConfigError, match="holds no ShanghaiTech/part_A"):  # two datasets: each must be there
        apply_preset("photo-cpu", params, root=datasets)
    with pytest.raises(ConfigError, match="datasets folder not found"):
        apply_preset("shb-cpu", params, root=tmp_path / "nowhere")
    assert params.read_text() == before


def _train_preset(tmp_path, **change):
    train = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    path = tmp_path / "train-only.yaml"
    path.write_text(yaml.safe_dump({"train": {**train, **change}}, sort_keys=False))
    return str(path)


def test_a_quoted_key_is_a_key(tmp_path):
    """The text scan took `'train':` for part of the section above it: stream-cpu (model) deleted train."""
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text().replace("\ntrain:", "\n'train':"))
    apply_preset("stream-cpu", params)
    after = yaml.safe_load(params.read_text())
    assert after["train"] == yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    assert "\n'train':" in params.read_text()  # its quoting kept
    apply_preset(_train_preset(tmp_path, epochs=3), params)
    assert yaml.safe_load(params.read_text())["train"]["epochs"] == 3


def test_a_column_0_comment_above_a_section_stays_with_it(tmp_path):
    params = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text()
    params.write_text(
        text.replace("\ntrain:", "\n# my note on train\ntrain:").replace("\nevaluate:", "\n# on evaluate\nevaluate:")
    )
    apply_preset("stream-cpu", params)  # replaces model, whose last line is above the train note
    apply_preset(_train_preset(tmp_path, epochs=3), params)  # and train, above the evaluate note
    out = params.read_text()
    assert "# my note on train\ntrain:" in out and "# on evaluate\nevaluate:" in out


def test_anchors_survive_outside_the_replaced_sections_and_are_refused_inside(tmp_path):
    params = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text()
    shared = text.replace("  workers: ", "  workers: &w ", 1).replace("  threads: ", "  threads: *w #", 1)
    params.write_text(shared)  # both in run: a preset of train leaves them as they are
    apply_preset(_train_preset(tmp_path, epochs=3), params)
    assert "&w" in params.read_text() and "*w" in params.read_text()
    cross = text.replace("  workers: ", "  workers: &w ", 1).replace("  epochs: 20", "  epochs: *w", 1)
    params.write_text(cross)  # the alias sits in train: replacing train would drop what it shares
    with pytest.raises(ConfigError, match=r"section 'train' uses the YAML alias \*w"):
        apply_preset(_train_preset(tmp_path, epochs=3), params)
    params.write_text(text.replace("\ntrain:", "\ntrain: &t", 1) + "later: *t\n")
    with pytest.raises(ConfigError, match="section 'train' uses the YAML anchor &t"):
        apply_preset(_train_preset(tmp_path, epochs=3), params)
    assert params.read_text().endswith("later: *t\n")


def test_what_is_written_is_the_text_that_was_checked(tmp_path, monkeypatch):
    """The check reads back the text that will be written, not a merge of two dicts: a splice that got
    the text wrong is refused and params.yaml is left as it was."""
    import pipeline.presets as presets

    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    before = params.read_text()
    monkeypatch.setattr(presets, "splice", lambda text, blocks, where: text.replace("\nrun:", "\nrun_:"))
    with pytest.raises(ConfigError, match="without changing other sections"):
        apply_preset("stream-cpu", params)
    assert params.read_text() == before


def test_a_symlinked_params_file_is_refused_not_replaced_by_a_plain_file(tmp_path):
    """Issue 34, minor: preset replaced a symlinked params.yaml with a plain file."""
    real = tmp_path / "shared" / "params.yaml"
    real.parent.mkdir()
    real.write_text((ROOT / "params.yaml").read_text())
    link = tmp_path / "params.yaml"
    link.symlink_to(real)
    with pytest.raises(ConfigError, match="is a symbolic link; not replacing it"):
        apply_preset("stream-cpu", link)
    assert link.is_symlink() and real.read_text() == (ROOT / "params.yaml").read_text()
