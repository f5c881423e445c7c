"""`venom-replay graph`: export the transition graph, or list the orderings never recorded."""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from pathlib import Path

import click
import networkx as nx
from rich.console import Console

from venom_replay.graph.export import export_graph, format_for, supported_extensions
from venom_replay.graph.transition import START, build_transition_graph
from venom_replay.graph.unseen import count_unseen, iter_unseen


@click.command(
    epilog="""\b
Examples:
  venom-replay graph shop.vrec -o shop.html          # interactive page, works offline
  venom-replay graph shop.vrec -o shop.graphml       # Gephi, yEd, Cytoscape
  venom-replay graph shop.vrec -o shop.dot           # Graphviz: dot -Tsvg shop.dot > shop.svg
  venom-replay graph shop.vrec --unseen --depth 3    # orderings the recording never showed
  venom-replay graph shop.vrec --unseen --depth 3 --limit 0 --json > unseen.json
"""
)
@click.argument("recording", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
    help=f"Write the graph here; the extension picks the format ({', '.join(supported_extensions())}).",
)
@click.option("--format", "fmt", metavar="FORMAT", help="Format to write instead of the one the extension names: graphml, dot, json, mmd, html.")
@click.option("--title", default="", help="Title shown in the export (default: the recording's name).")
@click.option("--unseen", is_flag=True, help="Count and list the dependency-respecting orderings no recorded session contains.")
@click.option("--depth", type=click.IntRange(1, 12), default=3, show_default=True, help="Longest ordering to consider with --unseen.")
@click.option("--limit", type=click.IntRange(0), default=20, show_default=True, help="How many orderings to list (0 lists all of them).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout and nothing else.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="venom.toml to use (default: the nearest one).")
@click.option("--host", metavar="HOST",
              help="Learn templates from this recorded host only (host, host:port or URL), when the recording "
                   "holds several (default: the one with most exchanges; `show` lists them).")
@click.option("--openapi", "openapi", metavar="SPEC", type=click.Path(exists=True, dir_okay=False),
              help="An OpenAPI document (YAML or JSON): spec parameter names, type checks, and templates (from spec) "
                   "for operations the recording never called.")
def graph(
    recording: Path,
    output: Path | None,
    fmt: str | None,
    title: str,
    unseen: bool,
    depth: int,
    limit: int,
    as_json: bool,
    config_path: Path | None,
    host: str | None,
    openapi: str | None = None,
) -> None:
    """Build the transition graph of RECORDING (a .vrec file) and export it or list unseen orderings.

    Nodes are the action templates learned from the recording plus a start node. Edges are
    "observed" (B directly followed A in a recorded session, with a count) and "dependency"
    (B consumes a value that A produces). An unseen ordering is a sequence of 1..DEPTH calls in
    which every call comes after a producer of each value it needs, and which no recorded session
    contains as consecutive calls.
    """
    # Reject a bad output name before the (possibly long) inference.
    if output is not None:
        format_for(output, fmt)
    from venom_replay.proxy.config import load_config
    from venom_replay.proxy.infer.inference import infer_templates

    err = Console(stderr=True)
    config = load_config(config_path).with_host(host).with_openapi(openapi)
    with err.status(f"learning templates from {recording}…"):
        tset = infer_templates(recording, config.inference)
        g = build_transition_graph(tset, title=title or f"transition graph of {recording.name}")
    for warning in tset.warnings:  # a damaged recording, a configured binding that names no template
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)

    if output is not None:
        with err.status(f"writing {output}…"):
            export_graph(g, output, fmt, title=g.graph["title"])
    if unseen:
        _report_unseen(g, depth, limit, as_json)
    elif as_json:
        click.echo(json.dumps(_summary(g, output)))
    else:
        _print_summary(g, output)


def _summary(g: nx.MultiDiGraph, output: Path | None) -> dict:
    kinds = Counter(kind for _, _, kind in g.edges(data="kind"))
    return {
        "templates": sum(1 for _, kind in g.nodes(data="kind") if kind == "template"),
        "sessions": len(g.graph.get("sessions", {})),
        "edges": dict(sorted(kinds.items())),
        "output": None if output is None else str(output),
    }


def _print_summary(g: nx.MultiDiGraph, output: Path | None) -> None:
    s = _summary(g, output)
    edges = ", ".join(f"{n} {kind}" for kind, n in s["edges"].items()) or "no edges"
    line = f"{s['templates']} templates, {s['sessions']} sessions, {edges}"
    if output is not None:
        click.echo(f"wrote {output}: {line}")
    else:
        click.echo(line)
        click.echo("use -o FILE.html (or .graphml .dot .json .mmd) to export it, --unseen to list unseen orderings")


def _report_unseen(g: nx.MultiDiGraph, depth: int, limit: int, as_json: bool) -> None:
    counts = count_unseen(g, depth)
    stream = iter_unseen(g, depth)
    first = list(stream if limit == 0 else itertools.islice(stream, limit))
    if as_json:
        payload = {"unseen": [list(seq) for seq in first], "counts": {str(k): n for k, n in counts.items()}}
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    total = sum(counts.values())
    click.echo(f"unseen orderings up to {depth} steps: {total}")
    for length, n in counts.items():
        click.echo(f"  length {length}: {n}")
    if not first:
        return
    shown = "all of them" if len(first) == total else f"the first {len(first)}"
    click.echo(f"\n{shown} (shortest first):")
    labels = {node: data.get("label", node) for node, data in g.nodes(data=True) if node != START}
    width = len(str(len(first)))
    for i, seq in enumerate(first, 1):
        line = "  →  ".join(labels[t] for t in seq)
        if any(labels[t] != t for t in seq):  # show ids too when they differ from the labels
            line += f"   [{' '.join(seq)}]"
        click.echo(f"  {i:>{width}}. {line}")
