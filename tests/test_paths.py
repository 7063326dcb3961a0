"""Containment (issue 34): every path built from an option or a file's contents goes through
`pipeline.paths.contained`, which keeps it inside its folder, symlinks resolved, for reading and writing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import run_main

from pipeline.errors import ConfigError, DataError
from pipeline.paths import contained

ROOT = Path(__file__).resolve().parents[1]
# where names from outside (options, annotation files, stores, folders being served) become paths
GUARDED = (
    "pipeline/readers",
    "pipeline/writers",
    "pipeline/exports",
    "pipeline/store.py",
    "pipeline/scoring",
    "annotate/catalog.py",
    "annotate/server.py",
)


PATHLIKE = ("root", "out", "base", "folder", "dir", "path", "images", "points", "parent", "listing", "static")
# joins whose right side is not from outside, each with its reason
EXEMPT = {
    "pipeline/store.py: self.path.parent.joinpath(root)": "a store names its dataset wherever it lives",
}


def _is_constant(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) for v in node.values)
    return isinstance(node, ast.Name) and node.id.isupper()  # a module constant: EXPORT, ANNOTATIONS, MARKER


def _pathlike(node: ast.AST) -> bool:
    """Whether `node` is a folder being joined: a name that says so, a Path(...), or a join itself."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _pathlike(node.left)
    if isinstance(node, ast.Call):
        return getattr(node.func, "id", getattr(node.func, "attr", "")) in ("Path", "contained")
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return any(k in name.lower() for k in PATHLIKE)


def _joins(path: Path) -> list[str]:
    """``a / b`` or ``a.joinpath(b)`` with `a` a folder and `b` not a constant: a name from somewhere
    joined without the check."""
    text = path.read_text()
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            joined = _pathlike(node.left) and not _is_constant(node.right)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "joinpath":
            joined = not all(_is_constant(a) for a in node.args)
        else:
            continue
        where = f"{path.relative_to(ROOT)}: {ast.get_source_segment(text, node)}"
        if joined and where not in EXEMPT:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.get_source_segment(text, node)}")
    return found


def test_every_path_from_outside_goes_through_contained():
    files = []
    for g in GUARDED:
        p = ROOT / g
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    unguarded = [j for f in files for j in _joins(f)]
    assert not unguarded, "join through pipeline.paths.contained:\n" + "\n".join(unguarded)


def test_contained_keeps_a_path_inside_its_folder_for_reading_and_writing(tmp_path):
    base = tmp_path / "out"
    (base / "train").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    assert contained(base, "train", "a.jpg") == base / "train" / "a.jpg"
    with pytest.raises(DataError, match=r"\.\./x leads outside"):
        contained(base, "../x")
    with pytest.raises(ConfigError, match="^--out-split: "):
        contained(base, "a/../../b", option="--out-split")
    with pytest.raises(DataError, match="leads outside"):
        contained(base, str(tmp_path / "elsewhere"))  # an absolute name is judged as the path it is
    (base / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="leads outside"):
        contained(base, "link", "a.jpg")  # read through a link that leaves
    (base / "inner").symlink_to(base / "train")
    assert contained(base, "inner", "a.jpg") == base / "inner" / "a.jpg"  # a link inside is fine to read
    with pytest.raises(DataError, match="symbolic link; not writing through it"):
        contained(base, "inner", "a.jpg", write=True)


@pytest.fixture
def annotated(tmp_path):
    """An annotation folder of two images, and a folder beside it that nothing may touch."""
    from conftest import write_points

    root = tmp_path / "ann"
    write_points(root, "a", [[10, 10], [20, 20]])
    write_points(root, "b", [[5, 5]])
    (tmp_path / "outside" / "sub").mkdir(parents=True)
    return root


def _nothing_under(folder: Path) -> bool:
    return not any(p.is_file() for p in folder.rglob("*"))


