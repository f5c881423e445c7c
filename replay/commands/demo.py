"""`venom-replay demo`: the whole pipeline on the bundled shop API, in one command.

Everything it prints is measured on this run: the recorder's own summary, the templates learned,
the graph counted, the exploration's findings and the match between findings and planted bugs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click
from rich.console import Console
from rich.table import Table

from venom_replay.proxy.errors import ConfigError, VenomError
from venom_replay.proxy.redact import mask_url_password

SECURE_EXAMPLE = """\b
Examples:
  venom-replay demo
  venom-replay demo --report out/demo --keep
  venom-replay demo --db postgresql://me@127.0.0.1:5432/postgres
  venom-replay demo --fixed          # the same shop without its bugs: expect no findings
"""


@click.command(epilog=SECURE_EXAMPLE)
@click.option("--db", "db_url", metavar="URL",
              help="A PostgreSQL server to run the shop on (postgresql://user@host:port/db). The demo creates "
                   "its own database there (needs CREATEDB) and drops it at the end. Default: SQLite in a temp dir.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("venom-demo-report"),
              show_default=True, help="Where the reports, the graph and the recording are written (kept).")
@click.option("--keep", is_flag=True, help="Keep the working directory (SQLite file) or the PostgreSQL demo database.")
@click.option("--fixed", is_flag=True, help="Run the shop's correct twin, the same API without the planted bugs.")
@click.option("--depth", type=click.IntRange(1, 8), default=4, show_default=True, help="Longest sequence to explore.")
@click.option("--time-limit", type=click.FloatRange(1), default=40.0, show_default=True, metavar="SECONDS",
              help="Stop exploring after this long.")
@click.option("--prefix-roots", type=click.IntRange(0), default=12, show_default=True, metavar="N",
              help="Also start the search from up to N states that recorded sessions reach (0: only the baseline).")
@click.option("--prefix-depth", type=click.IntRange(1, 8), default=1, show_default=True, metavar="N",
              help="Longest explored sequence after a recorded prefix.")
def demo(db_url: str | None, report_dir: Path, keep: bool, fixed: bool, depth: int, time_limit: float,
         prefix_roots: int, prefix_depth: int) -> None:
    """Run the whole pipeline on a bundled shop API with planted sequence bugs.

    Starts the shop in its own process (SQLite in a temp dir, or the PostgreSQL you name), records
    scripted happy-path traffic through the real recording proxy, learns templates, exports the
    transition graph, explores unseen orderings with rollback, and reports each bug with its
    shortest sequence. Exit code 0 when every planted bug was found (with --fixed: when nothing
    was), 1 otherwise, 2 for set-up errors.
    """
    if report_dir.exists() and not report_dir.is_dir():
        raise ConfigError(f"--report {report_dir}: exists and is not a directory")
    if db_url is not None and urlsplit(db_url).scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"--db {db_url}: the demo runs on SQLite by default or on a postgresql:// server")
    console = Console(highlight=False)
    started = time.monotonic()
    with ExitStack() as cleanup:
        workdir = Path(tempfile.mkdtemp(prefix="venom-demo-"))
        cleanup.callback(_remove_or_keep, console, workdir, keep)
        if db_url is None:
            shop_db = f"sqlite:///{workdir / 'shop.db'}"
            where = f"SQLite {workdir / 'shop.db'}"
        else:
            shop_db = _create_pg_database(db_url)
            cleanup.callback(_drop_or_keep_pg, console, db_url, shop_db, keep)
            where = f"PostgreSQL database {urlsplit(shop_db).path.lstrip('/')} (created for the demo)"
        ok = _run(console, cleanup, shop_db, where, workdir, report_dir, fixed=fixed, depth=depth, time_limit=time_limit,
                  prefix_roots=prefix_roots, prefix_depth=prefix_depth)
    console.print(f"done in {time.monotonic() - started:.1f} s")
    sys.exit(0 if ok else 1)


def _run(console: Console, cleanup: ExitStack, shop_db: str, where: str, workdir: Path, report_dir: Path, *,
         fixed: bool, depth: int, time_limit: float, prefix_roots: int, prefix_depth: int) -> bool:
    from venom_replay.graph.export import export_graph
    from venom_replay.graph.transition import build_transition_graph
    from venom_replay.graph.unseen import count_unseen
    from venom_replay.replay.demo.shop import launch
    from venom_replay.replay.demo.traffic import run_traffic
    from venom_replay.replay.record_process import start_recorder
    from venom_replay.replay.session import load_recording_once
    from venom_replay.replay.start_state import start_state_path

    twin = "correct twin (no planted bugs)" if fixed else "4 planted sequence bugs"
    console.rule(f"venom-replay demo: a small shop API with {twin}")

    t0 = time.monotonic()
    try:
        shop = launch(shop_db, fixed=fixed)
    except RuntimeError as exc:
        raise VenomError(str(exc)) from None
    cleanup.callback(shop.stop)
    console.print(f"[bold]1. API[/]    shop running at {shop.url} (pid {shop.proc.pid}) on {where}")

    recording_path = workdir / "shop.vrec"
    try:
        # --db: the shop's database as the recording starts, so the recorded sessions replay from it.
        with start_recorder(recording_path, target=shop.url, dbs=[shop_db]) as recorder:
            traffic = run_traffic(recorder.url)
            summary = recorder.stop()
    except RuntimeError as exc:
        raise VenomError(str(exc)) from None
    console.print(f"[bold]2. record[/] {len(traffic.sessions)} scripted client sessions through the recording proxy at "
                  f"{recorder.url}: {summary} ({time.monotonic() - t0:.1f} s)")

    t1 = time.monotonic()
    # The reports name the recording they came from: the copy kept in the report directory (the
    # temporary one is gone after the demo), so the printed `reproduce` hint works afterwards.
    report_dir.mkdir(parents=True, exist_ok=True)
    kept = report_dir / "shop.vrec"
    for source, copy in ((recording_path, kept), (start_state_path(recording_path), start_state_path(kept))):
        if source.exists():  # the recording, and the databases' content when it started
            shutil.copyfile(source, copy)
            copy.chmod(0o600)
    loaded = load_recording_once(kept)
    tset = loaded.templates
    bindings = sum(len(t.consumes) for t in tset.templates.values())
    console.print(f"[bold]3. learn[/]  {len(tset.templates)} templates, {bindings} value bindings "
                  f"({time.monotonic() - t1:.2f} s):")
    console.print(_templates_table(tset))

    graph = build_transition_graph(tset, title="demo shop: transition graph")
    graph_path = export_graph(graph, report_dir / "graph.html", title="demo shop: transition graph")
    unseen = count_unseen(graph, depth)
    counts = ", ".join(f"length {n}: {c}" for n, c in sorted(unseen.items()))
    console.print(f"[bold]4. graph[/]  {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges; "
                  f"orderings never recorded ({counts}) -> {graph_path}")

    report = _explore(console, loaded, shop.url, shop_db, report_dir, depth=depth, time_limit=time_limit,
                      prefix_roots=prefix_roots, prefix_depth=prefix_depth)
    return _verdict(console, report, report_dir, fixed=fixed)


def _templates_table(tset: Any) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2))
    table.add_column("template")
    table.add_column("calls", justify="right")
    table.add_column("values it takes from earlier answers")
    for t in tset.templates.values():
        producers = tset.templates
        bound = ", ".join(
            f"{c.location} <- {producers[c.producer].label if c.producer in producers else c.producer} {c.source}"
            for c in t.consumes if not c.location.lower().startswith("header:authorization"))
        auth = [c for c in t.consumes if c.location.lower().startswith("header:authorization")]
        token = f"bearer token <- {producers[auth[0].producer].label}" if auth and auth[0].producer in producers else ""
        table.add_row(t.label, str(t.count), "; ".join(filter(None, [bound, token])) or "-")
    return table


def _explore(console: Console, loaded: Any, target: str, db: str, report_dir: Path, *,
             depth: int, time_limit: float, prefix_roots: int, prefix_depth: int) -> dict[str, Any]:
    from rich.live import Live

    from venom_replay.replay.commands.explore import _stats_table
    from venom_replay.replay.options import ExploreOptions
    from venom_replay.replay.report import write_reports
    from venom_replay.replay.session import run_exploration

    options = ExploreOptions(depth=depth, max_transitions=100_000, time_limit=time_limit, prefix_roots=prefix_roots,
                             prefix_depth=prefix_depth)

    def announce(checkers: list) -> None:
        console.print(f"[bold]5. explore[/] breadth-first up to {depth} steps, rolling the database back between "
                      f"branches; checkers: {', '.join(getattr(c, 'name', type(c).__name__) for c in checkers)}")

    with Live(console=console, transient=True, refresh_per_second=4) as live:
        result = run_exploration(loaded, target, [db], options, progress=lambda stats: live.update(_stats_table(stats)),
                                 on_checkers=announce)
    return write_reports(result, report_dir)


def _verdict(console: Console, report: dict[str, Any], report_dir: Path, *, fixed: bool) -> bool:
    from venom_replay.replay.commands.explore import print_summary
    from venom_replay.replay.demo.shop import PLANTED_BUGS

    print_summary(console, report, report_dir)
    findings = report["findings"]
    for f in findings:
        console.print(f"\n[bold]finding {f['number']}[/] ([red]{f['checker']}[/]): {f['message']}")
        for i, step in enumerate(f["sequence"], 1):
            # Steps replayed from a recorded session to reach a search root were not explored.
            recorded = "  (recorded session)" if step.get("recorded_prefix") else ""
            console.print(f"   {i}. {step['method']} {step['path']}  -> {step['status']}{recorded}")
    console.print()
    if fixed:
        verdict = not findings and report["db_restored"] is True
        console.print(f"correct twin: {len(findings)} finding(s) (expected none); database restored: "
                      f"{report['db_restored']}")
    else:
        table = Table(title="planted bugs", show_edge=False)
        table.add_column("planted bug")
        table.add_column("sequence")
        table.add_column("found by")
        matched: set[int] = set()
        for bug in PLANTED_BUGS:
            hits = [f["number"] for f in findings if bug.caught_by(f)]
            matched.update(hits)
            table.add_row(bug.name, bug.sequence, ", ".join(f"finding {n}" for n in hits) or "[red]not found[/]")
        console.print(table)
        found = sum(1 for bug in PLANTED_BUGS if any(bug.caught_by(f) for f in findings))
        others = [f["number"] for f in findings if f["number"] not in matched]
        console.print(f"found {found} of {len(PLANTED_BUGS)} planted bugs"
                      + (f"; findings that match no planted bug: {', '.join(map(str, others))}" if others else ""))
        verdict = found == len(PLANTED_BUGS) and report["db_restored"] is True
    console.print(f"transition graph: {report_dir}/graph.html; recording: {report_dir}/shop.vrec "
                  f"(try `venom-replay templates {report_dir}/shop.vrec`)")
    return verdict


# ---------------------------------------------------------------- PostgreSQL and clean-up


def _create_pg_database(server_url: str) -> str:
    """A fresh database for the shop on the user's server; the user's own databases stay untouched."""
    import secrets

    import psycopg

    name = f"venom_demo_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--db {mask_url_password(server_url)}: cannot create the demo database {name} there "
                          f"(the demo needs CREATEDB): {first}") from None
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _drop_or_keep_pg(console: Console, server_url: str, shop_db: str, keep: bool) -> None:
    import psycopg

    name = urlsplit(shop_db).path.lstrip("/")
    if keep:
        console.print(f"kept the demo database: {mask_url_password(shop_db)}")
        return
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as exc:
        console.print(f"[yellow]warning:[/] could not drop the demo database {name}: {str(exc).strip()}")


def _remove_or_keep(console: Console, workdir: Path, keep: bool) -> None:
    if keep:
        console.print(f"kept the working directory: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
