"""The package as a user installs it: an sdist of the tracked files, a wheel built from that sdist, installed
into a fresh venv outside the checkout, and used from there (the presets, the annotation page, density maps,
the shipped model). Where the wheel lacked package data, each of these failed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path, env: dict | None = None, timeout: float = 300) -> str:
    r = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{args}: {r.stdout[-2000:]}{r.stderr[-2000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, the wheel's file names): the wheel built from the sdist, in a venv whose only
    other packages are this test's own (a .pth line, so nothing is downloaded)."""
    base = tmp_path_factory.mktemp("wheel")
    tracked = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    src = base / "src"
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    build = "import sys, setuptools.build_meta as b; print(getattr(b, sys.argv[1])(sys.argv[2]))"
    sdist = _run(sys.executable, "-c", build, "build_sdist", base / "dist", cwd=src).strip().splitlines()[-1]
    with tarfile.open(base / "dist" / sdist) as tar:
        tar.extractall(base / "unpacked", filter="data")
    (unpacked,) = (base / "unpacked").iterdir()
    wheel = _run(sys.executable, "-c", build, "build_wheel", base / "dist", cwd=unpacked).strip().splitlines()[-1]
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=base).strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")  # numpy, torch, ... (not headcount)
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        base / "dist" / wheel,
        cwd=base,
    )
    names = zipfile.ZipFile(base / "dist" / wheel).namelist()
    return python, names, base


def _env(python: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_wheel_carries_the_page_the_presets_and_the_shipped_model(installed):
    _, names, _ = installed
    for want in (
        "annotate/static/index.html",
        "annotate/static/app.js",
        "pipeline/presets/shb-cpu.yaml",
        "pipeline/weights/photo.pt",
        "pipeline/weights/README.md",
    ):
        assert want in names, want
    assert not any(n.startswith(("tests/", "stages/", "benchmarks/")) for n in names)


def test_the_installed_package_runs_from_outside_the_checkout(installed, tmp_path):
    python, _, base = installed
    env = _env(python)
    where = _run(
        python, "-c", "import pipeline, annotate; print(pipeline.__file__, annotate.__file__)", cwd=tmp_path, env=env
    )
    assert str(ROOT) not in where and str(base / "venv") in where
    listed = _run(python.parent / "headcount", "preset", "--list", cwd=tmp_path, env=env)
    assert "shb-cpu" in listed and "photo-cpu" in listed
    _run(
        python.parent / "headcount",
        "synth",
        "--out",
        "raw",
        "--train",
        "2",
        "--test",
        "1",
        "--size",
        "64x48",
        cwd=tmp_path,
        env=env,
    )
    _run(
        python.parent / "headcount",
        "density",
        "--from",
        "shanghaitech",
        "--root",
        "raw",
        "--split",
        "train",
        "--out",
        "train.h5",
        cwd=tmp_path,
        env=env,
    )
    assert (tmp_path / "train.h5").stat().st_size > 0
    photo = next((tmp_path / "raw" / "train_data" / "images").iterdir())
    counted = _run(
        python,
        "-c",
        f"import pipeline; r = pipeline.count({str(photo)!r}); print(r.count, r.density.shape)",
        cwd=tmp_path,
        env=env,
    )
    assert counted.split()[1:] == ["(48,", "64)"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_installed_annotation_tool_serves_its_page_and_proposes_with_the_shipped_model(installed, tmp_path):
    python, _, _ = installed
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(tmp_path / "images" / "a.jpg")
    port = _free_port()
    server = subprocess.Popen(
        [python.parent / "headcount", "annotate", ".", "--port", str(port)],
        cwd=tmp_path,
        env=_env(python),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(300):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.1)
        assert page.status == 200 and b"<html" in page.read().lower()
        for script in ("app.js", "view.js", "style.css"):
            assert urllib.request.urlopen(f"http://127.0.0.1:{port}/static/{script}", timeout=5).status == 200
        config = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/config", timeout=5))
        assert config["proposals"] is True  # the shipped model, found in the installed package
        got = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/images/a/proposals", timeout=60))
        assert got["stride"] == 4 and len(got["points"]) == len(got["scores"])
    finally:
        server.terminate()
        server.wait(timeout=30)
