"""User invariants: Python functions from a file, and SQL queries that must return no rows.

Python (``--invariants checks.py``): every top-level function whose name starts with ``invariant_``
or ``check_`` is called after each step. It may take any of these parameters, by name:
``response`` (the last Response, None on a transport error), ``values`` (the bound values),
``db`` (the first SQL database connection, or the one the function names), ``databases`` (all
handles by URL), ``step``, ``path``. It fails by returning False or a message string, or by raising
AssertionError; its docstring's first line names the rule in the report.

    @on_database("shop")          # optional: ``db`` is that database (see ``database_names``)
    def invariant_refund_not_above_amount(response, db):
        "refunded never exceeds the amount"
        return not db.execute("SELECT 1 FROM orders WHERE refunded > amount").fetchall()

SQL (``[invariants] sql = ["SELECT id FROM orders WHERE refunded > amount"]`` in venom.toml, or
``[[invariants.sql]]`` tables with ``name``, ``query`` and optionally ``database``): each query runs
after each step on the database it names, else on every SQL database; any row it returns is a
violation.

An invariant that cannot run is the user's set-up to fix, never a finding: a database name that
matches no ``--db`` URL, or a query (or a Python invariant that reads only the databases) that fails
on the databases before the run, is a one-line error (``prepare``); one that fails later is
recorded once in ``errors`` and not run again.

Modules: ``python`` and ``sql`` (the two kinds), ``naming`` (which database an invariant reads),
``handles`` (our connections), ``setup`` (checked before the run), ``common``.
"""

from __future__ import annotations

from venom_replay.replay.checkers.user_invariants.common import FirstBreaks
from venom_replay.replay.checkers.user_invariants.handles import (
    close_handles,
    open_handle,
)
from venom_replay.replay.checkers.user_invariants.naming import (
    database_names,
    resolve_database,
)
from venom_replay.replay.checkers.user_invariants.python import (
    PythonInvariants,
    on_database,
)
from venom_replay.replay.checkers.user_invariants.setup import (
    invariant_errors,
    prepare_invariants,
)
from venom_replay.replay.checkers.user_invariants.sql import (
    SqlInvariants,
    SqlQuery,
    sql_invariants_from_config,
)

__all__ = [
    "FirstBreaks",
    "PythonInvariants",
    "SqlInvariants",
    "SqlQuery",
    "close_handles",
    "database_names",
    "invariant_errors",
    "on_database",
    "open_handle",
    "prepare_invariants",
    "resolve_database",
    "sql_invariants_from_config",
]
