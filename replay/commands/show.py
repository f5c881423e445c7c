"""`venom-replay show`: what a recording holds, with secrets masked."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.config import load_config
from venom_replay.proxy.infer.inference import choose_host, host_key
from venom_replay.proxy.recording import Exchange, Recording, read_recording
from venom_replay.proxy.redact import redact_exchange, redact_path
from venom_replay.proxy.summary import summarize

BODY_PREVIEW = 2000


@click.command(
    epilog="""\b
Examples:
  venom-replay show shop.vrec
  venom-replay show shop.vrec --json | jq .endpoints
  venom-replay show shop.vrec --exchanges --limit 20
  venom-replay show shop.vrec --exchange 7          # one exchange, secrets masked
  venom-replay show shop.vrec --export-redacted shop.redacted.vrec
  venom-replay show forward.vrec --host api.example.com   # which host's calls become templates
"""
)
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
@click.option("--exchanges", "list_exchanges", is_flag=True, help="Also list the exchanges (method, path, status, session).")
@click.option("--limit", type=int, default=50, show_default=True, help="How many exchanges --exchanges lists.")
@click.option("--exchange", "seq", type=int, help="Print one exchange in full (headers and bodies, secrets masked).")
@click.option(
    "--export-redacted",
    type=click.Path(dir_okay=False),
    metavar="OUT.vrec",
    help="Write a copy with secrets masked (Authorization, cookies, password/token fields), safe to share.",
)
@click.option("--host", metavar="HOST",
              help="With a recording of several hosts: the host whose calls templates, graph and explore use "
                   "(host, host:port or URL; default: the one with most exchanges).")
def show(file: str, as_json: bool, list_exchanges: bool, limit: int, seq: int | None, export_redacted: str | None,
         host: str | None) -> None:
    """Summarise a recording: exchanges, sessions, endpoints, status codes, errors, notes.

    A recording whose last record was cut off (a proxy killed mid-write) is summarised from its
    complete records, and the torn tail is reported with its byte offset. A recording of several
    hosts (a forward proxy) lists them, and which one's calls become templates: the others' are never
    replayed.
    """
    rec = read_recording(file)
    summary = summarize(rec)
    summary["start_state"] = _start_state(file)
    summary["template_host"] = _template_host(rec, host)
    summary["identities"] = _identities(rec)
    if export_redacted:
        from venom_replay.proxy.importers import write_exchanges

        written = write_exchanges(export_redacted, rec.exchanges, notes=rec.notes, target=rec.header.target, redact=True, source=file)
        summary["exported"] = {"file": export_redacted, "exchanges": written, "redacted": True}
    if as_json:
        if seq is not None:
            summary["exchange"] = _exchange_json(_find(rec.exchanges, seq, file))
        click.echo(json.dumps(summary, indent=2))
        return
    console = Console(highlight=False, soft_wrap=False, width=max(100, Console().width))
    _print_summary(console, summary)
    if list_exchanges:
        _print_exchanges(console, rec.exchanges[:limit], len(rec.exchanges), with_host=len(summary["hosts"]) > 1)
    if seq is not None:
        _print_exchange(console, _find(rec.exchanges, seq, file))
    if export_redacted:
        console.print(escape(f"wrote {summary['exported']['exchanges']} exchanges with secrets masked to {export_redacted}"))


def _start_state(file: str) -> dict | None:
    """Where the databases' content before the first exchange is (``record --db``), and for which."""
    from venom_replay.replay.start_state import read_start_state

    state = read_start_state(file)
    if state is None:
        return None
    return {"file": str(state.path), "created": state.created, "summary": state.describe(),
            "databases": [{"kind": e.identity.kind, "name": e.identity.name, "address": e.identity.address,
                           "url": e.url, "content": e.stats.exported()} for e in state.entries]}


