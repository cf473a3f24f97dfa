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
        "zero_shot"}
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
    "commands": {"core", "model", "data", "synth", "engine", "tasks", "pretrain", "ablation", "predict"},
    "cli": {"core", "commands"},
}
# Within "core", the model library never needs the engine's run config, and the small shared modules import
# nothing heavier than each other.
CORE_LEAVES = {"constants", "errors", "fileio", "tables", "stats", "video_writer"}


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


def test_the_document_lists_every_part() -> None:
    text = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    for part in ALLOWED:
        assert f"`{part}`" in text, part


def test_the_experiment_stays_apart_from_the_product() -> None:
    """``ablation/`` (the synthetic study) may import the library, never the reverse: only the command line
    reaches it, so the product (predict, evaluate, the model) never depends on the experiment. With the import
    check above this is what the code does, not only what the table says."""
    assert {part for part, allowed in ALLOWED.items() if "ablation" in allowed} == {"commands"}
