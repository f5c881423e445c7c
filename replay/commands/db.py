"""`venom-replay db`: check, recover or uninstall the rollback machinery in a database."""

from __future__ import annotations

import json
import sys

import click

from venom_replay.adapters.registry import database_kind, open_adapter, split_options
from venom_replay.proxy.redact import mask_url_password

DB_HELP = ("Database URL: postgresql://, mysql:// (MariaDB too), sqlite:///path, redis:// or dir:///path (a file"
           " tree); ?mode=... picks a mode.")


@click.group("db")
def db() -> None:
    """Check, recover or uninstall the database rollback machinery.

    \b
    Examples:
      venom-replay db check --db postgresql://app@127.0.0.1:5432/shop
      venom-replay db recover --db mysql://root@127.0.0.1:3306/shop
      venom-replay db uninstall --db sqlite:///var/app.db
    """


@db.command("check")
@click.option("--db", "url", required=True, help=DB_HELP)
@click.option("--mode", default=None, help="Adapter mode (postgresql: journal|template|savepoint; sqlite: "
              "triggers|backup; redis: dump|swapdb).")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1, 1000), help="Write/restore rounds.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def check(url: str, mode: str | None, rounds: int, as_json: bool) -> None:
    """Self-test rollback on this database: write through a separate connection, restore, read back.

    Prints the measured checkpoint and restore latency. Exits 0 only if every restore was exact;
    leaves nothing behind (a scratch table is created and dropped).

    \b
    Example:
      venom-replay db check --db postgresql://postgres@127.0.0.1:5432/shop
    """
    from venom_replay.adapters.selftest import run_check

    options = {"mode": mode} if mode else {}
    progress = (lambda _msg: None) if as_json else (lambda msg: click.echo(f"  {msg}", err=True))
    if database_kind(url) == "dir":  # a scratch folder written by a child process instead of a table
        from venom_replay.adapters.files.selftest import run_tree_check

        result = run_tree_check(url, rounds=rounds, progress=progress)
    else:
        result = run_check(url, rounds=rounds, progress=progress, **options)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        for note in result.notes:
            click.echo(f"note: {note}")
        for problem in result.problems:
            click.echo(f"problem: {problem}")
        verdict = "exact" if result.exact else "NOT exact"
        click.echo(f"{result.url} ({result.mode} mode): restore {verdict} in {result.rounds} rounds;"
                   f" checkpoint {result.checkpoint_ms:.2f} ms, restore {result.restore_ms:.2f} ms (median)")
    sys.exit(0 if result.exact else 1)


@db.command("recover")
@click.option("--db", "url", required=True, help=DB_HELP)
@click.option("--mode", default=None, help="The adapter mode the killed run used.")
@click.option("--keep-installed", is_flag=True, help="Leave the journal and triggers in place.")
def recover(url: str, mode: str | None, keep_installed: bool) -> None:
    """Restore the baseline a killed run left behind, then remove our objects.

    After a killed `explore --workers` run it also stops the APIs that run started (--api-cmd) and
    drops its copies of the database.

    \b
    Example:
      venom-replay db recover --db postgresql://postgres@127.0.0.1:5432/shop
    """
    adapter = open_adapter(url, **({"mode": mode} if mode else {}))
    with adapter:
        undone = adapter.recover()
        if not keep_installed:
            adapter.uninstall()
    shown = mask_url_password(split_options(url)[0])
    click.echo(f"{shown}: baseline restored ({undone} change(s) undone)" if undone
               else f"{shown}: nothing to recover")
    from venom_replay.adapters.copies import drop_copy, leftover_copies, leftover_processes
    from venom_replay.replay.scale.api_processes import stop_leftover_groups

    stopped = stop_leftover_groups(leftover_processes(url))  # their APIs hold the copies open
    if stopped:
        click.echo(f"{shown}: stopped {stopped} API {'process' if stopped == 1 else 'processes'} left running by a killed run")
    left = leftover_copies(url)  # the replicas' databases of an `explore --workers` run that was killed
    for copy in left:
        drop_copy(copy)
    if left:
        click.echo(f"{shown}: dropped {len(left)} {'copy' if len(left) == 1 else 'copies'} left by a killed run:"
                   f" {', '.join(mask_url_password(split_options(c)[0]) for c in left)}")


@db.command("uninstall")
@click.option("--db", "url", required=True, help=DB_HELP)
@click.option("--mode", default=None, help="The adapter mode that was installed.")
@click.option("--keep-changes", is_flag=True,
              help="Do not restore the baseline first (keep what a killed run left in the data).")
def uninstall(url: str, mode: str | None, keep_changes: bool) -> None:
    """Remove every object venom-replay installed (journal, triggers, snapshots).

    By default a baseline left by a killed run is restored first, so no change is silently kept.

    \b
    Example:
      venom-replay db uninstall --db mysql://root@127.0.0.1:3306/shop
    """
    adapter = open_adapter(url, **({"mode": mode} if mode else {}))
    with adapter:
        undone = 0 if keep_changes else adapter.recover()
        adapter.uninstall()
    shown = mask_url_password(split_options(url)[0])
    click.echo(f"{shown}: uninstalled" + (f" after restoring the baseline ({undone} change(s) undone)" if undone else ""))
