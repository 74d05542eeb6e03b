"""The shape of the code, checked from its source with `ast` (docs/ARCHITECTURE.md, *Layers*):

- infrastructure (config, db, observability, providers, text, errors, workers, ...) imports
  nothing of ragops but infrastructure: no domain, no HTTP or CLI layer, no `runtime`;
- dependencies point one way, routes -> services: only the entry layers (routers, CLIs,
  middleware, `api/`, `cli/`, `main.py`, `web/`) import a router or `ragops.api`;
- every module is at most `MAX_LINES` lines long and opens with a docstring saying its job
  (an empty package marker `__init__.py` needs none).

Imports inside functions and under `TYPE_CHECKING` count as well: a deferred import is still a
dependency. Each rule is also run on a small synthetic source, so a checker that stopped
flagging anything would fail here too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "ragops"

INFRASTRUCTURE = frozenset(
    {
        "",  # the package itself: `ragops.__version__`
        "config",
        "db",
        "observability",
        "providers",
        "text",
        "errors",
        "workers",
        "schema",
        "server_state",
        "child_env",
        "os_errors",
    }
)
"""Top-level parts of `ragops` below every domain (docs/ARCHITECTURE.md, *infrastructure*)."""

ENTRY_PACKAGES = frozenset({"api", "cli", "web", "main"})
"""Top-level parts that wire the HTTP routes and the CLI commands (above every domain)."""

MAX_LINES = 400
"""A guard against modules growing unnoticed: past it, a module is split along a seam."""


@dataclass(frozen=True)
class Module:
    """One source file: its dotted name, whether it is a package `__init__`, and its text."""

    name: str
    source: str
    is_package: bool = False

    @property
    def top(self) -> str:
        """The top-level part of `ragops` it belongs to ("" for the package itself)."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class Import:
    """One import of a ragops module: the importer, the imported name and the line."""

    module: str
    target: str
    line: int

    @property
    def top(self) -> str:
        parts = self.target.split(".")
        return parts[1] if len(parts) > 1 else ""