def test_split_and_out_split_options_cannot_leave_their_folders(annotated, tmp_path, capsys):
    """Issue 34, case 2: --out-split ../../escaped wrote two levels up; an absolute one wrote only there."""
    convert = ["convert", "--from", "points", "--root", annotated, "--split", "all", "--to"]
    for out_split in ("../../escaped", str(tmp_path / "outside" / "abs")):
        for fmt in ("points", "labelme", "cvat", "shanghaitech"):
            code, err = run_main([*convert, fmt, "--out", tmp_path / "fc" / "o1", "--out-split", out_split], capsys)
            if fmt == "shanghaitech":  # a fixed set of splits: refused before any path is built
                assert code == 2, err
                continue
            assert code == 2 and err.startswith("error: --out-split: ") and "leads outside" in err, (fmt, err)
            assert len(err.splitlines()) == 1
    assert not (tmp_path / "escaped").exists() and _nothing_under(tmp_path / "outside")
    code, err = run_main(
        ["density", "--from", "points", "--root", annotated, "--split", "../outside/sub", "--out", tmp_path / "o.h5"],
        capsys,
    )
    assert code == 2 and "split: ../outside/sub leads outside" in err and not (tmp_path / "o.h5").exists()


def test_an_export_is_never_written_through_a_link(annotated, tmp_path, capsys):
    """Issue 34, case 4: an earlier export's train/ replaced by a link to another folder was written into."""
    store = tmp_path / "s.h5"
    assert (
        run_main(["density", "--from", "points", "--root", annotated, "--split", "all", "--out", store], capsys)[0] == 0
    )
    out = tmp_path / "exp"
    assert run_main(["export", store, "--to", "p2pnet", "--split", "train", "--out", out], capsys)[0] == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "a.txt").write_text("theirs")
    import shutil

    shutil.rmtree(out / "train")
    (out / "train").symlink_to(victim)
    code, err = run_main(["export", store, "--to", "p2pnet", "--split", "train", "--out", out], capsys)
    assert code in (1, 2) and ("leads outside" in err or "symbolic link" in err), err
    assert sorted(p.name for p in victim.iterdir()) == ["a.txt"] and (victim / "a.txt").read_text() == "theirs"


def test_a_stores_image_attribute_cannot_lead_outside(annotated, tmp_path, capsys):
    """Issue 34, case 5: a store's image set to ../secret/secret.jpg copied the outside file into an export."""
    import h5py

    store = tmp_path / "s.h5"
    assert (
        run_main(["density", "--from", "points", "--root", annotated, "--split", "all", "--out", store], capsys)[0] == 0
    )
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "secret.jpg").write_bytes((annotated / "images" / "a.png").read_bytes())
    with h5py.File(store, "a") as f:
        f["images"]["a"].attrs["image"] = "../secret/secret.jpg"
    code, err = run_main(["export", store, "--to", "p2pnet", "--out", tmp_path / "exp"], capsys)
    assert code == 1 and err.startswith(f"error: {store}: ../secret/secret.jpg leads outside"), err
    assert not (tmp_path / "exp").exists() or not any((tmp_path / "exp").rglob("*.jpg"))


def test_links_out_of_a_folder_are_not_read_through(annotated, tmp_path, capsys):
    """Issue 34, case 6: annotate served images/leak.jpg that linked outside; agree read a linked point file."""
    from annotate.catalog import Catalog

    (tmp_path / "private.png").write_bytes((annotated / "images" / "a.png").read_bytes())
    (annotated / "images" / "leak.png").symlink_to(tmp_path / "private.png")
    with pytest.raises(DataError, match="leak.png leads outside"):
        Catalog(annotated)
    other = tmp_path / "other"
    (other / "points").mkdir(parents=True)
    (tmp_path / "elsewhere.json").write_text((annotated / "points" / "a.json").read_text())
    (other / "points" / "a.json").symlink_to(tmp_path / "elsewhere.json")
    code, err = run_main(["agree", annotated, other], capsys)
    assert code == 1 and "a.json leads outside" in err, err
