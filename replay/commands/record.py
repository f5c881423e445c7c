"""`venom-replay record`: a recording proxy in front of an API (or a forward proxy)."""

from __future__ import annotations

import sys

import click

from venom_replay.proxy.errors import ConfigError

SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_body_cap(text: str) -> int:
    """'1m', '512k', '4096', 'none' -> bytes (-1 means no cap)."""
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    if value in ("none", "off", "-1", "unlimited"):
        return -1
    try:
        if value and value[-1] in SIZE_UNITS:
            return int(float(value[:-1]) * SIZE_UNITS[value[-1]])
        return int(value)
    except ValueError:
        raise ConfigError(f"--body-cap {text!r}: expected a size such as 65536, 512k, 1m or 'none'") from None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@click.command(
    epilog="""\b
Examples:
  venom-replay record --target http://127.0.0.1:8000 --listen-port 8080 --out shop.vrec
  venom-replay record --mode regular --listen-port 8080 --out shop.vrec
      # then: HTTP_PROXY=http://127.0.0.1:8080 your-client ...
  venom-replay record --target http://127.0.0.1:8000 --session-by auth --out shop.vrec
"""
)
@click.option("--target", metavar="URL", help="The API to record in front of (reverse mode), e.g. http://127.0.0.1:8000.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Recording file to write (.vrec); never overwritten.")
@click.option("--listen-port", "-p", type=int, default=8080, show_default=True, help="Port the proxy listens on (0 picks a free one).")
@click.option("--listen-host", default="127.0.0.1", show_default=True, help="Address the proxy listens on.")
@click.option(
    "--mode",
    type=click.Choice(["reverse", "regular"]),
    default="reverse",
    show_default=True,
    help="reverse: clients call the proxy as if it were the API. regular: a forward proxy for HTTP_PROXY clients.",
)
@click.option(
    "--session-by",
    type=click.Choice(["connection", "header", "auth"]),
    default="connection",
    show_default=True,
    help="Group requests into sessions by client connection; by the X-Venom-Session header only (unlabelled "
    "requests share one session); or by credential (Authorization / login cookie, else the connection). "
    "An X-Venom-Session header always wins and is stripped before the target sees it.",
)
@click.option("--body-cap", default="1m", show_default=True, help="Bytes kept per body (512k, 1m, none); longer bodies are cut and marked.")
@click.option("--append", is_flag=True, help="Add to an existing recording instead of refusing it.")
@click.option("--fsync", is_flag=True, help="fsync after every exchange (survives power loss; slower).")
@click.option("--insecure", is_flag=True, help="Do not verify the target's TLS certificate.")
def record(
    target: str | None,
    out: str,
    listen_port: int,
    listen_host: str,
    mode: str,
    session_by: str,
    body_cap: str,
    append: bool,
    fsync: bool,
    insecure: bool,
) -> None:
    """Record HTTP traffic through a proxy until Ctrl-C (SIGINT) or SIGTERM.

    Each finished request/response is appended to OUT at once, so a killed proxy loses at most
    the exchange in flight. Secrets stay in the file (replay needs them); the file is mode 0600.
    """
    from venom_replay.proxy.record_proxy import RecordSettings, run_recorder

    settings = RecordSettings(
        out=out,
        target=target.rstrip("/") if target else None,
        mode=mode,
        listen_host=listen_host,
        listen_port=listen_port,
        session_by=session_by,
        body_cap=parse_body_cap(body_cap),
        append=append,
        fsync=fsync,
        insecure=insecure,
    )

    def listening(addrs: list[str]) -> None:
        where = ", ".join(f"http://{a}" for a in addrs)
        via = f"-> {settings.target}" if mode == "reverse" else "(forward proxy: set HTTP_PROXY to it)"
        click.echo(f"recording on {where} {via} into {out}; Ctrl-C to stop", nl=True)
        sys.stdout.flush()

    def proxy_error(line: str) -> None:
        click.echo(f"proxy: {line}", err=True)

    summary = run_recorder(settings, on_listening=listening, on_error=proxy_error)
    notes = summary["notes"]
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary["note_kinds"].items()))
    click.echo(
        f"recorded {_count(summary['exchanges'], 'exchange')} in {_count(summary['sessions'], 'session')} "
        f"({summary['errors']} errors, {notes} skipped notes{': ' + kinds if kinds else ''}) to {summary['file']}"
    )
