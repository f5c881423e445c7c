"""`venom-replay record`: a recording proxy in front of an API (or a forward proxy).

With ``--db URL`` (repeatable) the databases' content is saved beside the recording first, before
the proxy listens, so explore can start where the recording started (replay/start_state.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from venom_replay.proxy.errors import ConfigError, VenomError

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
  venom-replay record --target http://127.0.0.1:8000 --out shop.vrec --db postgresql://app@127.0.0.1/shop
      # saves the database's content first (shop.vrec.start): explore starts from it
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
@click.option("--db", "dbs", multiple=True, metavar="URL",
              help="Database the API uses (postgresql://, mysql://, sqlite:///, redis://); repeat for several. Its "
                   "content is saved to OUT.start before the first request, so explore starts where the recording "
                   "started. Reads only; nothing is installed.")
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
    dbs: tuple[str, ...],
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
    settings.validate()  # a bad option is one line before any database is read
    saved = _save_start_state(Path(out), dbs, append=append)

    def listening(addrs: list[str]) -> None:
        where = ", ".join(f"http://{a}" for a in addrs)
        via = f"-> {settings.target}" if mode == "reverse" else "(forward proxy: set HTTP_PROXY to it)"
        click.echo(f"recording on {where} {via} into {out}; Ctrl-C to stop", nl=True)
        sys.stdout.flush()

    def proxy_error(line: str) -> None:
        click.echo(f"proxy: {line}", err=True)

    try:
        summary = run_recorder(settings, on_listening=listening, on_error=proxy_error)
    except BaseException:
        if saved is not None and not Path(out).exists():  # no recording came of it: its start state goes too
            saved.unlink(missing_ok=True)
        raise
    notes = summary["notes"]
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary["note_kinds"].items()))
    click.echo(
        f"recorded {_count(summary['exchanges'], 'exchange')} in {_count(summary['sessions'], 'session')} "
        f"({summary['errors']} errors, {notes} skipped notes{': ' + kinds if kinds else ''}) to {summary['file']}"
    )


def _save_start_state(out: Path, dbs: Sequence[str], *, append: bool) -> Path | None:
    """Save the databases' content beside ``out`` (before the proxy listens); the file made, if any.
    With --append an existing start state is kept: it is where the whole recording started."""
    from venom_replay.replay.start_state import read_start_state, save_start_state, start_state_path

    where = start_state_path(out)
    if not dbs:
        if where.exists() and not out.exists():
            raise VenomError(f"{where} exists but {out} does not: it would be taken as the new recording's start"
                             " state; remove it, or record with --db to save a new one")
        return None
    if out.exists():
        if not append:
            raise VenomError(f"{out}: file exists; choose another --out or pass --append to add to it")
        existing = read_start_state(out)
        if existing is None:
            raise VenomError(f"{out} was recorded without --db: its start state is unknown, and the content now is"
                             " not where it started; drop --db, or record into a new file")
        click.echo(f"keeping the start state in {where} ({existing.describe()})")
        return None
    path, entries = save_start_state(out, dbs)
    click.echo(f"saved the start state to {path}: {', '.join(e.describe() for e in entries)}")
    return path
