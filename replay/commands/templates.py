"""`venom-replay templates`: the action templates and value bindings learned from a recording."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from venom_replay.proxy.config import load_config
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.infer.values import parse_json_path
from venom_replay.proxy.redact import is_secret_field, is_secret_header, mask_value


@click.command(
    epilog="""\b
Examples:
  venom-replay templates shop.vrec
  venom-replay templates shop.vrec --fields          # also constants and inputs, secrets masked
  venom-replay templates shop.vrec --json | jq '.templates[] | {id, consumes}'
  venom-replay templates shop.vrec --config venom.toml
  venom-replay templates forward.vrec --host api.example.com   # a recording of several hosts
"""
)
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (default: venom.toml or [tool.venom-replay] in pyproject.toml, searched upwards).")
@click.option("--json", "as_json", is_flag=True, help="Print the templates as one JSON object on stdout.")
@click.option("--fields", "show_fields", is_flag=True, help="Also list each template's constant and input fields with recorded examples.")
@click.option("--show-secrets", is_flag=True, help="Print tokens, cookies and password fields in examples as recorded (masked by default).")
@click.option("--host", metavar="HOST",
              help="Learn templates from this recorded host only (host, host:port or URL), when the recording "
                   "holds several (default: the one with most exchanges; `show` lists them).")
@click.option("--openapi", "openapi", metavar="SPEC", type=click.Path(exists=True, dir_okay=False),
              help="An OpenAPI document (YAML or JSON): spec parameter names, type checks, and templates (from spec) "
                   "for operations the recording never called.")
def templates(file: str, config_path: str | None, as_json: bool, show_fields: bool, show_secrets: bool, host: str | None,
              openapi: str | None = None) -> None:
    """Print the action templates and value bindings learned from a recording.

    Each template is one kind of call (method + path pattern). "produces" lists the response values
    later calls consume; "consumes" lists each request value bound to an earlier response, with the
    producing template. A template whose requests came in several shapes (conditional headers,
    optional query parameters or body fields) lists its variants under its name: the parts each
    adds to what all of them share, and how many calls had it.
    """
    config = load_config(Path(config_path) if config_path else None).with_host(host).with_openapi(openapi)
    err = Console(stderr=True, highlight=False)
    if as_json:
        tset = infer_templates(file, config)
    else:
        with err.status(f"learning templates from {escape(file)} ..."):
            tset = infer_templates(file, config)
    for warning in tset.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    if as_json:
        click.echo(json.dumps(templates_json(tset, redact=not show_secrets), indent=2, default=str))
        return
    console = Console(highlight=False, width=max(120, Console().width))
    _print_table(console, tset, show_fields, redact=not show_secrets)


# ---------------------------------------------------------------- JSON


def templates_json(tset: TemplateSet, *, redact: bool = True) -> dict[str, Any]:
    return {
        "source": tset.source,
        "ignored": tset.ignored,
        "sessions": len(tset.sessions),
        "session_parts": {flow: parts for flow, parts in tset.session_parts.items() if parts != [flow]},
        "warnings": list(tset.warnings),
        "templates": [_template_json(t, redact) for t in tset.templates.values()],
    }


def _template_json(t: ActionTemplate, redact: bool) -> dict[str, Any]:
    return {
        "id": t.id,
        "method": t.method,
        "path": t.path,
        "origin": t.origin,
        "count": t.count,
        "from_spec": t.count == 0 and not t.exchange_seqs,  # made from --openapi alone, never recorded
        "sessions": t.sessions,
        "effect": t.effect,
        "statuses": {str(k): v for k, v in t.statuses.items()},
        "produces": [{"var": p.var, "from": p.source, **({"user_from": p.user_from} if p.user_from else {})}
                     for p in t.produces],
        "consumes": [
            {
                "var": c.var,
                "in": c.location,
                "producer": c.producer,
                "from": c.source,
                "transform": c.transform,
                "score": c.score,
                "support": c.support,
                "sessions": c.sessions,
            }
            for c in t.consumes
        ],
        # Values this template took from another session's responses: evidence, not a binding.
        "cross_session": [
            {"in": h.location, "producer": h.producer, "from": h.source, "instances": h.instances}
            for h in t.cross_session
        ],
        "fields": [
            {"in": f.location, "kind": f.kind, "examples": [_example(f.location, v, redact) for v in f.examples]}
            for f in t.fields
        ],
        "volatile": [{"field": v, "reason": t.volatile_reasons.get(v, "")} for v in t.volatile],
        "variants": [
            {"parts": v.parts, "count": v.count, "statuses": {str(k): n for k, n in v.statuses.items()},
             "identities": v.identities, "examples": v.examples}
            for v in t.variants
        ],
        "response_schema": t.response_schema,
    }


def is_secret_location(location: str) -> bool:
    kind, _, where = location.partition(":")
    if kind == "cookie":
        return True
    if kind == "header":
        return is_secret_header(where)
    if kind == "body":
        try:
            keys = [p for p in parse_json_path(where) if isinstance(p, str)]
        except ValueError:
            return False
        return any(is_secret_field(k) for k in keys)
    return is_secret_field(where)


def _example(location: str, value: Any, redact: bool) -> Any:
    return mask_value(value) if redact and is_secret_location(location) else value


# ---------------------------------------------------------------- table


def _print_table(console: Console, tset: TemplateSet, show_fields: bool, *, redact: bool) -> None:
    total = sum(t.count for t in tset.templates.values())
    console.print(
        f"[bold]{escape(tset.source)}[/]: {len(tset.templates)} templates from {total} exchanges "
        f"in {len(tset.sessions)} sessions" + _regrouped(tset) + (f", {tset.ignored} ignored" if tset.ignored else "")
    )
    table = Table(show_lines=True)
    table.add_column("template", no_wrap=True)
    table.add_column("effect")
    table.add_column("count", justify="right")
    table.add_column("statuses")
    table.add_column("produces", overflow="fold")
    table.add_column("consumes (from template)", overflow="fold")
    if show_fields:
        table.add_column("constants / inputs", overflow="fold")
    for t in tset.templates.values():
        produces = "\n".join(f"{p.var} [dim]<- {escape(p.source)}[/]" for p in t.produces) or "[dim]-[/]"
        consumes = "\n".join(
            f"{escape(c.location)} [dim]<-[/] {escape(c.producer)} [dim]{escape(c.source)}"
            + (f" ({escape(c.transform)})" if c.transform != "identity" else "")
            + f" {c.score:.2f}[/]"
            for c in t.consumes
        ) or "[dim]-[/]"
        statuses = " ".join(f"{s}x{n}" for s, n in t.statuses.items()) or ("[dim]from spec[/]" if not t.exchange_seqs else "")
        row = [f"[bold]{escape(t.id)}[/]" + _variant_lines(t), t.effect, str(t.count), statuses, produces, consumes]
        if show_fields:
            row.append(
                "\n".join(
                    f"{escape(f.location)} [dim]{f.kind}[/] "
                    + escape(", ".join(json.dumps(_example(f.location, v, redact), default=str)[:40] for v in f.examples[:3]))
                    for f in t.fields
                ) or "[dim]-[/]"
            )
        table.add_row(*row)
    console.print(table)


MAX_VARIANT_LINES = 6


def _regrouped(tset: TemplateSet) -> str:
    """`` (flows of 25 recorded sessions)`` when inference regrouped the recorded sessions."""
    recorded = {s for parts in tset.session_parts.values() for s in parts}
    return f" (flows of {len(recorded)} recorded sessions)" if recorded and recorded != set(tset.sessions) else ""


def _variant_lines(t: ActionTemplate) -> str:
    """The variants of a template with more than one: what each adds to the parts all share."""
    if len(t.variants) < 2:
        return ""
    common = set.intersection(*(set(v.parts) for v in t.variants))
    lines = [f"\n[dim]{len(t.variants)} variants:[/]"]
    for v in t.variants[:MAX_VARIANT_LINES]:
        extra = ", ".join(_part_label(p) for p in v.parts if p not in common) or "(only the shared parts)"
        lines.append(f"[dim]  {escape(extra)} x{v.count}[/]")
    if len(t.variants) > MAX_VARIANT_LINES:
        lines.append(f"[dim]  ... {len(t.variants) - MAX_VARIANT_LINES} more (--json lists them)[/]")
    return "\n".join(lines)


def _part_label(part: str) -> str:
    """``header:If-None-Match=*`` -> ``If-None-Match: *``, ``query:_since`` -> ``?_since``, ``body:$.a`` -> ``$.a``."""
    kind, _, where = part.partition(":")
    if kind == "header":
        name, eq, value = where.partition("=")
        return f"{name}: {value}" if eq else name
    if kind == "query":
        return f"?{where}"
    if kind == "body":
        return where
    return part
