"""Small on-disk datasets in each supported layout, built by the tests themselves."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import yaml
from PIL import Image

from pipeline.numerics import pin_cpu_kernels
from pipeline.readers.matfile import gt_mat_bytes

pin_cpu_kernels()  # before any test's first torch operation: tests train with reproducible numerics in-process


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs ``-n 2``) the workers share the cores: one thread each,
    for torch and for the exact convolution's numba kernels (thread counts never change a result)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import numba
        import torch

        torch.set_num_threads(1)
        numba.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` tests first: under xdist the longest ones start while the short ones fill the gaps,
    instead of one worker finishing a 20-s test alone at the end (longest-first scheduling)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def committed(name: str, **overrides: object) -> dict:
    """Section `name` of the committed params.yaml with `overrides`: a complete section, as `section()` wants."""
    return {**yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())[name], **overrides}


def write_image(path: Path, width: int, height: int, fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (120, 110, 100)).save(path, format=fmt)
    return path


def write_sha(root: Path, split: str, items: dict[int, np.ndarray], size=(64, 48), gt_dir="ground-truth"):
    """ShanghaiTech layout: IMG_<n>.jpg + GT_IMG_<n>.mat with the official nesting."""
    base = root / f"{split}_data"
    for n, pts in items.items():
        write_image(base / "images" / f"IMG_{n}.jpg", *size)
        (base / gt_dir).mkdir(parents=True, exist_ok=True)
        (base / gt_dir / f"GT_IMG_{n}.mat").write_bytes(gt_mat_bytes(pts))
    return root


def write_ucf(root: Path, numbers, size=(64, 48), seed=0):
    rng = np.random.default_rng(seed)
    for n in numbers:
        write_image(root / f"{n}.jpg", *size)
        pts = np.column_stack([rng.uniform(0, size[0], 5), rng.uniform(0, size[1], 5)])
        scipy.io.savemat(root / f"{n}_ann.mat", {"annPoints": pts})
    return root


def write_points(root: Path, stem: str, pts, size=(64, 48), revision=1):
    write_image(root / "images" / f"{stem}.png", *size, fmt="PNG")
    doc = {
        "format": "headcount-points",
        "version": 1,
        "image": f"images/{stem}.png",
        "width": size[0],
        "height": size[1],
        "revision": revision,
        "points": [list(p) for p in pts],
    }
    (root / "points").mkdir(parents=True, exist_ok=True)
    (root / "points" / f"{stem}.json").write_text(json.dumps(doc))
    return root


@pytest.fixture
def sha_root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    items = {n: np.column_stack([rng.uniform(0, 64, 6 + n), rng.uniform(0, 48, 6 + n)]) for n in (1, 2, 10)}
    write_sha(tmp_path / "sha", "train", items)
    write_sha(tmp_path / "sha", "test", {3: items[1]})
    return tmp_path / "sha"


@pytest.fixture(scope="session")
def tiny_stores(tmp_path_factory) -> dict[str, Path]:
    """A synthetic dataset of small images with its density stores (train and test)."""
    from pipeline.build import build_split
    from pipeline.synth import SynthConfig, make_dataset

    root = tmp_path_factory.mktemp("tiny")
    make_dataset(
        root / "raw",
        SynthConfig(train=8, test=3, width=64, height=48, min_count=5, max_count=30, seed=3),
        progress=False,
    )
    stores = {}
    for split in ("train", "test"):
        stores[split] = root / f"{split}.h5"
        build_split("shanghaitech", root / "raw", split, stores[split], progress=False)
    return stores


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(folder: Path, *args: str) -> Iterator[str]:
    """`headcount annotate FOLDER ARGS` for the length of a ``with`` block: yields the base url.

    The command runs in a thread of the test's own process: the same CLI, app and uvicorn server a user
    starts, without a new interpreter importing torch for every test. `start_annotate` is the
    subprocess, for tests that kill it or read what it prints.
    """
    import threading
    import time
    import urllib.request
    from unittest import mock

    import uvicorn

    from pipeline.cli import cli

    port, servers, failed = free_port(), [], []
    run = uvicorn.Server.run

    def recorded(self, *a, **k):  # the one server this command starts, so that the block's end can stop it
        servers.append(self)
        return run(self, *a, **k)

    def command() -> None:
        try:
            cli.main(["annotate", str(folder), "--port", str(port), *args], standalone_mode=False)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            failed.append(exc)

    url = f"http://127.0.0.1:{port}/"
    with mock.patch.object(uvicorn.Server, "run", recorded):
        thread = threading.Thread(target=command, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "api/images", timeout=1)
                break
            except OSError:
                if failed or not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"annotation server did not start: {failed!r}") from None
                time.sleep(0.02)
        try:
            yield url
        finally:
            for server in servers:
                server.should_exit = True
            thread.join(30)
            if thread.is_alive():
                for server in servers:
                    server.force_exit = True
                thread.join(10)


def start_annotate(folder: Path, *args: str, port: int | None = None):
    """`headcount annotate FOLDER` in a subprocess; returns (process, base url) once it answers."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "annotate", str(folder), "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "api/images", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"annotation server did not start: {proc.stderr.read().decode()[-2000:]}")


def many_images(root: Path, n: int) -> Path:
    """`n` small PNGs, a tenth of them with a point file: a folder of a big annotation project."""
    folder = root / "many"
    (folder / "images").mkdir(parents=True)
    (folder / "points").mkdir()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(folder / "images" / "img_00000.png")
    body = (folder / "images" / "img_00000.png").read_bytes()
    for i in range(n):
        (folder / "images" / f"img_{i:05d}.png").write_bytes(body)
        if i % 10 == 0:
            doc = {"format": "headcount-points", "version": 3, "image": f"images/img_{i:05d}.png", "width": 64}
            doc.update(height=48, revision=1, status="done" if i % 20 == 0 else "todo", tiles=None, points=[[5, 5]])
            (folder / "points" / f"img_{i:05d}.json").write_text(json.dumps(doc))
    return folder


def project_copy(dest: Path) -> Path:
    """The project's files as this working tree has them (tracked and new, not ignored), in a fresh git repo:
    what DVC sees in a user's clone, without the data."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    listed = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    for name in subprocess.run(listed, cwd=root, capture_output=True, text=True, check=True).stdout.split():
        if (root / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def real_dataset(*parts: str) -> Path:
    """A real dataset under ``../shared/datasets`` (or ``$HEADCOUNT_DATASETS``); the test is skipped, saying
    so, where it is absent (a user's clone)."""
    import os

    base = Path(os.environ.get("HEADCOUNT_DATASETS") or Path(__file__).resolve().parents[2] / "shared" / "datasets")
    path = base.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"real dataset {path} absent (set HEADCOUNT_DATASETS to a folder that holds it)")
    return path


def run_main(args: list, capsys) -> tuple[int, str]:
    """`headcount ARGS` in this process, through the same main() the console script runs: (exit code, stderr)."""
    import sys

    from pipeline.cli import main

    argv = sys.argv
    sys.argv = ["headcount", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, capsys.readouterr().err
