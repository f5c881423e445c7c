"""What Python and SQL invariants share: reporting a broken invariant once, at the step that first broke it, and one-line reasons."""

from __future__ import annotations

from typing import Any

from venom_replay.replay.checkers.base import StepContext

_ARGS = ("response", "values", "db", "databases", "step", "path")


_STATE_ARGS = frozenset({"db", "databases"})
"""Parameters an invariant can be called with before the run, to see that it can read the databases."""


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}".rstrip(": ")


class FirstBreaks:
    """Which step first broke each state invariant on a path.

    A state invariant stays broken after the step that broke it, so every later step would report it
    again under its own template: one root cause counted once per kind of step seen after it. Each
    checked step remembers the invariants broken after it and the template that first broke them; a
    later step on the same path inherits that attribution.
    """

    def __init__(self, name: str) -> None:
        self._memo = f"first-breaks:{name}"
        """Where on each checked step (``StepResult.memo``) the attribution is kept."""

    def _known(self, step: Any) -> dict[str, str] | None:
        memo = getattr(step, "memo", None)
        return memo.get(self._memo) if memo is not None else None

    def attribute(self, ctx: StepContext, broken: list[str]) -> dict[str, str]:
        """``{invariant: id of the template that first broke it on this path}`` for ``broken``."""
        before: dict[str, str] = {}
        for earlier in reversed(ctx.path[:-1]):  # re-executed steps were not checked: look further back
            known = self._known(earlier)
            if known is not None:
                before = known
                break
        first = {name: before.get(name, ctx.step.template.id) for name in broken}
        ctx.step.memo[self._memo] = first
        return first


def _label(ctx: StepContext, template_id: str) -> str:
    tpl = ctx.templates.templates.get(template_id)
    return tpl.label if tpl is not None else template_id
