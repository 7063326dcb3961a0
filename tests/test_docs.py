"""The documentation: the site builds strictly, the README's Python runs as written, no file cites a doc
that does not exist, and the README stays a front page (no measurement diary)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _example(marker: str) -> str:
    found = re.search(rf"<!-- {marker} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert found, f"README.md has no {marker} block"
    return found.group(1)


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    """mkdocs --strict: a broken link or anchor, a page missing from the nav, an API name that no longer
    exists or a command mkdocs-click cannot load fails the build."""
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    cli = (tmp_path / "site" / "cli" / "index.html").read_text()
    from pipeline.cli.group import COMMAND_MODULES  # loaded on use: the page must still list every one

    assert all(f"headcount {name}" in cli for name in COMMAND_MODULES), [
        n for n in COMMAND_MODULES if f"headcount {n}" not in cli
    ]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "DensityDataset" in api and "Count the people in one photo" in api


def test_the_readme_count_example_runs(tmp_path, monkeypatch):
    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_example("count-example"), "README.md", "exec"), scope)
    assert scope["result"].density.shape == (48, 64)


def test_the_readme_density_map_example_runs(tiny_stores, tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "raw").mkdir(parents=True)
    (data / "density" / "synthetic").mkdir(parents=True)
    (data / "raw" / "synthetic").symlink_to(tiny_stores["train"].parent / "raw")
    (data / "density" / "synthetic" / "train.h5").symlink_to(tiny_stores["train"])
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_example("density-map-example"), "README.md", "exec"), scope)
    assert scope["density"].shape == (48, 64) and scope["record"].count > 0


DOC_REFERENCE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".js", ".html", ".css", ".txt", ""}


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    return [ROOT / n for n in names if Path(n).suffix in TEXT_SUFFIXES and (ROOT / n).is_file()]


def test_no_file_cites_a_doc_that_does_not_exist():
    """Every markdown file a tracked file names exists, beside that file, in the repository root or in
    docs/ (the code once cited sections of a design file the project never had)."""
    missing = []
    for path in _tracked_text_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for ref in set(DOC_REFERENCE.findall(text)):
            bases = (path.parent, ROOT, ROOT / "docs")
            if not any((base / ref).is_file() for base in bases):
                missing.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not missing, missing


def test_the_readme_is_a_front_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "dates belong to benchmarks/README.md and the CHANGELOG"
    assert not re.search(r"Xeon|EPYC|Ryzen|\bVM\b|H100|H200", text), "machines belong to benchmarks/README.md"
    assert text.count("```bash") >= 1 and "make demo" in text.split("```")[1] and "make test" in text.split("```")[1]
