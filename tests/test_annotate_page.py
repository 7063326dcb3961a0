"""The annotation page's ES modules fit together: what one imports, another exports, and nothing is used
unimported (a missing import is a ReferenceError only on the code path that needs it)."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "annotate" / "static"
DECLARED = re.compile(r"^(?:async )?function (\w+)|^(?:const|let) ([\w$]+)(?:\s*=|,)", re.M)
IMPORT = re.compile(r'^import \{ ([^}]*) \} from "\./(\w+)\.js";', re.M)
EXPORT = re.compile(r"^export \{ ([^}]*) \};", re.M)
# identifiers, not properties (a.b), object keys (b:) or words inside strings and comments
USED = re.compile(r"(?<![\w.$])([A-Za-z_$][\w$]*)(?![\w$])(?!\s*:(?!:))")


def _code(text: str) -> str:
    """The script without strings and comments; a template literal keeps only its ${...} expressions."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|//[^\n]*', "", text)
    text = re.sub(r"`([^`]*)`", lambda m: " ".join(re.findall(r"\$\{([^}]*)\}", m.group(1))), text)
    return text.replace("...", " ")  # spread: ...f(x) uses f


def _modules() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted(STATIC.glob("*.js"))}


def _names(pattern: re.Pattern, text: str) -> dict[str, list[str]]:
    return {m.group(2): [n.strip() for n in m.group(1).split(",")] for m in pattern.finditer(text)}


def test_every_import_is_exported_by_its_module():
    mods = _modules()
    exports = {
        name: {n.strip() for m in EXPORT.finditer(text) for n in m.group(1).split(",")} for name, text in mods.items()
    }
    for name, text in mods.items():
        for source, names in _names(IMPORT, text).items():
            assert source in mods, f"{name}.js imports from a missing {source}.js"
            assert not set(names) - exports[source], (
                f"{name}.js imports {set(names) - exports[source]} from {source}.js"
            )


def test_no_module_uses_another_modules_name_without_importing_it():
    mods = _modules()
    owner = {n: name for name, text in mods.items() for m in DECLARED.finditer(text) for n in m.groups() if n}
    for name, text in mods.items():
        code = _code(text)
        imported = {n for names in _names(IMPORT, text).values() for n in names}
        own = {n for m in DECLARED.finditer(text) for n in m.groups() if n}
        foreign = {n for n in USED.findall(code) if owner.get(n, name) != name and n not in own}
        assert not foreign - imported, f"{name}.js uses {sorted(foreign - imported)} without importing them"


def test_the_page_loads_the_entry_module_and_it_reaches_every_module():
    html = (STATIC / "index.html").read_text()
    assert '<script type="module" src="/static/app.js"></script>' in html
    mods, seen, todo = _modules(), set(), ["app"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [*_names(IMPORT, mods[name])] + re.findall(r'^import "\./(\w+)\.js";', mods[name], re.M)
    assert seen == set(mods), f"never loaded: {sorted(set(mods) - seen)}"
