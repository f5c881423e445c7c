"""Principals: who the caller of a step is, and which steps grant or revoke what to whom.

Shared by the access checkers (access-after-revoke, inherited-identity) and the learned status
expectations. Every kind of identity counts:
- HTTP Basic: the user name in the header;
- a bearer token, an API key or a login cookie: the credential itself, plus the user that the
  earlier answer which handed it out names (the login request's ``username``, the answer's
  ``user_id``...).

Grants and revocations are recognised from what calls do, not only from their URL:
- a members or ACL list in a request or answer body that gains or loses a principal
  (``PATCH /groups/x {"data": {"members": [...]}}``, ``{"permissions": {"write": [...]}}``); the
  list's previous content is what an earlier step of the path showed for the same object;
- a permission call, recognised by a permission word in its path and a principal field in its body
  (``POST .../permissions/create {"username": "bob", "experiment_id": "1", "permission": "EDIT"}``,
  ``.../permissions/revoke``): its verb says grant or revoke, its other id fields what it is about;
- the delete of a membership resource (``DELETE /teams/{t}/members/{u}``), or a role call by its
  words (``.../demote``, ``PUT /admins/{u}``).

Principals are compared by name: Kinto's ``account:bob`` is the Basic user ``bob``; a principal that
is an object path (``/buckets/b/groups/g``) is a group, whose members lists say who is in it.

One module per job: ``names``, ``callers``, ``role_words``, ``scopes`` (scopes and the members and
ACL lists), ``permission_calls``, ``tracker``, ``evidence``.
"""

from __future__ import annotations

from venom_replay.replay.checkers.principals.callers import caller_names
from venom_replay.replay.checkers.principals.evidence import (
    recorded_path,
    refusal_evidence,
)
from venom_replay.replay.checkers.principals.names import (
    access_class,
    is_everyone,
    principal_names,
    refused,
    same_principal,
)
from venom_replay.replay.checkers.principals.permission_calls import principal_fields
from venom_replay.replay.checkers.principals.role_words import is_grant, is_revoke
from venom_replay.replay.checkers.principals.scopes import (
    AccessChange,
    ListBook,
    Scope,
    children_of,
    covers,
    is_acl_key,
    principal_lists,
)
from venom_replay.replay.checkers.principals.tracker import (
    AccessTracker,
    access_changes,
)

__all__ = [
    "AccessChange",
    "AccessTracker",
    "ListBook",
    "Scope",
    "access_changes",
    "access_class",
    "caller_names",
    "children_of",
    "covers",
    "is_acl_key",
    "is_everyone",
    "is_grant",
    "is_revoke",
    "principal_fields",
    "principal_lists",
    "principal_names",
    "recorded_path",
    "refusal_evidence",
    "refused",
    "same_principal",
]
