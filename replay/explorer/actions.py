"""The actions the explorer may take, and which recorded example a replayed step should use.

A template's request variants are different intents (create only with ``If-None-Match: *``, update
a version with ``If-Match``, overwrite with neither): each variant that conditions the call or takes
other bound values is an action of its own, enabled when the values it takes are bound (the update
needs an ETag on the path, the create does not). Variants that differ only in optional inputs are
one action. With identity swapping each recorded caller is an action too, so the search can try one
user's call with another user's credentials (the access-after-revoke bugs need that).
"""

from __future__ import annotations

import re

from venom_replay.proxy.infer.instantiate import applicable
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.infer.variants import request_caller, request_shape
from venom_replay.proxy.recording import Exchange, Request
from venom_replay.proxy.redact import is_secret_field
from venom_replay.replay.findings import Action

_IDENTITY_FIELD = re.compile(r"(^|_)(user(name)?|login|email|account)($|_)", re.I)
_CONDITIONAL = re.compile(r"^header:If-", re.I)
MAX_IDENTITIES_PER_TEMPLATE = 4
MAX_VARIANTS_PER_TEMPLATE = 4
"""Intents per template the search tries (the most frequent first); ordinary APIs have one to three."""


def _identity_signature(req: Request | None) -> tuple:
    """What says who is calling: the caller (the Basic user, whatever its password; another
    credential) and user-name-like body fields."""
    if req is None:
        return ()
    parts: list[tuple[str, str]] = [("caller", request_caller(req))]
    data = req.json()
    if isinstance(data, dict):
        parts += [(k, str(v)) for k, v in data.items() if _IDENTITY_FIELD.search(k) or is_secret_field(k)]
    return tuple(sorted(parts))


def identity_examples(template: ActionTemplate) -> list[int]:
    """One example index per distinct recorded identity of this template (the first is the default)."""
    seen: dict[tuple, int] = {}
    for i, req in enumerate(template.example_requests or []):
        seen.setdefault(_identity_signature(req), i)
    return sorted(seen.values()) or [0]


def _intent(template: ActionTemplate, example: int, parts: list[str]) -> tuple:
    """What a variant asks for: its conditional headers and the bound values it takes."""
    conditions = tuple(p for p in parts if _CONDITIONAL.match(p))
    return conditions, tuple(sorted(c.location for c in applicable(template, example)))


def variant_examples(template: ActionTemplate) -> list[int]:
    """The first example of each variant with an intent of its own, the most frequent variant first."""
    out: list[int] = []
    intents: set[tuple] = set()
    for variant in template.variants:
        if not variant.examples:
            continue
        intent = _intent(template, variant.examples[0], variant.parts)
        if intent not in intents:
            intents.add(intent)
            out.append(variant.examples[0])
    return out[:MAX_VARIANTS_PER_TEMPLATE] or [0]


def build_actions(tset: TemplateSet, *, swap_identities: bool = False) -> list[Action]:
    """Every action the explorer may take: one per intent of each template; with identity swapping,
    also one per other recorded identity. A call that sets passwords (a user create) has one action
    per user it set: bob's calls can run only on a path that created bob."""
    actions: list[Action] = []
    for tid, tpl in tset.templates.items():
        examples = variant_examples(tpl)
        if swap_identities or any(p.user_from for p in tpl.produces):
            others = [i for i in identity_examples(tpl) if i not in examples]
            examples += others[: max(0, MAX_IDENTITIES_PER_TEMPLATE - 1)]
        actions.extend(Action(tid, ex) for ex in examples)
    return actions


def closest_example(template: ActionTemplate, recorded: Exchange | None) -> int:
    """The example request that matches a recorded exchange best: the exchange itself when it was
    kept, else one of the same shape and caller with the most inputs in common."""
    if recorded is None or not template.example_requests:
        return 0
    if recorded.seq in template.example_seqs:
        return template.example_seqs.index(recorded.seq)
    want = recorded.request
    shape, caller, identity = request_shape(want), request_caller(want), _identity_signature(want)

    def score(req: Request) -> tuple[int, ...]:
        return (request_shape(req) == shape, request_caller(req) == caller, _identity_signature(req) == identity,
                req.body == want.body, req.query == want.query, req.path == want.path)

    return max(range(len(template.example_requests)), key=lambda i: (score(template.example_requests[i]), -i))