def _identities(rec: Recording) -> list[dict]:
    """The recorded callers by the names `--auth` and `[auth]` map (no credential shown)."""
    from venom_replay.replay.auth import recorded_identities

    return [ident.public() for ident in recorded_identities(rec.exchanges)]


def _template_host(rec: Recording, host: str | None) -> dict | None:
    """The host whose calls inference keeps, as templates, graph and explore choose it (None: no
    answered exchange); the config is read only for its [templates] host and ignore_hosts."""
    choice = choose_host(rec.exchanges, load_config().with_host(host).inference)
    if choice is None:
        return None
    return {"host": choice.host, "exchanges": choice.count, "reason": choice.reason, "not_replayed": choice.left_out}


def _template_host_line(choice: dict) -> str:
    why = {"chosen": "chosen", "most": "the most", "target": "the target", "only": "the only host"}[choice["reason"]]
    others = ", ".join(f"{h} ({n})" for h, n in choice["not_replayed"].items())
    return (f"hosts: templates are learned from {choice['host']} ({choice['exchanges']} answered exchanges, {why}); "
            f"never replayed: {others} (--host HOST picks another)")


def _start_state_line(start: dict | None) -> str:
    if start is None:
        return ("start state: unknown (recorded without --db): explore replays the recorded calls against the"
                " databases' present content")
    saved = datetime.fromtimestamp(start["created"]).strftime("%Y-%m-%d %H:%M:%S")
    return f"start state: {start['file']} (saved {saved}): {start['summary']}"


def _find(exchanges: list[Exchange], seq: int, file: str) -> Exchange:
    for ex in exchanges:
        if ex.seq == seq:
            return ex
    raise VenomError(f"{file}: no exchange with sequence number {seq}")


def _print_summary(console: Console, s: dict) -> None:
    created = datetime.fromtimestamp(s["created"]).strftime("%Y-%m-%d %H:%M:%S") if s["created"] else "?"
    console.print(f"[bold]{escape(s['file'])}[/]  recording v{s['format_version']}, created {created}, target {escape(s['target'] or '-')}")
    console.print(
        f"[bold]{s['exchanges']}[/] exchanges in [bold]{s['sessions']}[/] sessions over {s['duration_s']:.1f} s; "
        f"{s['errors']} errors, {s['notes']} skipped notes, {s['truncated_bodies']} truncated bodies"
    )
    console.print(escape(_start_state_line(s["start_state"])))
    if s["template_host"] is not None and s["template_host"]["not_replayed"]:
        console.print(f"[yellow]{escape(_template_host_line(s['template_host']))}[/]")
    if s["torn_tail"]:
        console.print(
            f"[yellow]torn tail at byte {s['torn_offset']} of {s['file_size']}: the last record is incomplete "
            f"(the recorder was killed mid-write); the {s['complete_records']} complete records are summarised[/]"
        )
    if s["endpoints"]:
        table = Table(title="Endpoints (method and raw path)", title_justify="left")
        table.add_column("method")
        table.add_column("path", overflow="fold")
        table.add_column("count", justify="right")
        table.add_column("statuses")
        for ep in s["endpoints"]:
            table.add_row(escape(ep["method"]), escape(ep["path"]), str(ep["count"]), ", ".join(f"{k}×{v}" for k, v in ep["statuses"].items()))
        console.print(table)
    if s["identities"]:
        kinds: dict[str, int] = {}
        for i in s["identities"]:
            kinds[i["kind"]] = kinds.get(i["kind"], 0) + 1
        names = ", ".join(i["name"] for i in s["identities"])
        console.print(escape(f"identities (for --auth NAME=...): {names} ({', '.join(f'{k}: {n}' for k, n in kinds.items())})"))
    if s["statuses"]:
        console.print("status codes: " + ", ".join(f"{k}: {v}" for k, v in s["statuses"].items()))
    if s["busiest_sessions"]:
        shown = ", ".join(f"{b['session']} ({b['exchanges']})" for b in s["busiest_sessions"][:8])
        console.print(escape(f"sessions (busiest first): {shown}"))
    if s["error_samples"]:
        console.print("[red]errors:[/]")
        for e in s["error_samples"]:
            console.print(escape(f"  #{e['seq']} {e['method']} {e['path']} [{e['session']}]: {e['error']}"))
        if s["errors"] > len(s["error_samples"]):
            console.print(f"  ... and {s['errors'] - len(s['error_samples'])} more")
    if s["note_kinds"]:
        console.print("skipped (not recorded as exchanges): " + ", ".join(f"{k} {v}" for k, v in s["note_kinds"].items()))


