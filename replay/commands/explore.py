"""`venom-replay explore`: run unseen orderings against the live API and report sequence bugs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from venom_replay.proxy.errors import ConfigError, VenomError
from venom_replay.replay.options import DEFAULTS, STRATEGIES


def _stats_table(stats: Any) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_row(f"[bold]{stats.phase}[/]", f"states [cyan]{stats.states}[/]", f"transitions [cyan]{stats.transitions}[/]",
                  f"findings [{'red' if stats.findings else 'green'}]{stats.findings}[/]", f"{stats.rate:.1f}/s",
                  f"{stats.elapsed:.1f} s")
    if stats.workers:
        table.add_row("", *(f"w{i + 1} {n} ({rate:.1f}/s)" for i, n, rate in stats.workers[:6]))
    return table


def print_summary(console: Console, report: dict[str, Any], out_dir: Path, *, warnings_to: Console | None = None) -> None:
    """The run in a few lines and the findings table on ``console``; the report's warnings on
    ``warnings_to`` (default: the same console)."""
    findings = report["findings"]
    restored = {True: "[green]yes[/]", False: "[red]NO[/]", None: "[yellow]no database given[/]"}[report["db_restored"]]
    from venom_replay.replay.report.json_report import agreement_line

    console.print(f"[bold]{report['states']}[/] states, [bold]{report['transitions']}[/] transitions in "
                  f"{report['elapsed_seconds']} s ({report['stopped']}); databases restored: {restored}")
    agreement = agreement_line(report.get("replay_agreement"))
    if agreement:
        console.print(agreement, highlight=False)
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
        (warnings_to or console).print(f"[yellow]warning:[/] {w}", highlight=False)
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
@click.option("--target", metavar="URL", help="Base URL of the live API to replay against (not needed with --api-cmd).")
@click.option("--db", "dbs", multiple=True, metavar="URL",
              help="Database the API uses (postgresql://, mysql://, sqlite:///, redis://); repeat for several. "
                   "Restored between branches and at the end.")
@click.option("--report", "report_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for report.json, report.html, junit.xml and summary.md.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default=None,
              help=f"bfs: shortest reproductions; dfs: deep first; coverage: unseen pairs and new statuses first "
                   f"(default {DEFAULTS.strategy}).")
@click.option("--depth", type=click.IntRange(1, 12), default=None, help=f"Longest sequence to run (default {DEFAULTS.depth}).")
@click.option("--max-transitions", type=click.IntRange(1), default=None,
              help=f"Stop after this many steps (default {DEFAULTS.max_transitions}).")
@click.option("--time-limit", type=click.FloatRange(0.1), default=None, metavar="SECONDS",
              help="Seconds for the whole run, which ends within about one --timeout of it (default: no limit). "
                   "The replay of the recording may use up to half; the search stops early enough to leave a "
                   "quarter of the rest (at least twice what replaying each finding once takes) for shrinking "
                   "and confirming findings; a finding not shrunk or confirmed in time is reported as found, "
                   "with a note.")
@click.option("--max-recorded-steps", type=click.IntRange(0), default=None, metavar="N",
              help="Replay at most N recorded steps before the search (default "
                   f"{DEFAULTS.max_recorded_steps}: the whole recording, as a rule).")
@click.option("--prefix-roots", type=click.IntRange(0), default=None, metavar="N",
              help="Also search from up to N states that the replay of the recording reaches (after log-in, order, pay...), "
                   f"so long set-ups cost no depth; 0 turns it off (default {DEFAULTS.prefix_roots}).")
@click.option("--prefix-depth", type=click.IntRange(1, 12), default=None, metavar="N",
              help=f"Longest explored sequence after a recorded prefix (default {DEFAULTS.prefix_depth}: every unseen next step).")
@click.option("--swap-identities", is_flag=True, help="Also run calls as each other recorded user (login as B, act on A's things).")
@click.option("--invariants", type=click.Path(dir_okay=False, path_type=Path), help="Python file with invariant_* functions.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="venom.toml to use (default: the nearest one).")
@click.option("--no-learned", is_flag=True, help="Do not check the invariants learned from the recording.")
@click.option("--timeout", type=click.FloatRange(0.1), default=None,
              help=f"Seconds to wait for each reply (default {DEFAULTS.timeout:g}).")
@click.option("--min-agreement", type=click.FloatRange(0, 1), default=None, metavar="SHARE",
              help="Share of the recorded steps that must answer with their recorded status class when the recording "
                   "is replayed first; below it the target is not the recorded API: nothing is explored and the exit "
                   f"code is 2 (default {DEFAULTS.min_agreement:g}; 0 turns the check off).")
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout and nothing else (the summary and progress go to stderr).")
@click.option("--mutations", "mutations", type=click.IntRange(0), default=None, metavar="N",
              help="After the search, send up to N value mutations per call variant (dropped fields, nulls, wrong types, "
                   "boundaries, unknown ids, echoed fields), each from a state the search reached, rolled back "
                   "(default: [mutations] per_template, else 12).")
@click.option("--no-mutations", is_flag=True, help="Do not send value mutations (the same as --mutations 0).")
@click.option("--strict-domains", is_flag=True,
              help="Also report, at low severity, a mutated call that succeeded with a value outside what the recording shows.")
@click.option("--auth", "auth", multiple=True, metavar="IDENTITY=CREDENTIAL",
              help="The target's credentials for a recorded identity (named as `show` lists them): basic:USER:PASS, "
                   "bearer:TOKEN or header:NAME:VALUE; repeat for several (on top of the [auth] config section).")
@click.option("--host", metavar="HOST", help="With a recording of several hosts: replay this one's calls only (default: the --target's host if recorded, else the one with most exchanges).")
@click.option("--openapi", "openapi", metavar="SPEC", type=click.Path(exists=True, dir_okay=False),
              help="An OpenAPI document (YAML or JSON): spec parameter names, type checks, and templates (from spec) "
                   "for operations the recording never called.")
@click.option("--ca-cert", "ca_cert", metavar="FILE", help="A CA bundle (PEM) to trust for an HTTPS --target.")
@click.option("--insecure", is_flag=True, help="Do not verify an HTTPS --target's certificate (a self-signed server).")
@click.option("--workers", type=click.IntRange(1, 256), default=None, metavar="N",
              help="Explore with N workers, each on its own replica of the API and its databases (--api-cmd or "
                   "--replica); a complete bfs search gives the same states and findings as one worker (default 1).")
@click.option("--api-cmd", "api_cmd", metavar="CMD",
              help="Start one API per worker with this shell command on a copy of each --db: {port} (a free port; the "
                   "target is http://127.0.0.1:{port}), {db} {db2}... (the copies' URLs), {db_path} (the SQLite copy's "
                   "file). Copies and processes are removed at the end.")
@click.option("--api-ready", "api_ready", default=None, metavar="PATH",
              help="With --api-cmd: a started API is ready when GET PATH gets any HTTP answer (default /).")
@click.option("--replica", "replicas", multiple=True, metavar="'TARGET DB_URL...'",
              help="A replica you run yourself (a compose project, a staging slot): its target URL and its database "
                   "URLs in one quoted argument; repeat for each worker.")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Run the workers as Ray actors on this cluster (auto: the one `ray start` made here); needs "
                   "`pip install venom-replay[ray]`.")
def explore(recording: Path, target: str, dbs: tuple[str, ...], report_dir: Path, strategy: str | None, depth: int | None,
            max_transitions: int | None, time_limit: float | None, max_recorded_steps: int | None,
            prefix_roots: int | None, prefix_depth: int | None,
            swap_identities: bool, invariants: Path | None,
            config_path: Path | None, no_learned: bool, timeout: float | None, min_agreement: float | None, as_json: bool, host: str | None = None,
            mutations: int | None = None, no_mutations: bool = False, strict_domains: bool = False,
            auth: tuple[str, ...] = (), openapi: str | None = None, ca_cert: str | None = None,
            insecure: bool = False, workers: int | None = None, api_cmd: str | None = None, api_ready: str | None = None,
            replicas: tuple[str, ...] = (), ray_address: str | None = None) -> None:
    """Replay orderings of RECORDING's calls that were never recorded against the live API.

    Between branches the databases given with --db are rolled back; after every step the built-in
    checkers (server errors, response shape, use after delete, deleted but listed, repeated
    success, access after a revocation, access inherited by a re-created account, a child used
    while its parent is deleted, error answers that leak SQL or secrets, refused calls that still
    wrote), the learned invariants and yours are checked. After the search each call is sent once
    more with changed values (fields left out, null, wrong types, boundaries, unknown ids; see
    --mutations). Each bug is reported once, with the shortest sequence that reproduces it.

    \b
    Exit codes:
      0  no findings
      1  findings
      2  usage or set-up error, or a target that did not behave like the recording (fewer than
         --min-agreement of the recorded steps answered with their recorded status class), stopped
         answering, the connection to a database lost mid-run, or a user invariant that could not
         run (reports are written when the run got that far)
      3  the databases were not restored to their content before the run (wins over 1 and 2)
    """
    import json

    from venom_replay.proxy.config import load_config
    from venom_replay.replay.auth import command_auth, parse_auth_options
    from venom_replay.replay.http_client import Target
    from venom_replay.replay.options import ExploreOptions
    from venom_replay.replay.report import write_reports
    from venom_replay.replay.report.outcome import EXIT_INTERRUPTED, outcome
    from venom_replay.replay.scale.session import ScaleOptions
    from venom_replay.replay.session import load_recording_once, run_exploration

    console = Console(stderr=True)  # progress, warnings, errors
    summary = console if as_json else Console()  # stdout: the summary, or report.json alone with --json
    if target is not None:
        Target.parse(target)  # a bad URL is a one-line error before anything is installed
    if report_dir.exists() and not report_dir.is_dir():
        raise ConfigError(f"--report {report_dir}: exists and is not a directory")
    config = load_config(config_path).with_host(host, target=target).with_openapi(openapi)
    options = ExploreOptions.from_config(config).with_overrides(
        strategy=strategy, depth=depth, max_transitions=max_transitions, time_limit=time_limit,
        max_recorded_steps=max_recorded_steps, prefix_roots=prefix_roots,
        prefix_depth=prefix_depth, timeout=timeout, min_agreement=min_agreement, swap_identities=swap_identities or None,
        learned=False if no_learned else None, mutations=0 if no_mutations else mutations,
        strict_domains=strict_domains or None, ca_cert=ca_cert, insecure=insecure or None, workers=workers,
        api_cmd=api_cmd, api_ready=api_ready)
    scale = ScaleOptions(workers=options.workers, api_cmd=options.api_cmd, api_ready=options.api_ready,
                         replicas=replicas, ray=ray_address)
    scale.check(target, dbs)

    with command_auth(parse_auth_options(auth)):
        loaded = load_recording_once(recording, config)
    if not loaded.templates.templates:
        raise VenomError(f"{recording}: no replayable calls in this recording")
    if not dbs and not replicas:
        console.print("[yellow]warning:[/] no --db given: nothing will be rolled back; the API keeps every write the exploration makes")
    with Live(console=console, transient=True, refresh_per_second=4) as live:
        def progress(stats: Any) -> None:
            live.update(_stats_table(stats))

        if scale.parallel:
            from venom_replay.replay.scale.session import run_parallel

            result = run_parallel(loaded, dbs, options, scale, invariants=invariants, auth=auth, progress=progress)
        else:
            result = run_exploration(loaded, target, dbs, options, invariants=invariants, progress=progress)
    report = write_reports(result, report_dir)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    print_summary(summary, report, report_dir, warnings_to=console)
    verdict = outcome(report)
    for line in verdict.problems:
        click.echo(f"error: {line}", err=True)
    if verdict.code == EXIT_INTERRUPTED:
        console.print("[yellow]interrupted[/]: the databases were restored; reports hold what was found so far")
    sys.exit(verdict.code)
