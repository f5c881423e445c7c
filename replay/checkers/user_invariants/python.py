"""Python invariants: functions from the user's file, called after each step with the arguments they name."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from venom_replay.proxy.errors import ConfigError
from venom_replay.replay.checkers.base import StepContext, Violation
from venom_replay.replay.checkers.user_invariants.common import (
    _ARGS,
    _STATE_ARGS,
    FirstBreaks,
    _first_line,
    _label,
    _reason,
)
from venom_replay.replay.checkers.user_invariants.handles import (
    _is_sql,
    _rollback_quietly,
)
from venom_replay.replay.checkers.user_invariants.naming import (
    resolve_database,
)

F = TypeVar("F", bound=Callable[..., Any])


def on_database(name: str) -> Callable[[F], F]:
    """Mark a Python invariant as reading one database: its ``db`` is the ``--db`` that ``name`` names
    (the URL, or its short name: see ``database_names``). It sets the function's ``database``
    attribute, which may also be set by hand."""

    def mark(fn: F) -> F:
        fn.database = name  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass
class _PyInvariant:
    name: str
    doc: str
    fn: Callable[..., Any]
    params: tuple[str, ...]
    database: str | None = None
    """The database its ``db`` reads, as the user named it (None: the first SQL database)."""

    @property
    def about_state(self) -> bool:
        """Reads the databases and not the step's answer: once broken, it stays broken."""
        return bool(_STATE_ARGS & set(self.params)) and not {"response", "step"} & set(self.params)


class PythonInvariants:
    """The ``invariant_*`` / ``check_*`` functions of one Python file."""

    name = "user"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"--invariants {self.path}: no such file")
        spec = importlib.util.spec_from_file_location(f"venom_user_invariants_{abs(hash(str(self.path)))}", self.path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"--invariants {self.path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError(f"--invariants {self.path}: cannot load it ({type(exc).__name__}: {exc})") from None
        self.invariants: list[_PyInvariant] = []
        for attr, fn in vars(module).items():
            if not (attr.startswith(("invariant_", "check_")) and inspect.isfunction(fn) and fn.__module__ == module.__name__):
                continue
            params = tuple(inspect.signature(fn).parameters)
            unknown = [p for p in params if p not in _ARGS]
            if unknown:
                raise ConfigError(f"--invariants {self.path}: {attr}() takes {unknown[0]!r}; "
                                  f"invariants may take {', '.join(_ARGS)}")
            database = getattr(fn, "database", None)
            if database is not None and not (isinstance(database, str) and database):
                raise ConfigError(f"--invariants {self.path}: {attr}.database must be a database name or URL")
            self.invariants.append(_PyInvariant(attr, _first_line(fn.__doc__) or attr, fn, params, database))
        if not self.invariants:
            raise ConfigError(f"--invariants {self.path}: no function named invariant_* or check_* in it")
        self.first_breaks = FirstBreaks("python")
        self.targets: dict[str, str] = {}
        """Invariant -> the URL of the database it named (resolved against the --db URLs)."""
        self.errors: dict[str, str] = {}
        """Invariant -> why it could not run during the exploration (it is not run again)."""

    def _where(self, inv: _PyInvariant) -> str:
        return f"--invariants {self.path}: {inv.name}"

    def _resolve(self, handles: Mapping[str, Any], *, keep_going: bool = False) -> None:
        """Each named database's URL; ``keep_going``: one that names none is recorded in ``errors``."""
        for inv in self.invariants:
            if inv.database is None or inv.name in self.targets or inv.name in self.errors:
                continue
            try:
                self.targets[inv.name] = resolve_database(inv.database, handles, self._where(inv))
            except ConfigError as exc:
                if not keep_going:
                    raise
                self.errors[inv.name] = str(exc)

    def _arguments(self, inv: _PyInvariant, handles: Mapping[str, Any], ctx: StepContext | None) -> dict[str, Any]:
        target = self.targets.get(inv.name)
        sql_handles = [h for h in handles.values() if _is_sql(h)]
        available = {
            "db": handles[target] if target is not None else sql_handles[0] if sql_handles else None,
            "databases": dict(handles),
        }
        if ctx is not None:
            available.update(response=ctx.step.response, values=ctx.values, step=ctx.step, path=ctx.path)
        return {p: available[p] for p in inv.params}

    def prepare(self, handles: Mapping[str, Any]) -> None:
        """Before the run: every database an invariant names is one of ``handles``, and the invariants
        that read only the databases run on them without an error (their verdict does not matter)."""
        self._resolve(handles)
        for inv in self.invariants:
            if not set(inv.params) <= _STATE_ARGS:
                continue
            try:
                inv.fn(**self._arguments(inv, handles, None))
            except AssertionError:
                pass
            except Exception as exc:  # noqa: BLE001 - user code: any error means it cannot run
                raise ConfigError(f"{self._where(inv)}() cannot run on the databases: {_reason(exc)}") from None
            finally:
                _rollback_quietly(list(handles.values()))

    def check(self, ctx: StepContext) -> list[Violation]:
        handles = dict(ctx.databases)
        self._resolve(handles, keep_going=True)
        broken: list[tuple[_PyInvariant, str]] = []
        for inv in self.invariants:
            if inv.name in self.errors:
                continue
            try:
                verdict = inv.fn(**self._arguments(inv, handles, ctx))
            except AssertionError as exc:
                verdict = str(exc) or False
            except Exception as exc:  # noqa: BLE001 - the invariant's own fault, not the API's: said once, never a finding
                self.errors[inv.name] = f"{self._where(inv)}() failed after {ctx.step.template.label}: {_reason(exc)}"
                continue
            finally:
                _rollback_quietly([h for h in handles.values() if _is_sql(h)])
            if verdict is None or verdict is True:
                continue
            broken.append((inv, verdict if isinstance(verdict, str) and verdict else inv.doc))
        # A state invariant (it reads the databases, not the answer) broken at every step since some step
        # is one root cause: one bucket per invariant and the step that first broke it, as for SQL
        # invariants. An invariant about the answer is broken by each step that answers wrongly.
        first = self.first_breaks.attribute(ctx, [inv.name for inv, _ in broken if inv.about_state])
        out = []
        for inv, detail in broken:
            by = first.get(inv.name, ctx.step.template.id)
            still = "" if by == ctx.step.template.id else f" (still broken after {ctx.step.template.label})"
            out.append(Violation(self.name, f"invariant {inv.name} broken after {_label(ctx, by)}{still}: {detail}",
                                 f"user:{inv.name}:{by}", {"invariant": inv.name, "broken_by": by}))
        return out
