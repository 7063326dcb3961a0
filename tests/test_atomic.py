"""Atomic writes: modes that follow the umask, and temp-file clean-up by literal name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.atomic import atomic_path, write_bytes


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_file_follows_the_umask_and_a_replaced_one_keeps_its_mode(tmp_path, umask_022):
    write_bytes(tmp_path / "new.json", b"{}")
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o644
    os.umask(0o002)
    write_bytes(tmp_path / "group.json", b"{}")
    assert (tmp_path / "group.json").stat().st_mode & 0o777 == 0o664
    (tmp_path / "shared.json").write_bytes(b"{}")
    os.chmod(tmp_path / "shared.json", 0o640)
    write_bytes(tmp_path / "shared.json", b"[]")  # a save must not lock teammates out
    assert (tmp_path / "shared.json").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("name", ["*.json", "[ab].json", "a?.json"])
def test_clean_up_matches_literal_names_not_glob_patterns(tmp_path, name):
    """An image named ``*`` must not delete the in-flight temp files of other images."""
    others = [tmp_path / ".a.json.tmp-abcd1234", tmp_path / ".ab.json.tmp-abcd1234", tmp_path / ".b.json.tmp-x1y2z3w4"]
    for p in others:
        p.write_bytes(b"in flight")
    stale = tmp_path / f".{name}.tmp-q1w2e3r4"
    stale.write_bytes(b"left by a killed writer")
    with atomic_path(tmp_path / name) as tmp:
        tmp.write_bytes(b"x")
    assert all(p.exists() for p in others) and not stale.exists()
    assert (tmp_path / name).read_bytes() == b"x"


@pytest.mark.slow
def test_killing_density_kills_its_workers(tmp_path):
    """SIGKILL of `headcount density --workers 2` leaves no orphaned worker behind."""
    from pipeline.synth import SynthConfig, make_dataset

    make_dataset(tmp_path / "raw", SynthConfig(train=0, test=60, width=640, height=480, seed=1), progress=False)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "density",
            "--from",
            "shanghaitech",
            "--root",
            str(tmp_path / "raw"),
            "--split",
            "test",
            "--out",
            str(tmp_path / "t.h5"),
            "--workers",
            "2",
            "--method",
            "fixed",
            "--sigma",
            "60",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.05)
    assert len(workers) >= 2, "the workers never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers)
    assert not (tmp_path / "t.h5").exists()


def _children(pid: int) -> list[int]:
    out = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
