"""The package's import graph: no cycles, and no module imports a layer above its own.

Every ``import`` / ``from ... import`` statement of every module under ``monet_opt/`` is
read with :mod:`ast` (module level, inside functions and classes, inside ``try`` and
``if TYPE_CHECKING:`` blocks).  A module belongs to the *component* named by its first
dotted part below the package (``monet_opt.schedule.problem`` -> ``schedule``;
``monet_opt.cli`` -> ``cli``) and a component to a layer of :data:`LAYERS`.

* **Layers**: a module may import its own layer and the layers below it, never above
  (this includes imports used only for type hints).
* **Restricted components** (:data:`ONLY_IMPORTS`) may import only the listed components.
* **Independent components** (:data:`INDEPENDENT`) must not import each other.
* **Cycles**: the graph of runtime imports (``if TYPE_CHECKING:`` blocks excluded, they
  do not run) between monet_opt modules has no cycle.

``from pkg import name`` counts as an import of the submodule ``pkg.name`` when that
module exists, else of the package ``pkg`` (its ``__init__``).
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

# -- the architecture: edit these tables when it changes -----------------------------------

#: Components by layer, lowest first.  ``monet_opt`` is the package root (``__version__``).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("monet_opt", "errors", "units", "atomic", "safe_yaml", "indicators"),  # 0: base
    ("models", "hardware", "config"),  # 1: inputs; config is the run-config schema
    ("cost",),  # 2: per-op cost tables
    ("schedule",),  # 3: problem, evaluator, realized decisions
    ("heuristics",),  # 4: greedy allocation and stacking
    ("formulations", "ga"),  # 5: MILPs, genetic search
    ("api", "dse"),  # 6: the workflows (solve, pareto, compare, export, dse)
    ("report",),  # 7: result files, plots, summaries
    ("cli",),  # 8: command line
)

#: Components that may import only these components (besides modules of their own).
ONLY_IMPORTS: Mapping[str, frozenset[str]] = {
    "config": frozenset({"errors", "units", "safe_yaml"}),
}

#: Pairs of components (of one layer) that must not import each other.
INDEPENDENT: tuple[tuple[str, str], ...] = (("formulations", "ga"),)

PACKAGE = "monet_opt"
SRC = Path(__file__).resolve().parents[1] / PACKAGE

# -- reading the imports -------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One imported monet_opt module: ``importer`` imports ``target`` at ``path:line``."""

    importer: str
    target: str
    path: Path
    line: int
    type_only: bool  # inside ``if TYPE_CHECKING:``

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root.parent)}:{self.line}"


