"""The layout drawn in docs/architecture.md, checked: which package of dkclip may import which.

Every module under src/dkclip is parsed (imports inside functions count too) and each import of another dkclip
part must be allowed by ``ALLOWED`` below, the same table as in docs/architecture.md. A new dependency in the
wrong direction (the model library reaching into the training engine, the engine into its applications, ...)
fails here, so the picture stays true.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dkclip

SRC = Path(dkclip.__file__).resolve().parent

# The parts of the package: top-level modules of the model library are one part, "core".
CORE = {"__init__", "config", "registry", "pretrained", "factory", "clip_loading", "torchscript_archive",
        "checkpoints", "prompts", "losses", "constants", "errors", "fileio", "tables", "stats", "video_writer",
        "zero_shot", "signals", "threads", "lazy"}
# part -> the parts it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": {"model", "data"},  # data: only the input pipeline that create_model_and_transforms returns
    "model": {"core"},
    "data": {"core"},
    "synth": {"core"},
    "engine": {"core", "model", "data"},
    "tasks": {"core", "model", "data", "engine"},
    "pretrain": {"core", "model", "data", "synth", "engine"},
    "ablation": {"core", "model", "data", "synth", "engine", "tasks", "predict"},
    "predict": {"core", "model", "data", "synth", "engine"},  # synth: reference faces for the AU calibration
    "app": {"core", "model", "data", "predict"},  # the browser interface (Gradio), a layer over predict
    "commands": {"core", "model", "data", "synth", "engine", "tasks", "pretrain", "ablation", "predict", "app"},
    "cli": {"core", "commands"},
}
# Within "core", the model library never needs the engine's run config, and the small shared modules import
# nothing heavier than each other.
CORE_LEAVES = {"constants", "errors", "fileio", "tables", "stats", "video_writer", "signals", "threads", "lazy"}


def _part(module: str) -> str:
    """'dkclip.engine.trainer' -> 'engine'; 'dkclip.factory' -> 'core'; 'dkclip.cli' -> 'cli'."""
    first = module.split(".")[1] if module.count(".") else "__init__"
    if first == "cli":
        return "cli"
    return "core" if first in CORE else first


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1] if len(parts) > 1 else parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dkclip")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("dkclip"):
                if target == "dkclip" or target.count(".") == 0:
                    found |= {f"dkclip.{a.name}" for a in node.names}
                else:
                    found.add(target)
    return found


def test_every_import_follows_the_layout() -> None:
    violations = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        if module == "dkclip":
            continue  # the public API re-exports the library
        source = _part(module)
        assert source in ALLOWED, f"{module}: part {source!r} is not in docs/architecture.md"
        for target in _imports(path):
            dest = _part(target) if target != "dkclip" else "core"
            if dest == source:
                if source == "core" and module.split(".")[-1] in CORE_LEAVES:
                    leaf = target.split(".")[-1]
                    if leaf not in CORE_LEAVES:
                        violations.append(f"{module} -> {target} (a shared leaf module imports the library)")
                continue
            if dest not in ALLOWED[source]:
                violations.append(f"{module} ({source}) -> {target} ({dest})")
    assert not violations, "imports against docs/architecture.md:\n" + "\n".join(violations)


def test_only_the_app_imports_gradio() -> None:
    """Gradio is an optional extra (``dkclip[app]``): the core package and everything else work without it."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if _part(_module_name(path)) == "app":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{_module_name(path)} -> {n}" for n in names if n.split(".")[0] == "gradio"]
    assert not found, found


def test_the_document_lists_every_part() -> None:
    text = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    for part in ALLOWED:
        assert f"`{part}`" in text, part


def test_the_experiment_stays_apart_from_the_product() -> None:
    """``ablation/`` (the synthetic study) may import the library, never the reverse: only the command line
    reaches it, so the product (predict, evaluate, the model) never depends on the experiment. With the import
    check above this is what the code does, not only what the table says."""
    assert {part for part, allowed in ALLOWED.items() if "ablation" in allowed} == {"commands"}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _RuntimeImports(ast.NodeVisitor):
    """The import statements that can run: at module level and inside functions (a lazy import still closes a
    circle when its function is called), but not those under ``if TYPE_CHECKING:``, which only type checkers
    read."""

    def __init__(self) -> None:
        self.found: list[ast.Import | ast.ImportFrom] = []

    def visit_If(self, node: ast.If) -> None:
        for child in node.orelse if _is_type_checking(node) else [*node.body, *node.orelse]:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append(node)


def _runtime_edges(path: Path, modules: set[str]) -> set[str]:
    """The modules of dkclip that ``path`` imports at run time. ``from pkg import name`` points at the submodule
    ``pkg.name`` when there is one, else at ``pkg`` itself; the parent packages Python imports on the way are not
    counted (every submodule would otherwise sit in a circle with its package's ``__init__``)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    visitor = _RuntimeImports()
    visitor.visit(ast.parse(path.read_text(), filename=str(path)))
    edges: set[str] = set()
    for node in visitor.found:
        if isinstance(node, ast.Import):
            edges |= {a.name for a in node.names if a.name in modules}
            continue
        base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
        target = ".".join([*base, node.module] if node.module else base) if node.level else node.module or ""
        for alias in node.names:
            edges.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    return {e for e in edges if e in modules and e != module}


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module: each is a set of modules that import each other round."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    """No two modules of dkclip import each other, directly or round a longer circle. Counted: imports at
    module level and inside functions; not counted: imports under ``if TYPE_CHECKING:`` (annotations only) and
    ``importlib.import_module`` calls (the command table of cli.py). A circle means what both sides need belongs
    in a module of its own (as engine/run_name.py and predict/result.py are)."""
    paths = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}
    graph = {m: _runtime_edges(p, set(paths)) for m, p in paths.items()}
    cycles = _strongly_connected(graph)
    assert not cycles, "modules that import each other:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_module_over_500_lines() -> None:
    """Small modules, one job each (issue 17): a module that grows past 500 lines is split where its jobs part."""
    sizes = {str(p.relative_to(SRC)): len(p.read_text(encoding="utf-8").splitlines()) for p in SRC.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 500} == {}
