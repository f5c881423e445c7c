"""Built-in checkers: sequence bugs that need no user-written invariant, and the default set of them.

Each looks at the step just executed and the path that led to it (``StepContext``) and returns
violations whose ``signature`` names one root cause (checker + templates involved), so the explorer
reports it once however many paths hit it. Each checker lives in its own module (``server_error``,
``shape``, ``deletes``, ``repeated_success``, ``access_after_revoke``, ``leaky_error``, ``failed_write``) on the shared helpers of
``steps``; this module assembles them.

Care against false positives, because a tool that cries wolf gets switched off: resources are
identified by bound values in request paths, never by body fields; repeats are only suspicious for
actions on one resource; and anything the recorded sessions do themselves is suppressed by the
explorer's confirmation phase.
"""

from __future__ import annotations

from collections.abc import Mapping

from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.recording import Exchange

from venom_replay.replay.checkers.access_after_revoke import AccessAfterRevokeChecker
from venom_replay.replay.checkers.base import Checker
from venom_replay.replay.checkers.deletes import DeletedStillListedChecker, UseAfterDeleteChecker
from venom_replay.replay.checkers.failed_write import FailedWriteChecker
from venom_replay.replay.checkers.inherited_identity import InheritedIdentityChecker
from venom_replay.replay.checkers.leaky_error import LeakyErrorChecker
from venom_replay.replay.checkers.repeated_success import RepeatedSuccessChecker
from venom_replay.replay.checkers.resurrection import ResurrectionChecker
from venom_replay.replay.checkers.server_error import ServerErrorChecker
from venom_replay.replay.checkers.shape import ShapeChecker
from venom_replay.replay.mutations.judge import MutationDomainChecker

__all__ = [
    "AccessAfterRevokeChecker",
    "DeletedStillListedChecker",
    "FailedWriteChecker",
    "InheritedIdentityChecker",
    "LeakyErrorChecker",
    "RepeatedSuccessChecker",
    "ResurrectionChecker",
    "ServerErrorChecker",
    "ShapeChecker",
    "UseAfterDeleteChecker",
    "builtin_checkers",
]


def builtin_checkers(tset: TemplateSet, exchanges: Mapping[int, Exchange] | None = None) -> list[Checker]:
    """One of each built-in checker, in report order; ``exchanges`` (by sequence number) lets the
    checkers that judge by the recording see its statuses."""
    return [
        ServerErrorChecker(),
        ShapeChecker(),
        UseAfterDeleteChecker(),
        DeletedStillListedChecker(tset),
        RepeatedSuccessChecker(tset, exchanges),
        AccessAfterRevokeChecker(tset, exchanges),
        InheritedIdentityChecker(tset, exchanges),
        LeakyErrorChecker(),
        ResurrectionChecker(tset, exchanges),
        FailedWriteChecker(),
        MutationDomainChecker(),
    ]
