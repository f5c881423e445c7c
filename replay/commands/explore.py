"""`venom-replay explore`: run unseen orderings against the live API and report sequence bugs."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from venom_replay.proxy.errors import ConfigError, VenomError

EXPLORE_DEFAULTS = {"strategy": "bfs", "depth": 3, "max_transitions": 2000, "time_limit": None, "prefix_roots": None,
                    "prefix_depth": None}


def build_checkers(tset: Any, *, recording: Path, config: Any, invariants: Path | None, learned: bool) -> tuple[list, list[str]]:
    """Built-in checkers, learned oracles (unless turned off), user Python and SQL invariants."""
    from venom_replay.replay.checkers_builtin import builtin_checkers
    from venom_replay.replay.explorer import _recorded_exchanges
    from venom_replay.replay.user_invariants import PythonInvariants, SqlInvariants, sql_invariants_from_config

    notes: list[str] = []
    checkers: list = builtin_checkers(tset, _recorded_exchanges(tset))
    if learned:
        try:
            from venom_replay.replay.learned import LearnedChecker, learn_invariants
        except ImportError:
            notes.append("learned oracles are not available in this installation")
        else:
            checkers.append(LearnedChecker(learn_invariants(tset, recording, config), config))
    if invariants is not None:
        checkers.append(PythonInvariants(invariants))
    queries = sql_invariants_from_config(config.raw, str(config.path or "config"))
    if queries:
        checkers.append(SqlInvariants(queries))
    return checkers, notes


def open_databases(urls: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """One adapter (a group for several URLs) and a separate read handle per database for invariants."""
    from venom_replay.adapters.group import AdapterGroup
    from venom_replay.adapters.registry import open_adapter, split_options
    from venom_replay.replay.user_invariants import close_handles, open_handle

    adapters = []
    handles: dict[str, Any] = {}
    try:
        for url in urls:
            adapters.append(open_adapter(url))
            clean, _ = split_options(url)
            handles[clean] = open_handle(clean)
    except BaseException:
        for a in adapters:
            a.close()
        close_handles(handles)
        raise
    if not adapters:
        return None, handles
    return (adapters[0] if len(adapters) == 1 else AdapterGroup(adapters)), handles


def _stats_table(stats: Any) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_row(f"[bold]{stats.phase}[/]", f"states [cyan]{stats.states}[/]", f"transitions [cyan]{stats.transitions}[/]",
                  f"findings [{'red' if stats.findings else 'green'}]{stats.findings}[/]", f"{stats.rate:.1f}/s",
                  f"{stats.elapsed:.1f} s")
    return table


def print_summary(console: Console, report: dict[str, Any], out_dir: Path) -> None:
    findings = report["findings"]
    restored = {True: "[green]yes[/]", False: "[red]NO[/]", None: "[yellow]no database given[/]"}[report["db_restored"]]
    console.print(f"[bold]{report['states']}[/] states, [bold]{report['transitions']}[/] transitions in "
                  f"{report['elapsed_seconds']} s ({report['stopped']}); databases restored: {restored}")
    if findings:
        table = Table(title=f"{len(findings)} finding(s)", show_lines=False)
        table.add_column("#", justify="right")
        table.add_column("checker", style="red")
        table.add_column("message")
        table.add_column("steps", justify="right")
        table.add_column("seen", justify="right")
        for f in findings:
            recorded = sum(1 for s in f["sequence"] if s.get("recorded_prefix"))
            steps = f"{len(f['sequence'])} ({recorded} recorded)" if recorded else str(len(f["sequence"]))
            table.add_row(str(f["number"]), f["checker"], f["message"], steps, str(f["count"]))
        console.print(table)
    else:
        console.print("[green]no findings[/]")
    for w in report["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(f"reports: {out_dir}/report.json, report.html, junit.xml, summary.md")


@click.command(
    epilog="""\b
Examples:
  venom-replay explore shop.vrec --target http://127.0.0.1:8000 \\
      --db postgresql://app@127.0.0.1/shop --report out/
  venom-replay explore shop.vrec --target http://127.0.0.1:8000 --db sqlite:///shop.db \\
      --db redis://127.0.0.1:6379/0 --strategy coverage --depth 4 --time-limit 120 --report out/
  venom-replay reproduce out/report.json 1