def _print_exchanges(console: Console, exchanges: list[Exchange], total: int, *, with_host: bool = False) -> None:
    table = Table(title=f"Exchanges ({len(exchanges)} of {total})", title_justify="left")
    columns = ("seq", "session", *(("host",) if with_host else ()), "method", "path", "status", "ms", "req bytes", "resp bytes")
    for col in columns:
        table.add_column(col, justify="right" if col in ("seq", "ms", "req bytes", "resp bytes") else "left")
    for ex in exchanges:
        status = str(ex.response.status) if ex.response is not None else "[red]error[/]"
        query = "&".join(f"{k}={v}" for k, v in ex.request.query)
        path = redact_path(ex.request.path + (f"?{query}" if query else ""))
        table.add_row(
            str(ex.seq),
            escape(ex.session),
            *((escape(host_key(ex)),) if with_host else ()),
            escape(ex.request.method),
            escape(path),
            status,
            f"{(ex.ended - ex.started) * 1000:.1f}",
            str(ex.request.body_size),
            str(ex.response.body_size) if ex.response is not None else "-",
        )
    console.print(table)


def _body_text(body: bytes, size: int, truncated: bool) -> str:
    if not body:
        return "(empty)" if not truncated else f"(cut; {size} bytes not shown)"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"({size} bytes of binary data)"
    more = f"\n... ({size} bytes in all{', cut by the recorder' if truncated else ''})" if len(text) > BODY_PREVIEW or truncated else ""
    return text[:BODY_PREVIEW] + more


def _print_exchange(console: Console, ex: Exchange) -> None:
    red = redact_exchange(ex)
    req = red.request
    console.rule(escape(f"exchange #{ex.seq} [{ex.session}]"))
    query = "&".join(f"{k}={v}" for k, v in req.query)
    console.print(f"{req.method} {req.scheme}://{req.host}:{req.port}{req.path}{'?' + query if query else ''} {req.http_version}", markup=False, style="bold")
    for k, v in req.headers:
        console.print(f"{k}: {v}", markup=False)
    console.print(_body_text(req.body, req.body_size, req.body_truncated), markup=False)
    if red.response is not None:
        resp = red.response
        console.print(f"\n{resp.http_version} {resp.status} {resp.reason}", markup=False)
        for k, v in resp.headers:
            console.print(f"{k}: {v}", markup=False)
        console.print(_body_text(resp.body, resp.body_size, resp.body_truncated), markup=False)
    if ex.error:
        console.print(f"error: {ex.error}", markup=False, style="red")


def _exchange_json(ex: Exchange) -> dict:
    red = redact_exchange(ex)

    def body(b: bytes) -> str:
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(b)} bytes binary>"

    out = {
        "seq": red.seq,
        "session": red.session,
        "started": red.started,
        "ended": red.ended,
        "request": {
            "method": red.request.method,
            "url": red.request.url,
            "headers": red.request.headers,
            "body": body(red.request.body),
            "body_truncated": red.request.body_truncated,
        },
        "response": None,
        "error": red.error,
    }
    if red.response is not None:
        out["response"] = {
            "status": red.response.status,
            "headers": red.response.headers,
            "body": body(red.response.body),
            "body_truncated": red.response.body_truncated,
        }
    return out

