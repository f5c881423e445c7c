"""The determinism probe: the first execution of each template is run again from the same restored
state. Answers that differ outside volatile fields reveal state the rollback cannot reach (an
in-memory cache, files, external calls), which the report warns about: findings involving it may
not reproduce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.explorer.answers import answer_digest, differences
from venom_replay.replay.explorer.state import StateNode
from venom_replay.replay.findings import Action

if TYPE_CHECKING:
    from venom_replay.replay.explorer.core import Explorer


def probe_determinism(ex: Explorer, node: StateNode, action: Action, first: StepResult, after_key: str,
                      after_fp: str, then: StateNode | None) -> None:
    """Run ``action`` from ``node`` again (``first`` led to state ``after_key``); warn if it answers
    otherwise. ``then``: where the next step starts, restored in the same round trip if possible."""
    if not ex.goto(node):
        return
    again = ex.steps.run(action, node.values)
    if again.response is None:
        ex.position.mark_changed()
        return
    seen = ex.position.observe(then=then)
    if not seen.restored:
        # The second run bound its own tokens: the databases are at ``after_key`` only if equal.
        same = seen.fingerprint == after_fp and ex.steps.bind(node.values, again, action) == ex.graph.nodes[after_key].values
        ex.position.arrive(after_key if same else None, seen)
    # Only the answers are compared: a database fingerprint also differs for random tokens and
    # timestamps written by the step, which the rollback does undo.
    a, b = answer_digest(first), answer_digest(again)
    if a != b:
        diffs = differences(a[1], b[1], "$") if a[0] == b[0] else [f"status {a[0]} then {b[0]}"]
        what = "; ".join(diffs) or "the body"
        ex.warnings.add(
            "nondeterministic",
            f"{first.template.label}: the same step from the same restored state answered differently "
            f"({what}) — state the rollback cannot reach (in-memory cache, files, external calls) or a "
            f"volatile value; findings that involve it may not reproduce")
