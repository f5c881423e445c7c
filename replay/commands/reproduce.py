"""`venom-replay reproduce`: replay one finding step by step, or emit it as a pytest file or curl script."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.panel import Panel

from venom_replay.proxy.errors import ConfigError


def _exchange_text(step) -> str:  # noqa: ANN001 - a StepResult
    from venom_replay.proxy.redact import redact_request, redact_response

    req = redact_request(step.request)
    lines = [f"{req.method} {req.url}"] + [f"{k}: {v}" for k, v in req.headers]
    if req.body:
        lines += ["", req.body[:2000].decode("utf-8", "replace")]
    lines.append("")
    if step.response is None:
        lines.append(f"(no response: {step.error})")
    else:
        resp = redact_response(step.response)
        lines.append(f"{resp.status} {resp.reason}")
        if resp.body:
            lines.append(resp.body[:2000].decode("utf-8", "replace"))
    return "\n".join(lines)


@click.command(
    epilog="""\b
Examples:
  venom-replay reproduce out/report.json 1 --db postgresql://app@127.0.0.1/shop
  venom-replay reproduce out/report.json 1 --emit pytest -o test_double_refund.py
  venom-replay reproduce out/report.json 2 --emit curl -o finding2.sh
"""
)
@click.argument("report", type=click.Path(path_type=Path))
@click.argument("number", type=click.IntRange(1))
@click.option("--target", metavar="URL", help="API to replay against (default: the one in the report).")
@click.option("--db", "dbs", multiple=True, metavar="URL", help="Database to restore afterwards; repeat for several.")
@click.option("--emit", type=click.Choice(["pytest", "curl"]), help="Write a pytest file or a curl script instead of replaying.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Where --emit writes (default: stdout).")
@click.option("--no-learned", is_flag=True, help="Do not check learned invariants while replaying.")
@click.option("--auth", "auth", multiple=True, metavar="IDENTITY=CREDENTIAL",
              help="The target's credentials for a recorded identity, as for explore; repeat for several.")
def reproduce(report: Path, number: int, target: str | None, dbs: tuple[str, ...], emit: str | None,
              output: Path | None, no_learned: bool, auth: tuple[str, ...] = ()) -> None:
    """Replay finding NUMBER of REPORT (report.json, or the report directory) against the live API.

    Each request and response is shown (secrets masked); the databases given with --db are restored
    afterwards. Exit code 1 when the finding reproduced, 0 when it did not.
    """
    from venom_replay.proxy.config import load_config
    from venom_replay.proxy.infer.inference import infer_templates
    from venom_replay.replay.auth import command_auth, parse_auth_options
    from venom_replay.replay.http_client import Target
    from venom_replay.replay.reproduction import emit_curl, emit_pytest, load_finding, replay_finding, sequence_of
    from venom_replay.replay.start_state import read_start_state

    data, finding = load_finding(report, number)
    recording = data.get("recording") or ""
    if not Path(recording).is_file():
        raise ConfigError(f"{report}: the recording {recording!r} it was made from is not there any more")
    if emit is not None:
        if emit == "pytest":
            text = emit_pytest(data, finding)
        else:
            host_config = load_config().with_host(None, target=target or data.get("target")).with_openapi(data.get("openapi"))
            text = emit_curl(data, finding, infer_templates(recording, host_config))
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            if emit == "curl":
                output.chmod(0o700)
            click.echo(f"wrote {output}", err=True)
        return
    target = target or data.get("target")
    if not target:
        raise ConfigError(f"{report}: no target in the report; pass --target URL")
    Target.parse(target)
    console = Console()
    if not dbs:
        console.print("[yellow]warning:[/] no --db given: the writes of this replay stay in the database")
    console.print(f"[bold]finding {number}[/] ({finding['checker']}): {finding['message']}", highlight=False)
    start = read_start_state(recording) if dbs else None
    if start is not None:
        console.print(f"from the recording's start state ({start.describe()}); your own content is put back afterwards",
                      highlight=False)

    def show(i: int, step) -> None:  # noqa: ANN001
        status = step.response.status if step.response is not None else "error"
        console.print(Panel(_exchange_text(step), title=f"{i}. {step.template.label} -> {status}", expand=False), highlight=False)

    with command_auth(parse_auth_options(auth)):
        result = replay_finding(recording, sequence_of(finding), finding["signature"], target=target, databases=dbs,
                                learned=not no_learned, on_step=show, openapi=data.get("openapi"))
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if result.db_restored is not None:
        console.print(f"databases restored: {'[green]yes[/]' if result.db_restored else '[red]NO[/]'}")
    if result.reproduced:
        match = next(v for v in result.violations if v.signature == finding["signature"])
        console.print(f"[red]reproduced:[/] {match.message}", highlight=False)
        sys.exit(1)
    console.print("[green]did not reproduce[/] (fixed, or the state differs from the explored one)")
    sys.exit(0)
