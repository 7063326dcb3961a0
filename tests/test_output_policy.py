"""One output policy for folders of outputs (issue 34, cases 1, 3 and 4): a manifest says what each run
wrote; a file it does not list is never edited, a re-run replaces exactly its split's earlier files, and
nothing is written through a symbolic link."""

from __future__ import annotations

import json

import pytest
from conftest import run_main, write_points

from pipeline.outputs import MANIFEST


@pytest.fixture
def ann(tmp_path):
    root = tmp_path / "ann"
    for i, stem in enumerate("abcdef"):
        write_points(root, stem, [[10 + i, 10], [20, 20 + i]])
    return root


@pytest.fixture
def store(ann, tmp_path, capsys):
    path = tmp_path / "s.h5"
    assert run_main(["density", "--from", "points", "--root", ann, "--split", "all", "--out", path], capsys)[0] == 0
    return path


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


FOREIGN = {
    "coco": ("annotations.json", json.dumps({"images": [], "annotations": [], "categories": [{"id": 1}]})),
    "cvat": ("annotations.xml", '<?xml version="1.0"?><!-- theirs --><annotations></annotations>'),
    "label_studio": ("tasks.json", json.dumps([{"id": 5, "data": {"image": "/x.jpg"}, "annotations": []}])),
}


@pytest.mark.parametrize("fmt", sorted(FOREIGN))
def test_an_annotation_file_the_command_did_not_write_is_never_appended_to(ann, tmp_path, capsys, fmt):
    """Case 1: convert into a folder holding someone's COCO file appended to it (exit 0); CVAT lost their
    comments; Label Studio appended tasks. Now the folder is refused before any sample is read."""
    out = tmp_path / "theirs"
    out.mkdir()
    name, text = FOREIGN[fmt]
    (out / name).write_text(text)
    code, err = run_main(
        ["convert", "--from", "points", "--root", ann, "--split", "all", "--to", fmt, "--out", out], capsys
    )
    assert code == 2 and "holds no earlier headcount" in err and len(err.strip().splitlines()) == 1, err
    assert _files(out) == {name: text.encode()}


@pytest.mark.parametrize("fmt", sorted(FOREIGN))
def test_a_rerun_replaces_its_own_annotation_file_and_refuses_one_edited_since(ann, tmp_path, capsys, fmt):
    out = tmp_path / "ours"
    args = ["convert", "--from", "points", "--root", ann, "--split", "all", "--to", fmt, "--out", out]
    assert run_main(args, capsys)[0] == 0
    first = _files(out)
    assert run_main(args, capsys)[0] == 0  # the same run again: replaced, not appended (no "already holds")
    assert _files(out) == first
    (out / "notes.txt").write_text("mine")  # a file of the user's beside ours is left alone
    assert run_main(args, capsys)[0] == 0 and (out / "notes.txt").read_text() == "mine"
    name = FOREIGN[fmt][0]
    (out / name).write_text((out / name).read_text() + " ")  # edited by hand after the run
    code, err = run_main(args, capsys)
    assert code == 2 and f"{name}: changed since headcount wrote it" in err, err
    assert (out / name).read_text().endswith(" ")


def test_a_reexport_leaves_no_stale_file_from_the_earlier_split(store, tmp_path, capsys):
    """Case 3: a second export with another seed left 4 of 6 images in both train/ and val/."""
    out = tmp_path / "dm"
    for seed in ("0", "1"):
        args = ["export", store, "--to", "dmcount", "--split", "train", "--val-fraction", "0.5", "--seed", seed]
        args += ["--out", out]
        assert run_main(args, capsys)[0] == 0
        train = {p.stem for p in (out / "train").glob("*.jpg")}
        val = {p.stem for p in (out / "val").glob("*.jpg")}
        assert len(train) == len(val) == 3 and not train & val
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["runs"]["train"]) == set(_files(out)) - {MANIFEST}


def test_an_export_never_writes_through_a_symbolic_link(store, tmp_path, capsys):
    """Case 4: an earlier export's train/ replaced by a link to another folder, then a re-export,
    overwrote the other folder's files."""
    out, other = tmp_path / "dm", tmp_path / "other"
    assert run_main(["export", store, "--to", "dmcount", "--split", "train", "--out", out], capsys)[0] == 0
    other.mkdir()
    (other / "a.npy").write_bytes(b"keep")
    for p in (out / "train").iterdir():
        p.unlink()
    (out / "train").rmdir()
    (out / "train").symlink_to(other, target_is_directory=True)
    code, err = run_main(["export", store, "--to", "dmcount", "--split", "train", "--out", out], capsys)
    assert code == 2 and "symbolic link" in err, err
    assert _files(other) == {"a.npy": b"keep"}


def test_a_split_converted_beside_another_keeps_the_other(ann, tmp_path, capsys):
    """Two splits into one folder: a re-run of one replaces its own files, never the other's."""
    out = tmp_path / "sha"
    for split in ("train", "test"):
        args = ["convert", "--from", "points", "--root", ann, "--split", "all", "--to", "shanghaitech"]
        assert run_main([*args, "--out", out, "--out-split", split], capsys)[0] == 0
    before = _files(out)
    assert any(k.startswith("train_data/") for k in before) and any(k.startswith("test_data/") for k in before)
    args = ["convert", "--from", "points", "--root", ann, "--split", "all", "--to", "shanghaitech"]
    assert run_main([*args, "--out", out, "--out-split", "train"], capsys)[0] == 0
    assert _files(out).keys() == before.keys()


def test_the_csrnet_export_keeps_the_folder_policy_store_by_store(ann, store, tmp_path, capsys):
    """The CSRNet layout (one .h5 per image) was guarded file by file: a folder holding someone's other
    files was written into, and a re-export of a smaller store left its earlier maps behind."""
    out = tmp_path / "gt"
    out.mkdir()
    (out / "notes.txt").write_text("theirs")
    code, err = run_main(["export", store, "--to", "csrnet", "--out", out], capsys)
    assert code == 2 and "not empty" in err and _files(out) == {"notes.txt": b"theirs"}, err
    (out / "notes.txt").unlink()
    assert run_main(["export", store, "--to", "csrnet", "--out", out], capsys)[0] == 0
    assert set(_files(out)) == {MANIFEST, *(f"{s}.h5" for s in "abcdef")}
    (ann / "points" / "f.json").unlink()  # a smaller store of the same name: f.h5 goes with the re-export
    (ann / "images" / "f.png").unlink()
    assert run_main(["density", "--from", "points", "--root", ann, "--split", "all", "--out", store], capsys)[0] == 0
    assert run_main(["export", store, "--to", "csrnet", "--out", out], capsys)[0] == 0
    assert set(_files(out)) == {MANIFEST, *(f"{s}.h5" for s in "abcde")}
    (out / "a.h5").write_bytes(b"edited")  # a map changed since the export: not replaced, the run refused
    code, err = run_main(["export", store, "--to", "csrnet", "--out", out], capsys)
    assert code == 2 and "a.h5: changed since headcount wrote it" in err and (out / "a.h5").read_bytes() == b"edited"
    (out / "a.h5").unlink()
    other = tmp_path / "other.h5"  # another store's maps go beside, keyed by its name
    assert run_main(["density", "--from", "points", "--root", ann, "--split", "all", "--out", other], capsys)[0] == 0
    assert run_main(["export", other, "--to", "csrnet", "--out", out], capsys)[0] == 0
    assert set(json.loads((out / MANIFEST).read_text())["runs"]) == {"s", "other"}
