"""The layout's import rules: the tree shows the data flow, and no import cycle remains.

Every `import` in every module of `feeds/` and `tracking/` counts, including those
inside functions (a lazy import hides a cycle, it does not remove it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each package of feeds/ may import from the project (its own package always).
BASE = {"feeds.errors", "feeds.log", "feeds.net", "feeds.progress"}
ALLOWED: dict[str, set[str]] = {
    "feeds": set(),
    "feeds.errors": set(),
    "feeds.log": set(),
    "feeds.progress": set(),
    "feeds.net": set(),
    "feeds.core": {"feeds.errors"},
    "feeds.channels": {"feeds.core", "feeds.errors"},
    "feeds.formats": {"feeds.core", "feeds.errors", "tracking"},
    "feeds.vendre": {"feeds.core", "feeds.errors", "feeds.net"},
    "feeds.config": {"feeds.core", "feeds.errors", "feeds.channels", "tracking"},
    "feeds.storage": {"feeds.core", "feeds.errors"},
    "feeds.pipeline": {"feeds.core", "feeds.channels", "feeds.formats", "feeds.vendre",
                       "feeds.storage", "feeds.config", *BASE},
    "feeds.events": {"feeds.core", "feeds.channels", "feeds.formats", "feeds.vendre",
                     "feeds.storage", "feeds.config", "feeds.pipeline", "tracking", *BASE},
    "feeds.purchases": {"feeds.core", "feeds.vendre", "feeds.storage", "feeds.config",
                        "feeds.pipeline", "feeds.events", "tracking", *BASE},
    "feeds.jobs": {"feeds.core", "feeds.channels", "feeds.formats", "feeds.vendre",
                   "feeds.storage", "feeds.config", "feeds.pipeline", "feeds.events",
                   "feeds.purchases", "tracking", *BASE},
    "feeds.server": {"feeds.core", "feeds.channels", "feeds.formats", "feeds.vendre",
                     "feeds.storage", "feeds.config", "feeds.pipeline", "feeds.events",
                     "feeds.jobs", "feeds.purchases", "tracking", *BASE},
    "feeds.demo": {"feeds.core", "feeds.channels", "feeds.formats", "feeds.vendre",
                   "feeds.storage", "feeds.config", "feeds.pipeline", "feeds.events",
                   "feeds.jobs", "feeds.server", "feeds.purchases", "tracking", *BASE},
    # The fleet (Celery, Redis) sits above everything but the CLI; nothing below knows it.
    "feeds.fleet": {"feeds.core", "feeds.channels", "feeds.formats", "feeds.vendre",
                    "feeds.storage", "feeds.config", "feeds.pipeline", "feeds.events",
                    "feeds.jobs", "feeds.server", "feeds.demo", "feeds.purchases", "tracking",
                    *BASE},
    "feeds.cli": {"feeds"},
    "feeds.__main__": {"feeds.cli"},
    "tracking": set(),
}
# Pure packages: no I/O libraries, not even lazily.
PURE = {"feeds.core", "feeds.channels"}
IO_MODULES = {"os", "sqlite3", "httpx", "flask", "werkzeug", "waitress", "jinja2", "lxml",
              "click", "tqdm", "orjson", "socket", "subprocess", "shutil", "tempfile",
              "pathlib", "io"}


def _modules() -> Iterator[tuple[str, Path]]:
    for top in ("feeds", "tracking"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


MODULES = dict(_modules())


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module `name` imports, absolute, wherever the statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # `from feeds.cli import build` imports the submodule feeds.cli.build
            yield from (f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)


def _project(target: str) -> str | None:
    """The project module `target` names (the longest known prefix), else None."""
    while target:
        if target in MODULES:
            return target
        target = target.rpartition(".")[0]
    return None


def _package(module: str) -> str:
    """The rule that governs `module`: the longest key of ALLOWED it falls under."""
    candidates = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    return max(candidates, key=len)


def _targets(name: str, path: Path) -> set[str]:
    """The project modules `name` depends on. Its own ancestor packages do not count:
    Python runs them before `name` whatever it imports."""
    found = {m for t in _imports(name, path) if (m := _project(t))}
    return {m for m in found if m != name and not name.startswith(m + ".")}


GRAPH = {name: _targets(name, path) for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_package_rules(module: str) -> None:
    package = _package(module)
    allowed = ALLOWED[package] | {package}
    bad = sorted(m for m in GRAPH[module]
                 if not any(m == a or m.startswith(a + ".") for a in allowed))
    assert not bad, f"{module} ({package}) may not import {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _package(m) in PURE))
def test_pure_packages_do_no_io(module: str) -> None:
    roots = {t.split(".")[0] for t in _imports(module, MODULES[module])}
    assert not roots & IO_MODULES, f"{module} imports {sorted(roots & IO_MODULES)}"


def _cycle() -> list[str] | None:
    """One import cycle among the project's modules, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(GRAPH):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_sees_a_cycle_and_a_lazy_import() -> None:
    """The rules above can fail: a cycle made of a lazy import is found."""
    saved = {k: set(v) for k, v in GRAPH.items()}
    try:
        GRAPH["feeds.core.model"].add("feeds.core.text")
        GRAPH["feeds.core.text"].add("feeds.core.model")
        assert _cycle() is not None
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
    lazy = [t for t in _imports("feeds.cli.build", MODULES["feeds.cli.build"])]
    assert "feeds.pipeline.run" in lazy  # imported inside `validate`