"""
)
@click.argument("recording", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", required=True, metavar="URL", help="Base URL of the live API to replay against.")
@click.option("--db", "dbs", multiple=True, metavar="URL",
              help="Database the API uses (postgresql://, mysql://, sqlite:///, redis://); repeat for several. "
                   "Restored between branches and at the end.")
@click.option("--report", "report_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for report.json, report.html, junit.xml and summary.md.")
@click.option("--strategy", type=click.Choice(["bfs", "dfs", "coverage"]), default=None,
              help="bfs: shortest reproductions (default); dfs: deep first; coverage: unseen pairs and new statuses first.")
@click.option("--depth", type=click.IntRange(1, 12), default=None, help="Longest sequence to run (default 3).")
@click.option("--max-transitions", type=click.IntRange(1), default=None, help="Stop after this many steps (default 2000).")
@click.option("--time-limit", type=click.FloatRange(0.1), default=None, metavar="SECONDS", help="Stop searching after this long.")
@click.option("--prefix-roots", type=click.IntRange(0), default=None, metavar="N",
              help="Also search from up to N states that recorded sessions reach (after log-in, order, pay...), "
                   "so long set-ups cost no depth; 0 turns it off (default 12).")
@click.option("--prefix-depth", type=click.IntRange(1, 12), default=None, metavar="N",
              help="Longest explored sequence after a recorded prefix (default 1: every unseen next step).")
@click.option("--swap-identities", is_flag=True, help="Also run calls as each other recorded user (login as B, act on A's things).")
@click.option("--invariants", type=click.Path(dir_okay=False, path_type=Path), help="Python file with invariant_* functions.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="venom.toml to use (default: the nearest one).")
@click.option("--no-learned", is_flag=True, help="Do not check the invariants learned from the recording.")
@click.option("--timeout", type=click.FloatRange(0.1), default=10.0, show_default=True, help="Seconds to wait for each reply.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout and nothing else (progress goes to stderr).")
def explore(recording: Path, target: str, dbs: tuple[str, ...], report_dir: Path, strategy: str | None, depth: int | None,
            max_transitions: int | None, time_limit: float | None, prefix_roots: int | None, prefix_depth: int | None,
            swap_identities: bool, invariants: Path | None,
            config_path: Path | None, no_learned: bool, timeout: float, as_json: bool) -> None:
    """Replay orderings of RECORDING's calls that were never recorded against the live API.

    Between branches the databases given with --db are rolled back; after every step the built-in
    checkers (server errors, response shape, use after delete, deleted but listed, repeated
    success, access after a role change), the learned invariants and yours are checked. Each bug
    is reported once, with the shortest sequence that reproduces it. Exit code: 1 findings, 0 none,
    2 usage or set-up errors.
    """
    import json

    from venom_replay.proxy.config import load_config
    from venom_replay.proxy.infer import infer_templates
    from venom_replay.replay.explorer import DEFAULT_PREFIX_DEPTH, DEFAULT_PREFIX_ROOTS, Limits
    from venom_replay.replay.explorer import explore as run_explore
    from venom_replay.replay.http_client import Target
    from venom_replay.replay.report_json import write_reports
    from venom_replay.replay.user_invariants import close_handles

    console = Console(stderr=True)
    Target.parse(target)  # a bad URL is a one-line error before anything is installed
    if report_dir.exists() and not report_dir.is_dir():
        raise ConfigError(f"--report {report_dir}: exists and is not a directory")
    config = load_config(config_path)
    section = {**EXPLORE_DEFAULTS, **config.section("explore")}
    strategy = strategy or section["strategy"]
    if strategy not in ("bfs", "dfs", "coverage"):
        raise ConfigError(f"{config.path}: [explore] strategy {strategy!r}: choose bfs, dfs or coverage")
    limits = Limits(depth=int(depth or section["depth"]), max_transitions=int(max_transitions or section["max_transitions"]),
                    time_limit=time_limit if time_limit is not None else section["time_limit"],
                    prefix_depth=int(prefix_depth or section["prefix_depth"] or DEFAULT_PREFIX_DEPTH))

    if prefix_roots is None:
        prefix_roots = DEFAULT_PREFIX_ROOTS if section["prefix_roots"] is None else int(section["prefix_roots"])

    tset = infer_templates(recording, config)
    if not tset.templates:
        raise VenomError(f"{recording}: no replayable calls in this recording")
    checkers, notes = build_checkers(tset, recording=recording, config=config, invariants=invariants, learned=not no_learned)
    if not dbs:
        console.print("[yellow]warning:[/] no --db given: nothing will be rolled back; the API keeps every write the exploration makes")
    adapters, handles = open_databases(dbs)
    try:
        with Live(console=console, transient=True, refresh_per_second=4) as live:
            def progress(stats: Any) -> None:
                live.update(_stats_table(stats))

            result = run_explore(tset, target, adapters, strategy=strategy, limits=limits, checkers=checkers,
                                 progress=progress, databases=handles, swap_identities=swap_identities, timeout=timeout,
                                 prefix_roots=prefix_roots)
    finally:
        close_handles(handles)
        if adapters is not None:
            adapters.close()
    result.warnings[:0] = notes
    result.databases = list(dbs)
    report = write_reports(result, report_dir)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    print_summary(console, report, report_dir)
    if result.interrupted:
        console.print("[yellow]interrupted[/]: the databases were restored; reports hold what was found so far")
        sys.exit(130)
    if result.stopped == "target-down":
        reason = next((w for w in result.warnings if "unreachable" in w or "timed out" in w), "no answer")
        click.echo(f"error: the target {target} stopped answering; the run ended (databases restored): {reason}", err=True)
        sys.exit(2)
    if result.db_restored is False:
        console.print("[red]error:[/] the databases' content differs from before the run; see `venom-replay db check`")
    sys.exit(1 if report["findings"] else 0)
