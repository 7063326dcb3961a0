import subprocess
import sys

import click
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.store import read_split


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_synth_density_inspect_end_to_end(tmp_path):
    r = run("synth", "--out", tmp_path / "d", "--train", 2, "--test", 1, "--size", "80x60", "--max-count", 40)
    assert r.returncode == 0, r.stderr
    r = run(
        "density",
        "--from",
        "shanghaitech",
        "--root",
        tmp_path / "d",
        "--split",
        "train",
        "--out",
        tmp_path / "train.h5",
        "--border",
        "renormalize",
        "--workers",
        2,
    )
    assert r.returncode == 0, r.stderr
    store = read_split(tmp_path / "train.h5")
    assert len(store) == 2 and store.params["border"] == "renormalize"
    for rec in store.values():
        assert rec.density.sum() == pytest.approx(len(np.unique(np.floor(rec.points), axis=0)), rel=1e-4)
    r = run("inspect", tmp_path / "train.h5")
    assert r.returncode == 0 and "IMG_1" in r.stdout and "2 images" in r.stdout


def test_bad_data_exits_1_with_one_line_naming_the_file(sha_root, tmp_path):
    (sha_root / "train_data" / "ground-truth" / "GT_IMG_2.mat").write_bytes(b"\x00" * 10)
    r = run("density", "--from", "shanghaitech", "--root", sha_root, "--split", "train", "--out", tmp_path / "x.h5")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "GT_IMG_2.mat" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["density", "--from", "nope", "--root", ".", "--split", "train", "--out", "x.h5"],
        ["density", "--from", "shanghaitech", "--root", ".", "--split", "train"],
        ["density", "--from", "shanghaitech", "--root", ".", "--split", "val", "--out", "x.h5"],
        ["density", "--from", "ucf_cc_50", "--root", ".", "--split", "test", "--out", "x.h5"],
        ["density", "--from", "shanghaitech", "--root", ".", "--split", "train", "--out", "x.h5", "--beta", "-1"],
        ["synth", "--out", "d", "--size", "12by4"],
        ["frobnicate"],
    ],
)
def test_bad_usage_exits_2(args, tmp_path):
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name in group.list_commands(None):
        cmd = group.get_command(None, name)
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out.extend(_all_commands(cmd, (*prefix, name)))
    return out


def test_every_command_has_help():
    commands = _all_commands(cli)
    # the commands the docs' quickstart names, so a new command is covered without editing this test
    expected = {"synth", "density", "inspect", "export", "train", "evaluate", "count", "convert", "annotate", "bench"}
    assert expected <= {c[0] for c in commands} and ("bench", "train") in commands
    runner = CliRunner()
    for cmd in [(), *commands]:
        res = runner.invoke(cli, [*cmd, "--help"])
        assert res.exit_code == 0 and "Usage:" in res.output, cmd
        assert len(res.output.splitlines()) >= 3, cmd  # a description, not only the usage line


def test_inspect_flags_problems(tmp_path):
    from conftest import write_sha

    write_sha(tmp_path, "test", {1: np.array([[1.0, 1.0], [80.0, 5.0], [1.2, 1.1]]), 2: np.zeros((0, 2))})
    assert (
        run(
            "density",
            "--from",
            "shanghaitech",
            "--root",
            tmp_path,
            "--split",
            "test",
            "--out",
            tmp_path / "t.h5",
            "--duplicates",
            "keep",
        ).returncode
        == 0
    )
    out = run("inspect", tmp_path / "t.h5").stdout
    assert "1 point(s) outside the image" in out and "no heads" in out and "sigma < 0.5" in out
    assert "2 image(s) flagged" in out


def test_an_old_option_spelling_still_works_for_one_release_with_one_warning(tmp_path):
    """The one vocabulary (docs/cli.md): --from reads a format, --to writes one; the old --format of
    density still works, says so on stderr, and makes the same bytes."""
    r = run("synth", "--out", tmp_path / "d", "--train", 2, "--test", 1, "--size", "64x48")
    assert r.returncode == 0, r.stderr
    common = ["--root", tmp_path / "d", "--split", "train"]
    new = run("density", "--from", "shanghaitech", *common, "--out", tmp_path / "new.h5")
    old = run("density", "--format", "shanghaitech", *common, "--out", tmp_path / "old.h5")
    assert new.returncode == old.returncode == 0 and new.stderr == ""
    assert old.stderr.strip() == "warning: --format is now --from (the old name goes in the next release)"
    assert (tmp_path / "new.h5").read_bytes() == (tmp_path / "old.h5").read_bytes()
    missing = run("density", *common, "--out", tmp_path / "none.h5")
    assert missing.returncode == 2 and "Missing option '--from'" in missing.stderr
    assert not (tmp_path / "none.h5").exists()


def test_every_help_ends_with_examples_and_the_top_level_lists_whole_sentences():
    from pipeline.cli.group import SECTIONS, summary

    runner = CliRunner()
    for cmd in _all_commands(cli):
        out = runner.invoke(cli, [*cmd, "--help"]).output.rstrip()
        tail = out.split("\n\n")[-1]
        assert tail.startswith(("Example:", "Examples:")) and ("headcount" in tail or "torchrun" in tail), cmd
    top = runner.invoke(cli, ["--help"]).output
    listed = " ".join(top.split()).replace("- ", "-")  # a hyphen may end a wrapped line
    for group in SECTIONS.values():
        for name in group:
            # whole, not cut at 45 characters
            assert " ".join(summary(cli.get_command(None, name)).split()) in listed, name
    assert all(f"{title}:" in top for title in SECTIONS)


def test_each_command_comes_from_the_module_the_group_names_and_loads_only_when_asked():
    code = (
        "import sys\n"
        "from pipeline.cli import cli\n"
        "from pipeline.cli.group import COMMAND_MODULES\n"
        "mods = {f'pipeline.cli.{m}' for m in COMMAND_MODULES.values()}\n"
        "assert not mods & set(sys.modules), mods & set(sys.modules)\n"
        "cmd = cli.get_command(None, 'score')\n"
        "assert 'pipeline.cli.score' in sys.modules and 'pipeline.cli.data' not in sys.modules\n"
        "for name, mod in COMMAND_MODULES.items():\n"
        "    assert cli.get_command(None, name).callback.__module__ == f'pipeline.cli.{mod}', name\n"
        "assert set(cli.commands) == set(COMMAND_MODULES), set(cli.commands) ^ set(COMMAND_MODULES)\n"
        "assert cli.get_command(None, 'nope') is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
