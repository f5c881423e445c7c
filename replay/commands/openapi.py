"""`venom-replay openapi`: an OpenAPI 3.1 document learned from a recording."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from venom_replay.proxy.config import load_config
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.recording import read_recording


@click.command(
    epilog="""\b
Examples:
  venom-replay openapi shop.vrec -o openapi.yaml
  venom-replay openapi shop.vrec -o openapi.json --title "Shop API"
  schemathesis run openapi.yaml --url http://127.0.0.1:8000   # a peer tool takes it from there
"""
)
@click.argument("recording", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Write the document here: .yaml/.yml writes YAML, .json writes JSON.")
@click.option("--title", default="", help="The document's title (default: names the recording).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="venom.toml to use (default: the nearest one).")
@click.option("--host", metavar="HOST",
              help="Learn from this recorded host only (host, host:port or URL), when the recording holds several.")
def openapi(recording: Path, output: Path, title: str, config_path: Path | None, host: str | None) -> None:
    """Write an OpenAPI 3.1 document learned from RECORDING (a .vrec file).

    Paths and parameters come from the action templates; request and response schemas from the
    recorded bodies (a property is required only where every recorded object, and enough of them,
    had it; enums only for small sets of server states); every status code seen; examples with
    secrets masked; the security schemes the calls used; and `links` from the value bindings:
    which answer's field feeds which request's parameter.
    """
    from venom_replay.replay.openapi import build_document, write_document
    from venom_replay.replay.openapi.writer import format_for

    format_for(output)  # an unknown extension fails before the work
    config = load_config(config_path).with_host(host)
    err = Console(stderr=True, highlight=False)
    tset = infer_templates(str(recording), config)
    for warning in tset.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    document = build_document(tset, read_recording(recording).exchanges, title=title)
    fmt = write_document(document, output)
    operations = sum(len(ops) for ops in document["paths"].values())
    links = sum(len(answer.get("links", {})) for ops in document["paths"].values()
                for op in ops.values() for answer in op["responses"].values())
    err.print(f"wrote {escape(str(output))} ({fmt}): {len(document['paths'])} paths, {operations} operations, {links} links")
