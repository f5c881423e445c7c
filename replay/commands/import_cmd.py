"""`venom-replay import`: HAR files and mitmproxy flow dumps into a recording."""

from __future__ import annotations

import click

from venom_replay.replay.commands.record import parse_body_cap


@click.command(
    "import",
    epilog="""\b
Examples:
  venom-replay import session.har -o shop.vrec           # browser devtools or Playwright HAR
  venom-replay import flows.mitm -o shop.vrec            # made with `mitmdump -w flows.mitm`
  venom-replay import shop.vrec -o shared.vrec --redact  # a copy with secrets masked, to share
""",
)
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Recording to write (.vrec); never overwritten.")
@click.option("--kind", type=click.Choice(["har", "mitmproxy", "vrec"]), help="Input kind; detected from the content when left out.")
@click.option("--redact", is_flag=True, help="Mask secrets (Authorization, cookies, password/token fields) in the output.")
@click.option("--body-cap", default="1m", show_default=True, help="Bytes kept per body (512k, 1m, none).")
def import_cmd(file: str, out: str, kind: str | None, redact: bool, body_cap: str) -> None:
    """Convert a HAR file or a mitmproxy flow dump (or a recording, with --redact) into a recording.

    HAR pages become sessions; flow dumps keep one session per client connection. Entries that
    cannot be used are skipped and counted, never silently dropped.
    """
    from venom_replay.proxy.importers import import_file

    result = import_file(file, out, kind=kind, redact=redact, body_cap=parse_body_cap(body_cap))
    skipped = f", skipped {len(result.skipped)} ({'; '.join(result.skipped[:3])}{'; ...' if len(result.skipped) > 3 else ''})" if result.skipped else ""
    click.echo(
        f"imported {result.exchanges} exchanges in {len(result.sessions)} sessions from {result.kind} {file} "
        f"to {out}{' (secrets masked)' if redact else ''}; {result.notes} notes{skipped}"
    )
