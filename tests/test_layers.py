"""The layers of the source tree import downwards only.

    proxy      capture, the recording format, template inference   imports no other layer
    graph      the transition graph                                 imports proxy
    adapters   database checkpoint / restore                        imports proxy
    replay     explorer, checkers, reports, the command line        imports anything

and ``venom_replay.replay.commands`` (one module per CLI command) is imported only by
``replay/cli.py`` and by the commands themselves: the library never reaches up into the CLI.
The adapters of one system (``adapters/postgres/``, ``adapters/mysql/``, ``adapters/redis/``) do not
import another system's: what they share lives in adapters/ itself (base.py, content_hash.py, ...)
or below (proxy/redact.py's URL masking).

Every module is parsed (never imported), and every import counts wherever it stands: at the top,
inside a function, relative (``from ..x import y``), or a literal ``importlib.import_module(...)``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "venom_replay"
LAYERS = ("proxy", "graph", "replay", "adapters")
# layer -> the layers it must not import
FORBIDDEN = {
    "proxy": {"graph", "replay", "adapters"},
    "graph": {"replay", "adapters"},
    "adapters": {"graph", "replay"},
    "replay": set(),
}
COMMANDS = f"{PACKAGE}.replay.commands"
COMMANDS_USERS = (f"{PACKAGE}.replay.cli", COMMANDS)
SYSTEMS = frozenset(p.parent.name for p in (ROOT / "adapters").glob("*/__init__.py"))


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def source_modules(root: Path = ROOT) -> Iterator[Path]:
    for layer in LAYERS:
        yield from sorted((root / layer).rglob("*.py"))


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _literal_prefix(arg: ast.expr) -> str | None:
    """The text of a string literal, or the literal start of an f-string (``f"pkg.{name}"`` -> ``pkg.``)."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value)
    return None


def imported_names(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, dotted name) of everything the module imports, at any depth of the syntax tree. For
    ``from a.b import c`` both ``a.b`` and ``a.b.c`` count: ``c`` may be a submodule."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                text = _literal_prefix(node.args[0])
                if text:
                    found.append((node.lineno, text.rstrip(".")))
    return found


def _layer_of(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] == PACKAGE and len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    if parts[0] in LAYERS:  # a bare top-level name: only works from a checkout, never from a wheel
        return parts[0]
    return None


def _problem(module: str, name: str) -> str | None:
    """Why ``module`` may not import ``name``, or None when it may."""
    target = _layer_of(name)
    if target is None:
        return None
    if not name.startswith(f"{PACKAGE}."):
        return f"use {PACKAGE}.{name}"
    layer = module.split(".")[1]
    if target in FORBIDDEN[layer]:
        return f"{layer}/ may not import from {target}/"
    if (name == COMMANDS or name.startswith(COMMANDS + ".")) and not any(
            module == user or module.startswith(user + ".") for user in COMMANDS_USERS):
        return "only replay/cli.py and replay/commands/ may"
    mine, theirs = _system_of(module), _system_of(name)
    if mine and theirs and mine != theirs:
        return f"adapters/{mine}/ may not import adapters/{theirs}/ (shared code belongs in adapters/)"
    return None


def _system_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if parts[:2] == [PACKAGE, "adapters"] and len(parts) > 2 and parts[2] in SYSTEMS else None


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    out = []
    flagged: set[tuple[int, str]] = set()
    # Shortest names first, so that `from bad import x, y` is reported once, as `bad`.
    for line, name in sorted(set(imported_names(source, module, is_package)), key=lambda item: (item[0], len(item[1]))):
        problem = _problem(module, name)
        if problem is not None and (line, name.rpartition(".")[0]) not in flagged:
            flagged.add((line, name))
            out.append(f"{module}:{line} imports {name}: {problem}")
    return out


def tree_violations(root: Path = ROOT) -> list[str]:
    out = []
    for path in source_modules(root):
        out += violations(path.read_text(encoding="utf-8"), module_name(path, root), path.name == "__init__.py")
    return out


# ---------------------------------------------------------------------------------- the real tree


def test_every_layer_has_modules_to_check():
    counts = {layer: sum(1 for _ in (ROOT / layer).rglob("*.py")) for layer in LAYERS}
    assert all(n >= 3 for n in counts.values()), counts


def test_layers_import_downwards_only():
    assert tree_violations() == []


# ---------------------------------------------------------------------------------- the check itself


@pytest.mark.parametrize(
    ("module", "source", "is_package", "expected"),
    [
        # The old replay/reproduction.py: the library reached up into the CLI to reuse its loader.
        ("venom_replay.replay.reproduction", "from venom_replay.replay.commands.explore import load_run\n", False,
         "only replay/cli.py and replay/commands/ may"),
        ("venom_replay.replay.session", "def f():\n    from venom_replay.replay import commands\n", False,
         "only replay/cli.py and replay/commands/ may"),
        ("venom_replay.proxy.addon", "def f():\n    import venom_replay.graph.transition\n", False,
         "proxy/ may not import from graph/"),
        ("venom_replay.proxy.infer.model", "from ...replay.findings import Action\n", False,
         "proxy/ may not import from replay/"),
        ("venom_replay.graph", "from ..adapters import base\n", True, "graph/ may not import from adapters/"),
        ("venom_replay.adapters.mysql.table", "from venom_replay.replay.learned.model import jsonable\n", False,
         "adapters/ may not import from replay/"),
        ("venom_replay.adapters.registry", "import importlib\nimportlib.import_module(f'venom_replay.graph.{x}')\n",
         False, "adapters/ may not import from graph/"),
        ("venom_replay.adapters.base", "from graph.export import write_graph\n", False, "use venom_replay.graph"),
        # The old adapters/mysql/table.py borrowed PostgreSQL's URL masker.
        ("venom_replay.adapters.mysql.table", "from venom_replay.adapters.postgres.journal import redact_url\n", False,
         "adapters/mysql/ may not import adapters/postgres/"),
    ],
)
def test_the_check_catches(module, source, is_package, expected):
    found = violations(source, module, is_package)
    assert len(found) >= 1 and all(expected in v for v in found), found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("venom_replay.replay.cli", "importlib.import_module(f'venom_replay.replay.commands.{m}')\n"),
        ("venom_replay.replay.commands.demo", "from venom_replay.replay.commands.explore import x\n"),
        ("venom_replay.replay.explorer.core", "from venom_replay.adapters.base import Adapter\n"),
        ("venom_replay.adapters.base", "from venom_replay.proxy.errors import VenomError\n"),
        ("venom_replay.graph.export", "from ..proxy.errors import VenomError\n"),
        ("venom_replay.proxy.addon", "import mitmproxy\nfrom . import recording\n"),
        ("venom_replay.adapters.redis.adapter", "from venom_replay.adapters.redis.swap import RedisSwapAdapter\n"),
        ("venom_replay.adapters.mysql.table", "from venom_replay.adapters.base import AdapterError\n"),
        ("venom_replay.adapters.registry", "from venom_replay.adapters.postgres.journal import PostgresJournalAdapter\n"),
    ],
)
def test_the_check_allows(module, source):
    assert violations(source, module) == []