def _absolute(module: Module, level: int, name: str | None) -> str:
    """The absolute module of a relative `from` import."""
    package = module.name.split(".")
    if not module.is_package:
        package = package[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(module: Module, known: set[str]) -> Iterator[Import]:
    """Every import of a ragops module in `module` (at any depth), resolved to the module it
    names. `known` are the dotted names of every module, so that `from ragops.jobs import
    router` counts as `ragops.jobs.router` and `from ragops import __version__` as `ragops`."""
    for node in ast.walk(ast.parse(module.source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield Import(module.name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node.level, node.module) if node.level else node.module or ""
            if base != PACKAGE and not base.startswith(PACKAGE + "."):
                continue
            targets = {
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            }
            for target in sorted(targets):
                yield Import(module.name, target, node.lineno)


def _is_entry(name: str) -> bool:
    """Whether a dotted module name belongs to the entry layers (routes, CLIs, middleware)."""
    parts = name.split(".")
    last = parts[-1]
    return (
        (len(parts) > 1 and parts[1] in ENTRY_PACKAGES)
        or last == "router"
        or last.endswith("_router")
        or last == "cli"
        or last.startswith("cli_")
        or last == "middleware"
        or last == "__main__"
    )


def layer_violations(modules: Iterable[Module]) -> list[str]:
    """Each import that points the wrong way, as `module:line imports target (why)`."""
    modules = list(modules)
    known = {m.name for m in modules}
    found: list[str] = []
    for module in modules:
        for item in imports_of(module, known):
            where = f"{module.name}:{item.line} imports {item.target}"
            if module.top in INFRASTRUCTURE and item.top not in INFRASTRUCTURE:
                found.append(
                    f"{where} (infrastructure `{module.top or PACKAGE}` may import only "
                    f"infrastructure; `{item.top}` is not)"
                )
            elif not _is_entry(module.name) and _is_entry(item.target):
                found.append(f"{where} (a service imports routes: only entry layers may)")
    return found


def shape_violations(module: Module, max_lines: int = MAX_LINES) -> list[str]:
    """A module too long, or without a docstring (an empty `__init__.py` is exempt)."""
    found: list[str] = []
    lines = len(module.source.splitlines())
    if lines > max_lines:
        found.append(f"{module.name}: {lines} lines (more than {max_lines}): split it")
    if module.source.strip() and ast.get_docstring(ast.parse(module.source)) is None:
        found.append(f"{module.name}: no module docstring saying what it is for")
    return found


def source_modules(root: Path = SRC) -> list[Module]:
    """Every module of the ragops package under `root`."""
    modules = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules.append(Module(".".join(parts), path.read_text(encoding="utf-8"), is_package))
    return modules


# --- the checkers flag what they should (synthetic sources) ---

TOPS = ["db", "config", "chat", "api", "workers"]


def _fake(name: str, source: str, is_package: bool = False) -> Module:
    return Module(name, source, is_package)


def test_an_infrastructure_module_importing_a_domain_is_flagged_with_its_line() -> None:
    mod = _fake(
        "ragops.db.helpers",
        '"""Doc."""\nimport os\n\nfrom ragops.chat.models import Message\n',
    )
    assert layer_violations([mod, _fake("ragops.chat.models", '"""Doc."""\n')]) == [
        "ragops.db.helpers:4 imports ragops.chat.models (infrastructure `db` may import only "
        "infrastructure; `chat` is not)"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "import ragops.chat.service\n",
        "from ragops import chat\n",
        "def f():\n    from ragops.chat import service\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ragops.chat import x\n",
        "from ..chat import service\n",
    ],
    ids=["import", "from-package", "deferred", "type-checking", "relative"],
)
def test_every_spelling_of_an_import_is_seen(source: str) -> None:
    modules = [_fake("ragops.db.engine", source), _fake("ragops.chat", "", is_package=True)]
    [found] = layer_violations(modules)
    assert found.startswith("ragops.db.engine:") and "imports ragops.chat" in found


def test_infrastructure_importing_infrastructure_and_third_parties_is_allowed() -> None:
    source = (
        '"""Doc."""\nimport sqlalchemy\nfrom ragops import __version__\n'
        "from ragops.config import Settings\nfrom ragops.workers import run_blocking\n"
    )
    modules = [_fake("ragops.db.engine", source), *(_fake(f"ragops.{t}", "") for t in TOPS)]
    assert layer_violations(modules) == []


def test_a_service_importing_a_router_is_flagged_and_a_router_importing_one_is_not() -> None:
    modules = [
        _fake("ragops.chat.service", "from ragops.api.deps import RuntimeDep\n"),
        _fake("ragops.chat.router", "from ragops.api.deps import RuntimeDep\n"),
        _fake("ragops.documents.router", "from ragops.jobs.router import job_queue\n"),
        _fake("ragops.jobs.service", "\n\nfrom ragops.jobs import models, router\n"),
        _fake("ragops.api.deps", ""),
        _fake("ragops.jobs.router", ""),
        _fake("ragops.jobs.models", ""),
    ]
    assert layer_violations(modules) == [
        "ragops.chat.service:1 imports ragops.api.deps (a service imports routes: only entry "
        "layers may)",
        "ragops.jobs.service:3 imports ragops.jobs.router (a service imports routes: only "
        "entry layers may)",
    ]


def test_a_long_module_and_one_without_a_docstring_are_flagged() -> None:
    long = _fake("ragops.chat.long", '"""Doc."""\n' + "x = 1\n" * 10)
    assert shape_violations(long, max_lines=10) == [
        "ragops.chat.long: 11 lines (more than 10): split it"
    ]
    bare = _fake("ragops.chat.bare", "# a comment is not a docstring\nx = 1\n")
    assert shape_violations(bare) == ["ragops.chat.bare: no module docstring saying what it is for"]
    assert shape_violations(_fake("ragops.chat", "", is_package=True)) == []


# --- the source tree keeps to them ---


def test_the_source_tree_is_found() -> None:
    names = {m.name for m in source_modules()}
    assert {"ragops", "ragops.db.migrate", "ragops.chat.service", "ragops.workers"} <= names


def test_infrastructure_imports_no_domain_and_services_import_no_routes() -> None:
    found = layer_violations(source_modules())
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_every_module_is_short_and_says_what_it_is_for() -> None:
    found = [problem for module in source_modules() for problem in shape_violations(module)]
    assert not found, "modules out of shape:\n" + "\n".join(found)
