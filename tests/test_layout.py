"""The package is laid out as the pipeline: imports flow one way, with no circles.

Every ``slmselect`` import is counted, module level or inside a function (a lazy import is still a
dependency); only imports under ``if TYPE_CHECKING:`` are left out.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "slmselect"

#: Lower layers first. A module may import its own layer and the layers before it, never a later one.
#: report/ only draws what it is given (duck-typed), so every layer may hand it something to draw.
LAYERS = [
    {"errors", "_types", "_validate", "_packages", "events"},
    {"report"},
    {"profile"},
    {"evidence"},
    {"predict"},
    {"recommender"},
    {"expansion"},
    {"deploy"},
    {"confirmation"},
    {"evaluation"},
    {"cli", "__init__", "__main__"},
]


def _module_name(path: Path, root: Path = PKG.parent) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(path: Path, root: Path = PKG.parent) -> set[str]:
    """The ``slmselect`` modules that ``path`` (a file of the package under ``root``) imports."""
    mod = _module_name(path, root)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for c in child.orelse:
                    visit(c)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("slmselect"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = pkg.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    name = ".".join(base + ([child.module] if child.module else []))
                else:
                    name = child.module or ""
                if name.startswith("slmselect"):
                    found.add(name)
                    for a in child.names:  # `from slmselect.x import y` where y is a module
                        if importlib.util.find_spec(name) and (PKG.parent / f"{name}.{a.name}".replace(".", "/")).exists():
                            found.add(f"{name}.{a.name}")
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(mod)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PKG.rglob("*.py"))}


def _layer(mod: str) -> int:
    top = mod.split(".")[1] if "." in mod else "__init__"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{mod}: its top-level name {top!r} is in no layer of tests/test_layout.py; add it")


def test_every_module_has_a_layer() -> None:
    for mod in _graph():
        _layer(mod)


def test_imports_flow_one_way() -> None:
    wrong = []
    for mod, deps in _graph().items():
        if mod == "slmselect":
            continue  # the lazy public API names modules by string only
        for dep in deps:
            if dep != "slmselect" and _layer(dep) > _layer(mod):
                wrong.append(f"{mod} imports {dep}")
    assert not wrong, "imports against the pipeline's direction:\n" + "\n".join(sorted(wrong))


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return cycles


def test_no_import_cycles() -> None:
    graph = {m: {d for d in deps if d != "slmselect"} for m, deps in _graph().items()}
    assert not find_cycles(graph)


def test_checkers_see_planted_faults(tmp_path: Path) -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    lazy = tmp_path / "slmselect" / "evidence" / "_planted_for_test.py"  # laid out as in the package, outside it
    lazy.parent.mkdir(parents=True)
    lazy.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from slmselect.cli import x\n"
                    "def f():\n    from slmselect.evaluation import y\n")
    deps = _imports(lazy, root=tmp_path)
    assert deps == {"slmselect.evaluation"}  # the lazy import counts, the TYPE_CHECKING one does not


@pytest.mark.parametrize("name", ["public_datasets", "_offline"])
def test_dataset_loaders_live_outside_the_package(name: str) -> None:
    assert not (PKG / f"{name}.py").exists()


def test_one_helper_finds_installed_packages() -> None:
    """Installed packages and their files are looked up in one place, slmselect/_packages.py."""
    users = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if "find_spec(" in p.read_text())
    assert users == ["_packages.py"]


def test_report_imports_nothing_above_the_base_even_for_type_checkers() -> None:
    """report/ draws duck-typed objects: not even a TYPE_CHECKING import may point up the pipeline."""
    allowed = ("slmselect.errors", "slmselect._types", "slmselect._validate", "slmselect.events", "slmselect.report")
    for path in sorted((PKG / "report").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("slmselect"):
                assert node.module.startswith(allowed), f"{path.name} imports {node.module}"


def test_no_module_imports_another_modules_private_names() -> None:
    found = []
    for path in sorted(PKG.rglob("*.py")):
        mod = _module_name(path)
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)] if node.level else []
            name = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            for a in node.names:
                if name.startswith("slmselect") and a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"{mod} imports {a.name} from {name}")
    assert not found, "\n".join(found)


def test_the_database_its_build_and_the_results_store_stay_apart() -> None:
    """The read-only database (evidence.db, fastread) imports neither the build nor the store; the build (build,
    registry, sources) does not import the store; the store reads the database only where it turns its runs
    into evidence units (store.units)."""
    graph = _graph()
    build = ("slmselect.evidence.build", "slmselect.evidence.registry", "slmselect.evidence.sources")
    store = "slmselect.evidence.store"
    wrong = []
    for mod, deps in graph.items():
        if mod in ("slmselect.evidence.db", "slmselect.evidence.fastread"):
            wrong += [f"{mod} imports {d}" for d in deps if d.startswith(build + (store,))]
        elif mod.startswith(build):
            wrong += [f"{mod} imports {d}" for d in deps if d.startswith(store)]
        elif mod.startswith(store) and mod != "slmselect.evidence.store.units":
            wrong += [f"{mod} imports {d}" for d in deps if d.startswith(build + ("slmselect.evidence.db",))]
    assert not wrong, "\n".join(wrong)


def test_test_modules_do_not_import_each_other() -> None:
    """Shared fixtures live in conftest.py and shared helpers in modules of their own, never in a test module."""
    tests = Path(__file__).parent
    test_modules = {p.stem for p in tests.glob("test_*.py")}
    scripts = PKG.parent / "scripts"
    wrong = []
    for path in [*sorted(tests.glob("*.py")), *sorted(scripts.glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            wrong += [f"{path.name} imports {n}" for n in names if n.split(".")[0] in test_modules]
    assert not wrong, "\n".join(wrong)
