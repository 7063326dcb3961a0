"""DVC stages fail as the command does: a bad params.yaml entry is one line naming its key, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import project_copy

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"format": "shanghaitech", "root": "data/raw/tiny", "splits": ["train"]}
BROKEN = {
    "unknown format": ({**GOOD, "format": "shanghaitek"}, "datasets.tiny.format: unknown format 'shanghaitek'"),
    "splits as a string": ({**GOOD, "splits": "train"}, "datasets.tiny.splits must be a list of strings"),
    "a misspelt key": ({**GOOD, "option": {"fold": 1}}, "unknown key(s) in 'datasets.tiny': option"),
    "no root": ({"format": "shanghaitech", "splits": ["train"]}, "datasets.tiny needs root"),
    "not a mapping": ("shanghaitech", "'datasets.tiny' must be a mapping of keys"),
}


def _dvc_env() -> dict[str, str]:
    """The environment for `dvc repro`: its stages' `python` is this venv's."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _params(tmp_path: Path, entry: object) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"] = {"tiny": entry}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_datasets_entry_is_one_line_naming_its_key_and_exit_2(tmp_path, case):
    entry, message = BROKEN[case]
    for stage in ("density", "report"):
        r = subprocess.run(
            [sys.executable, str(ROOT / "stages" / f"{stage}.py"), "tiny"],
            cwd=_params(tmp_path, entry),
            capture_output=True,
            text=True,
        )
        if stage == "report" and case == "unknown format":
            continue  # a report reads stores, not the dataset: its format is not its business
        assert r.returncode == 2, (stage, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: params.yaml: {message}"), r.stderr
        assert "Traceback" not in r.stderr


def test_a_dataset_name_that_is_not_in_params_is_named_with_the_known_ones(tmp_path):
    r = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "density.py"), "tinny"],
        cwd=_params(tmp_path, GOOD),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr == "error: params.yaml: no dataset 'tinny' in 'datasets' (known: tiny)\n"


def test_dvc_repro_with_a_broken_entry_shows_the_stages_one_line_and_no_traceback(tmp_path):
    repo = project_copy(tmp_path / "repo")
    (repo / "data" / "raw" / "tiny").mkdir(parents=True)
    _params(repo, {**GOOD, "format": "shanghaitek"})
    env = _dvc_env()
    dvc = [sys.executable, "-m", "dvc", "repro", "--single-item", "density@tiny"]
    r = subprocess.run(dvc, cwd=repo, capture_output=True, text=True, env=env)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "Traceback" not in out
    assert "error: params.yaml: datasets.tiny.format: unknown format 'shanghaitek'" in out
    assert "exited with 2" in out


@pytest.mark.slow
def test_dvc_repro_runs_density_train_and_evaluate_on_a_cvat_export(tmp_path):
    """A `datasets:` entry of format cvat goes through the pipeline like any dataset (issue 20)."""
    import numpy as np
    from conftest import write_image

    repo = project_copy(tmp_path / "repo")
    root = repo / "data" / "raw" / "cvat"
    rng = np.random.default_rng(0)
    images = []
    for i, subset in enumerate(["train"] * 6 + ["test"] * 2):
        write_image(root / "images" / subset / f"im{i}.jpg", 64, 48)
        pts = ";".join(f"{x:.2f},{y:.2f}" for x, y in rng.uniform([0, 0], [64, 48], (5 + 3 * i, 2)))
        images.append(
            f'<image id="{i}" name="im{i}.jpg" width="64" height="48" subset="{subset}">'
            f'<points label="head" occluded="0" points="{pts}"></points></image>'
        )
    (root / "annotations.xml").write_text("<annotations><version>1.1</version>" + "".join(images) + "</annotations>")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["datasets"] = {"cvat": {"format": "cvat", "root": "data/raw/cvat", "splits": ["train", "test"]}}
    params["train"].update(dataset="cvat", epochs=1, batch_size=2, crop_height=32, crop_width=32)
    params["model"].update(width=0.0625)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = _dvc_env()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True, capture_output=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=repo, check=True, capture_output=True)  # dvclive needs one
    r = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "evaluate"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Running stage 'density@cvat'" in r.stdout and "Running stage 'synthesize'" not in r.stdout
    metrics = json.loads((repo / "metrics.json").read_text())
    # train images hold 5, 8, ..., 20 heads (mean 12.5), test images 23 and 26: |12.5 - 23| and |12.5 - 26|
    assert metrics["n_images"] == 2 and metrics["baseline_mae"] == pytest.approx(12.0)
