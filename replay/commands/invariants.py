"""`venom-replay invariants`: the likely invariants learned from a recording, per template."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from venom_replay.proxy.config import load_config
from venom_replay.proxy.infer.inference import infer_templates

from venom_replay.replay.learned.learn import LearnConfig, LearnedInvariant, learn_invariants
from venom_replay.replay.learned.config import ignore_entries, learned_section
from venom_replay.replay.learned.model import jsonable, masked_examples, short

KINDS = ("type", "format", "non-negative", "range", "enum", "le", "eq", "sum", "echo",
         "list-shape", "listed-readable", "deleted-unlisted", "status")


@click.command(
    epilog="""\b
Examples:
  venom-replay invariants shop.vrec
  venom-replay invariants shop.vrec --kind le --kind sum     # only numeric relations
  venom-replay invariants shop.vrec --template "/orders"     # templates whose label contains /orders
  venom-replay invariants shop.vrec --json | jq '.invariants[] | select(.support >= 10)'

\b
Silence a wrong one in venom.toml (the explorer then never reports it):
  [learned]
  ignore = ["GET /orders/{order_id} :: $.refunded <= $.amount"]
"""
)
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (default: venom.toml or [tool.venom-replay] in pyproject.toml, searched upwards).")
@click.option("--json", "as_json", is_flag=True, help='Print {"invariants": [...]} as JSON on stdout.')
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS), help="Only invariants of this kind (repeatable).")
@click.option("--template", "template_filter", help="Only templates whose id or label contains this text.")
@click.option("--min-support", type=click.IntRange(min=1), help="Observations a per-response fact needs (default 5, or [learned] min_support).")
@click.option("--show-secrets", is_flag=True, help="Print examples of token/password-like fields as recorded (masked by default).")
def invariants(
    file: str, config_path: str | None, as_json: bool, kinds: Sequence[str], template_filter: str | None,
    min_support: int | None, show_secrets: bool,
) -> None:
    """Print the likely invariants learned from a recording, per template, with their support.

    Learned from the successful responses of each template and from the order of calls in each
    session: field types, formats, signs and enumerations; relations between numeric fields
    ($.refunded <= $.amount); request fields echoed in responses; list/read/delete facts; status
    codes after a delete or a repeat. "support" counts the observations that showed a fact and
    "distinct" the different values among them: identical repeats are not evidence. The explorer
    checks these after every step (checker "learned") and drops any that a recorded path breaks.
    """
    config = load_config(Path(config_path) if config_path else None)
    section = learned_section(config)
    cfg = LearnConfig.from_mapping(section)
    if min_support is not None:
        cfg.min_support = min_support
    err = Console(stderr=True, highlight=False)
    with err.status(f"learning templates and invariants from {escape(file)} ...") if not as_json else _nothing():
        tset = infer_templates(file, config)
        learned = learn_invariants(tset, file, cfg)
    silenced = ignore_entries(section)
    shown = [
        inv for inv in learned
        if (not kinds or inv.kind in kinds)
        and (template_filter is None or template_filter in inv.template or template_filter in inv.label)
    ]
    if as_json:
        click.echo(json.dumps(invariants_json(shown, silenced, redact=not show_secrets, source=file), indent=2))
        return
    console = Console(highlight=False, width=max(120, Console().width))
    _print(console, shown, silenced, redact=not show_secrets, source=file, templates=len(tset.templates))


class _nothing:
    def __enter__(self) -> None: ...
    def __exit__(self, *exc: object) -> None: ...


def invariants_json(found: Sequence[LearnedInvariant], silenced: set[str], *, redact: bool, source: str) -> dict[str, Any]:
    out = []
    for inv in found:
        data = inv.to_dict(redact=redact)
        data["ignored"] = bool({inv.key, f"{inv.label} :: {inv.expr}"} & silenced)
        out.append(data)
    return {"source": source, "invariants": out}


def _print(console: Console, found: Sequence[LearnedInvariant], silenced: set[str], *, redact: bool, source: str, templates: int) -> None:
    if not found:
        console.print(f"No invariants learned from {escape(source)} ({templates} templates): the recording needs more varied successful responses.")
        return
    by_template: dict[str, list[LearnedInvariant]] = {}
    for inv in found:
        by_template.setdefault(inv.label, []).append(inv)
    plural = "template" if len(by_template) == 1 else "templates"
    console.print(f"[bold]{len(found)}[/] likely invariants over {len(by_template)} {plural}, learned from {escape(source)}")
    for label, items in by_template.items():
        table = Table(title=escape(label), title_justify="left", show_lines=False, expand=False)
        table.add_column("kind", style="cyan", no_wrap=True)
        table.add_column("invariant", overflow="fold")
        table.add_column("support", justify="right")
        table.add_column("distinct", justify="right")
        table.add_column("conf.", justify="right")
        table.add_column("examples", overflow="fold", max_width=40)
        for inv in items:
            ignored = bool({inv.key, f"{inv.label} :: {inv.expr}"} & silenced)
            examples = masked_examples(inv) if redact else inv.examples
            table.add_row(
                inv.kind,
                escape(inv.expr) + (" [dim](ignored by config)[/]" if ignored else ""),
                str(inv.support),
                str(inv.distinct),
                f"{inv.confidence:.2f}",
                escape("; ".join(_example(e) for e in examples[:3])),
            )
        console.print(table)


def _example(value: Any) -> str:
    """A relation's example as ``refunded=60 amount=100``; anything else as short JSON."""
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return " ".join(f"{k}={short(jsonable(v), 16)}" for k, v in value.items())
    return short(jsonable(value), 30)