def module_names(src: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``src``."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = [package, *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement of ``tree`` and whether it sits under ``if TYPE_CHECKING:``."""
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, type_only = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, type_only
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend((child, True) for child in node.body)
            stack.extend((child, type_only) for child in node.orelse)
            continue
        stack.extend((child, type_only) for child in ast.iter_child_nodes(node))


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """Absolute module of a (possibly relative) ``from X import ...``."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def collect_imports(src: Path, package: str) -> list[Import]:
    """All imports of package modules by package modules, sorted by file and line."""
    modules = module_names(src, package)
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, type_only in _statements(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve_from(module, path.name == "__init__.py", node)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in dict.fromkeys(targets):
                while target and target not in modules:  # ``import pkg.mod.attr`` forms
                    target = target.rpartition(".")[0]
                if target.split(".")[0] == package and target != module:
                    found.append(Import(module, target, path, node.lineno, type_only))
    return sorted(found, key=lambda i: (str(i.path), i.line, i.target))


# -- the rules -----------------------------------------------------------------------------


def component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of(layers: Sequence[Sequence[str]]) -> dict[str, int]:
    return {name: k for k, names in enumerate(layers) for name in names}


def unknown_components(imports: Iterable[Import], modules: Iterable[str], layers) -> list[str]:
    known = layer_of(layers)
    names = {component(m) for m in modules} | {component(i.target) for i in imports}
    return sorted(n for n in names if n not in known)


def upward_imports(imports: Iterable[Import], layers, root: Path) -> list[str]:
    rank = layer_of(layers)
    out = []
    for i in imports:
        a, b = component(i.importer), component(i.target)
        if a in rank and b in rank and rank[b] > rank[a]:
            out.append(
                f"{i.where(root)}: {a} (layer {rank[a]}) imports {i.target} (layer {rank[b]})"
            )
    return out


def restricted_imports(
    imports: Iterable[Import], only: Mapping[str, frozenset[str]], root: Path
) -> list[str]:
    out = []
    for i in imports:
        a, b = component(i.importer), component(i.target)
        if a in only and b != a and b not in only[a]:
            allowed = ", ".join(sorted(only[a]))
            out.append(f"{i.where(root)}: {a} imports {i.target} (allowed: {allowed})")
    return out


def crossed_imports(
    imports: Iterable[Import], pairs: Iterable[tuple[str, str]], root: Path
) -> list[str]:
    banned = {frozenset(p) for p in pairs}
    out = []
    for i in imports:
        a, b = component(i.importer), component(i.target)
        if a != b and frozenset((a, b)) in banned:
            out.append(f"{i.where(root)}: {a} imports {i.target}")
    return out


def import_cycles(imports: Iterable[Import], root: Path, limit: int = 50) -> list[str]:
    """Each elementary cycle of the runtime import graph, as ``a.py:12 -> b`` hops."""
    g = nx.DiGraph()
    for i in imports:
        if not i.type_only and not g.has_edge(i.importer, i.target):
            g.add_edge(i.importer, i.target, where=i.where(root))
    out = []
    for cycle in nx.simple_cycles(g):
        k = cycle.index(min(cycle))  # a canonical rotation: stable messages
        cycle = cycle[k:] + cycle[:k]
        hops = [
            f"{g.edges[a, b]['where']} imports {b}"
            for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)
        ]
        out.append(" -> ".join(hops))
        if len(out) >= limit:
            out.append(f"... (first {limit} cycles shown)")
            break
    return sorted(out)


def _report(title: str, problems: list[str]) -> str:
    return f"{len(problems)} {title}:\n  " + "\n  ".join(problems)


# -- the package -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return collect_imports(SRC, PACKAGE)


def test_layer_table_is_consistent(imports):
    names = [n for layer in LAYERS for n in layer]
    assert len(names) == len(set(names)), "a component is listed in two layers"
    rank = layer_of(LAYERS)
    for a, b in INDEPENDENT:
        assert a in rank and b in rank
    for a, allowed in ONLY_IMPORTS.items():
        assert all(rank[b] <= rank[a] for b in allowed), a
    # every component of the package has a layer: new ones must be placed
    unknown = unknown_components(imports, module_names(SRC, PACKAGE), LAYERS)
    assert not unknown, f"components without a layer (add them to LAYERS): {unknown}"
    assert len(imports) > 100  # the scan sees the package's imports


def test_no_import_cycles(imports):
    cycles = import_cycles(imports, SRC)
    assert not cycles, _report("import cycles", cycles)


def test_no_module_imports_a_higher_layer(imports):
    bad = upward_imports(imports, LAYERS, SRC)
    assert not bad, _report("imports of a higher layer", bad)


def test_restricted_components_import_only_what_they_may(imports):
    bad = restricted_imports(imports, ONLY_IMPORTS, SRC)
    assert not bad, _report("imports outside the allowed components", bad)


def test_independent_components_do_not_import_each_other(imports):
    bad = crossed_imports(imports, INDEPENDENT, SRC)
    assert not bad, _report("imports between independent components", bad)


# -- the checker itself, on a package written for the purpose --------------------------------


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def toy(tmp_path) -> Path:
    src = tmp_path / "toy"
    _write(
        src,
        {
            "__init__.py": "",
            "base.py": "import os\n",
            "low/__init__.py": "from toy.low.core import thing\n",
            "low/core.py": """\
                from typing import TYPE_CHECKING

                from toy import base

                if TYPE_CHECKING:
                    from toy.high.app import App


                def late():
                    from ..high import app  # function-level, relative: an upward import
                    return app
                """,
            "high/__init__.py": "",
            "high/app.py": """\
                import toy.low.core
                from . import util
                from toy.low import thing
                """,
            "high/util.py": "from toy.high import app\n",
            "side.py": "from toy.high.app import App\n",
        },
    )
    return src


def test_collect_imports_sees_every_form(toy):
    got = {(i.importer, i.target, i.line, i.type_only) for i in collect_imports(toy, "toy")}
    assert got == {
        ("toy.low", "toy.low.core", 1, False),
        ("toy.low.core", "toy.base", 3, False),
        ("toy.low.core", "toy.high.app", 6, True),
        ("toy.low.core", "toy.high.app", 10, False),
        ("toy.high.app", "toy.low.core", 1, False),
        ("toy.high.app", "toy.high.util", 2, False),
        ("toy.high.app", "toy.low", 3, False),
        ("toy.high.util", "toy.high.app", 1, False),
        ("toy.side", "toy.high.app", 1, False),
    }


def test_rules_report_file_line_and_module(toy):
    imports = collect_imports(toy, "toy")
    layers = (("toy", "base"), ("low", "side"), ("high",))
    assert unknown_components(imports, module_names(toy, "toy"), layers) == []
    assert unknown_components(imports, module_names(toy, "toy"), layers[:2]) == ["high"]
    assert upward_imports(imports, layers, toy) == [
        "toy/low/core.py:6: low (layer 1) imports toy.high.app (layer 2)",
        "toy/low/core.py:10: low (layer 1) imports toy.high.app (layer 2)",
        "toy/side.py:1: side (layer 1) imports toy.high.app (layer 2)",
    ]
    only = {"low": frozenset({"base"})}
    assert restricted_imports(imports, only, toy) == [
        "toy/low/core.py:6: low imports toy.high.app (allowed: base)",
        "toy/low/core.py:10: low imports toy.high.app (allowed: base)",
    ]
    assert crossed_imports(imports, [("high", "side")], toy) == [
        "toy/side.py:1: side imports toy.high.app"
    ]
    assert crossed_imports(imports, [("base", "side")], toy) == []
    # the TYPE_CHECKING import (line 6) is no runtime cycle; the function-level one is
    assert import_cycles(imports, toy) == [
        "toy/high/app.py:1 imports toy.low.core -> toy/low/core.py:10 imports toy.high.app",
        "toy/high/app.py:2 imports toy.high.util -> toy/high/util.py:1 imports toy.high.app",
        "toy/high/app.py:3 imports toy.low -> toy/low/__init__.py:1 imports toy.low.core"
        " -> toy/low/core.py:10 imports toy.high.app",
    ]
