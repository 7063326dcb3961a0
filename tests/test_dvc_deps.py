"""dvc.yaml lists exactly the code each stage runs, and caches never change a dependency's hash.

A stage's code is its script plus every project module it imports, followed
transitively and including imports inside functions (code the stage may run).
"""

from __future__ import annotations

import ast
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import project_copy

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "annotate")


def _module_file(name: str) -> Path | None:
    """The repo file of a dotted module name (a package's __init__.py), or None for other code."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    raise AssertionError(f"import of {name} does not resolve to a file in the repo")


LOOKUPS = {"read"}  # the pipeline.readers function that imports formats by name


def _registry_modules() -> set[str]:
    """The modules the lazy reader registry (`pipeline.readers.FORMATS`) imports on lookup."""
    tree = ast.parse((ROOT / "pipeline" / "readers" / "__init__.py").read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("pipeline.readers.")
    }


def _runtime_nodes(tree: ast.AST):
    """Every node of `tree` outside ``if TYPE_CHECKING:`` blocks (imports there never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _imports(path: Path):
    """(module, names) of each import statement in a file, inside functions too (not under TYPE_CHECKING):
    ``import a.b`` is ("a.b", ()), ``from .x import y, z`` is ("<package>.x", ("y", "z"))."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            yield base, tuple(a.name for a in node.names)


def _named_modules(path: Path) -> set[str]:
    """Dotted names a file imports anywhere in it (inside functions too), as written."""
    names: set[str] = set()
    for base, imported in _imports(path):
        names.add(base)
        if base == "pipeline.readers" and LOOKUPS & set(imported):
            names |= _registry_modules()  # a lookup by name may import any format
        # `from pipeline import numerics` imports a module, `from pipeline.x import f` a name
        names.update(f"{base}.{a}" for a in imported if _module_exists(f"{base}.{a}"))
    return names


def _imported_modules(path: Path) -> set[str]:
    """Dotted names a file imports, with their parent packages (which import first)."""
    names = _named_modules(path)
    parents = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1)}
    return names | parents


def _module_exists(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return name.split(".")[0] in PACKAGES and (base.with_suffix(".py").exists() or (base / "__init__.py").exists())


def code_of(script: Path) -> set[str]:
    """Repo-relative paths of the script and every project file it reaches through imports."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_modules(path):
            file = _module_file(name)
            if file is not None and file not in seen:
                todo.append(file)
    return {str(p.relative_to(ROOT)) for p in seen}


def _stages() -> dict[str, dict]:
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    return {name: stage.get("do", stage) for name, stage in doc["stages"].items()}


def declared_code(stage: dict) -> set[str]:
    """The .py files a stage's code deps cover (a folder dep covers every .py file in it)."""
    files: set[str] = set()
    for dep in stage["deps"]:
        if "${" in dep or dep.split("/")[0] not in (*PACKAGES, "stages"):
            continue  # data, not code
        path = ROOT / dep
        assert path.exists(), f"dvc.yaml lists {dep}, which does not exist"
        found = [path] if path.is_file() else sorted(path.rglob("*.py"))
        files.update(str(p.relative_to(ROOT)) for p in found)
    return files


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_deps_are_exactly_the_code_it_imports(name):
    stage = _stages()[name]
    script = ROOT / re.search(r"python (\S+\.py)", stage["cmd"]).group(1)
    imported, declared = code_of(script), declared_code(stage)
    assert not imported - declared, f"{name}: imported but not in dvc.yaml deps: {sorted(imported - declared)}"
    assert not declared - imported, f"{name}: in dvc.yaml deps but never imported: {sorted(declared - imported)}"


def test_the_import_walk_finds_lazy_and_package_imports():
    code = code_of(ROOT / "stages" / "density.py")
    assert {"pipeline/__init__.py", "pipeline/readers/__init__.py", "pipeline/readers/ucf_cc_50.py"} <= code
    assert "pipeline/model.py" not in code  # reading params must not load torch's model code


def test_no_stage_depends_on_how_it_runs():
    """`run:` (threads, workers, resume) is never hashed: changing it re-runs nothing."""
    for name, stage in _stages().items():
        params = [p if isinstance(p, str) else next(iter(p)) for p in stage.get("params", [])]
        assert not [p for p in params if p == "run" or p.startswith("run.")], name
        assert "train" not in params or name == "train"


def test_bytecode_does_not_change_dependency_hashes(tmp_path):
    """Python writes __pycache__ next to the code a stage depends on; .dvcignore keeps it out of the hash."""
    ignore = (ROOT / ".dvcignore").read_text().split()
    assert "__pycache__/" in ignore and "*.pyc" in ignore
    # the check DVC itself makes: an ignored path is invisible to `dvc check-ignore`
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "check-ignore", "pipeline/readers/__pycache__/x.cpython-311.pyc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "__pycache__" in out.stdout, out.stdout + out.stderr


CORE = ("pipeline/*.py", "pipeline/readers/*.py", "pipeline/config/*.py")  # what the stages run
PERIPHERY = (  # built on the core, run by no stage: an edit here re-runs nothing
    "pipeline/__main__.py",  # ``python -m pipeline``, the CLI's
    "pipeline/bench/",
    "pipeline/cli/",
    "pipeline/exports/",
    "pipeline/infer/",
    "pipeline/live/",
    "pipeline/presets/",
    "pipeline/scoring/",
    "pipeline/writers/",
    "annotate/",
)


def _modules() -> list[str]:
    return sorted(
        str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts
    )


def _is_core(module: str) -> bool:
    return any(Path(module).match(pattern) for pattern in CORE) and module not in PERIPHERY


def _is_periphery(module: str) -> bool:
    return module.startswith(PERIPHERY)


def _core_modules() -> list[str]:
    return [m for m in _modules() if _is_core(m)]


def _stage_code() -> set[str]:
    """Every project module some stage runs (stage scripts excluded)."""
    code: set[str] = set()
    for stage in _stages().values():
        code |= code_of(ROOT / re.search(r"python (\S+\.py)", stage["cmd"]).group(1))
    return {p for p in code if not p.startswith("stages/")}


def test_every_module_is_core_or_periphery_never_both():
    """No third category: a new package must say which side it is on."""
    undecided = [m for m in _modules() if _is_core(m) == _is_periphery(m)]
    assert not undecided, f"neither or both core and periphery: {undecided}"


def test_the_core_is_exactly_what_the_stages_run():
    """A core module no stage runs belongs in the periphery (its edits would re-run stages for nothing);
    a module a stage runs belongs in the core."""
    run, core = _stage_code(), set(_core_modules())
    assert not core - run, f"core modules no stage runs: {sorted(core - run)}"
    assert not run - core, f"stages run non-core modules: {sorted(run - core)}"


@pytest.mark.parametrize("module", _core_modules())
def test_the_core_never_imports_the_periphery(module):
    """The periphery builds on the core; the core never reaches it, so an edit there re-runs no stage."""
    reached = sorted(p for p in code_of(ROOT / module) if _is_periphery(p))
    assert not reached, f"{module} reaches {reached}"


MAX_IMPORT_CHAIN = 8  # modules in the longest chain of imports inside the packages


def _direct_imports(module: str) -> set[str]:
    """The project modules `module` imports by name: ``from X import y`` is an edge to X.y when y is a
    module and to X when y is a name defined there (a package's parent is not counted: it is not used)."""
    out: set[str] = set()
    for base, imported in _imports(_module_file(module)):
        subs = {f"{base}.{a}" for a in imported if _module_exists(f"{base}.{a}")}
        out |= subs if imported and len(subs) == len(imported) else subs | {base}
    return {m for m in out if m != module and _module_file(m) is not None}


def import_chains() -> dict[str, tuple[str, ...]]:
    """Each module's longest chain of imports (itself first) that visits no module twice (imports
    inside functions may close a cycle, which is no chain)."""
    edges = {m: sorted(_direct_imports(m)) for m in map(_dotted, _modules())}

    @functools.cache
    def longest(module: str, seen: frozenset[str]) -> tuple[str, ...]:
        tails = [longest(m, seen | {module}) for m in edges.get(module, ()) if m not in seen and m != module]
        return (module, *max(tails, key=len, default=()))

    return {m: longest(m, frozenset()) for m in edges}


def _dotted(file: str) -> str:
    parts = Path(file).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_chain_of_imports_inside_the_packages_is_longer_than_8_modules():
    """Deep chains make every module depend on everything below it; the CLI's root imports no command
    module (`pipeline.cli.group.COMMAND_MODULES` loads each on use)."""
    deepest = max(import_chains().values(), key=len)
    assert len(deepest) <= MAX_IMPORT_CHAIN, " -> ".join(deepest)


def _changed_code(repo: Path) -> dict[str, list[str]]:
    """`dvc status`'s changed code dependencies (pipeline/, stages/) per stage (data is absent in a copy)."""
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"], cwd=repo, capture_output=True, text=True, check=True
    )
    changed: dict[str, list[str]] = {}
    for stage, entries in json.loads(out.stdout or "{}").items():
        for entry in entries:
            deps = entry.get("changed deps", {}) if isinstance(entry, dict) else {}
            code = sorted(p for p in deps if p.split("/")[0] in ("pipeline", "stages", "annotate"))
            if code:
                changed[stage] = code
    return changed


def test_editing_the_periphery_leaves_dvc_status_up_to_date(tmp_path):
    """What a user sees: after an edit to every periphery module (writers, exports, scoring, presets, video,
    ONNX, bench, CLI, annotation), `dvc status` lists no changed code for any stage (compared with the
    same copy before the edit)."""
    repo = project_copy(tmp_path / "repo")
    before = _changed_code(repo)
    touched = [p for p in repo.rglob("*.py") if _is_periphery(str(p.relative_to(repo)))]
    assert len(touched) > 40
    for path in touched:
        path.write_text(path.read_text() + "\n# an edit\n")
    assert _changed_code(repo) == before
