"""What a template does to the server's state: read, create, update, delete, archive, restore or another action.

The explorer's checkers order and judge calls by their effect (a delete followed by a read, a create
twice), so the effect is read, in this order, off:

1. the method for reads and ``DELETE`` (a DELETE stays a delete whatever follows);
2. behaviour: what the recording showed right after the call. A later read of the object the call
   named (the same id under the same name: ``/orders/7``, ``?experiment_id=2``) answered 404 or 410,
   or showed it deleted (``lifecycle_stage: "deleted"``, ``deleted: true``, ``status: "deleted"``,
   ``deleted_at`` set) or archived: the call deletes (archives). A read that shows an object alive
   again after it was seen deleted makes the call between a restore. A read that shows it alive and
   unchanged is evidence against;
3. an RPC verb in the path (``POST .../experiments/delete``, ``.../runs/restore``,
   ``conversations.archive``, ``.../create``, ``.../search``), unless the behaviour contradicts it
   (the object read back alive and unchanged after a delete or an archive);
4. the shape: a POST whose answers mostly were 201 or carried a Location header creates; one on a
   single resource (``/orders/{order_id}``) updates it; a verb after an id
   (``/orders/{order_id}/refund``) is an action.

The behaviour is gathered while the recording is read (``FollowUps``, fed by observe.py), in bounded
memory: the latest write per object, the objects remembered in two generations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from venom_replay.proxy.infer.model import Effect
from venom_replay.proxy.infer.path_patterns import PARAM, Pattern, pattern_verb

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Shown = Literal["deleted", "archived", "live"]
"""How an answer showed the object it is about."""

_DELETED_WORDS = frozenset({"deleted", "removed", "trashed", "destroyed", "purged"})
_ARCHIVED_WORDS = frozenset({"archived"})
_STATE_KEYS = frozenset({"lifecyclestage", "lifecyclestate", "status", "state"})
_DELETED_FLAGS = frozenset({"deleted", "isdeleted", "trashed", "istrashed", "removed", "isremoved"})
_ARCHIVED_FLAGS = frozenset({"archived", "isarchived"})
_DELETED_TIMES = frozenset({"deletedat", "deletedon", "deletiontime", "trashedat", "removedat"})
_ARCHIVED_TIMES = frozenset({"archivedat", "archivedon"})
_MAX_DEPTH = 4
"""How deep into nested objects a marker is looked for (``$.run.info.lifecycle_stage`` is 3)."""


_MARKER_BYTES = re.compile(rb"delet|archiv|trash|remov|destroy|purg", re.IGNORECASE)
"""A body without any of these has no marker: one scan of the bytes spares walking the JSON."""


def shown_state(data: Any, raw: bytes | None = None) -> Shown:
    """How a successful answer shows the object it is about: ``deleted``, ``archived`` or ``live``.

    Only objects are searched, not lists: a marker of a listed child says nothing of the object
    itself. Any marker for deleted or archived wins over the absence of one. ``raw``: the body's
    bytes, when the caller has them.
    """
    if raw is not None and not _MARKER_BYTES.search(raw):
        return "live"
    return _marker(data, 0) or "live"


def _marker(data: Any, depth: int) -> Shown | None:
    if not isinstance(data, dict) or depth > _MAX_DEPTH:
        return None
    nested = []
    for key, value in data.items():
        name = str(key).replace("_", "").replace("-", "").lower()
        kind = type(value)
        if kind is str and name in _STATE_KEYS:
            word = value.lower()
            if word in _DELETED_WORDS:
                return "deleted"
            if word in _ARCHIVED_WORDS:
                return "archived"
        elif kind is bool:
            if value and name in _DELETED_FLAGS:
                return "deleted"
            if value and name in _ARCHIVED_FLAGS:
                return "archived"
        elif kind is dict:
            nested.append(value)
        elif value is not None and value != "" and value != 0:
            if name in _DELETED_TIMES:
                return "deleted"
            if name in _ARCHIVED_TIMES:
                return "archived"
    for child in nested:
        found = _marker(child, depth + 1)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------- behaviour


@dataclass(slots=True)
class BehaviourAcc:
    """What later reads of the objects a template's calls named showed (counts of follow-ups)."""

    gone: int = 0
    """Answered 404 or 410."""
    deleted: int = 0
    """Answered with the object marked deleted."""
    archived: int = 0
    """Answered with the object marked archived."""
    kept: int = 0
    """Answered with the object alive, as it was before the call (or not known to be otherwise)."""
    restored: int = 0
    """Answered with the object alive where it had been seen deleted or archived before the call."""

    def merge(self, other: BehaviourAcc) -> None:
        self.gone += other.gone
        self.deleted += other.deleted
        self.archived += other.archived
        self.kept += other.kept
        self.restored += other.restored

    def shown(self) -> Effect | None:
        """The effect the follow-ups show, when they show one (the majority decides)."""
        removed = self.gone + self.deleted
        if removed and removed >= self.kept + self.restored:
            return "delete"
        if self.archived and self.archived >= self.kept + self.restored:
            return "archive"
        if self.restored and not removed and not self.archived and self.restored >= self.kept:
            return "restore"
        return None

    def contradicts(self) -> bool:
        """Later reads showed the object alive and unchanged more often than anything else."""
        return self.kept > self.gone + self.deleted + self.archived + self.restored


_Entry = tuple["BehaviourAcc | None", int, str]

Subject = tuple[Any, str, str]
"""(origin, normalised name, value key): one object as requests name it (``order_id`` ``7``)."""

FOLLOW_UP_GENERATION = 1 << 14
"""Objects remembered per generation (two are kept): the follow-up of a write comes soon after it."""


class FollowUps:
    """The latest successful write on each object, waiting for the next read of that object.

    ``wrote`` notes that a template's call named some objects; ``read`` attributes what a later read
    of them showed to the latest write before it that named one of them (``runs/get?run_uuid=X&run_id=X``
    after ``set-tag {run_uuid: X, run_id: X}`` then ``delete {run_id: X}`` credits the delete
    alone), and remembers the state the read showed, so that the next write's follow-up can tell a
    restore from an update.
    """

    __slots__ = ("new", "old", "writes")

    def __init__(self) -> None:
        # subject -> (the pending writer's evidence or None, its write number, the state last seen:
        # deleted/archived, or "" for alive or not seen). Only objects with a write pending or last
        # seen deleted or archived are kept.
        self.new: dict[Subject, _Entry] = {}
        self.old: dict[Subject, _Entry] = {}
        self.writes = 0

    def _get(self, subject: Subject) -> _Entry | None:
        entry = self.new.get(subject)
        return entry if entry is not None else self.old.get(subject)

    def _put(self, subject: Subject, entry: _Entry) -> None:
        if subject not in self.new and len(self.new) >= FOLLOW_UP_GENERATION:
            self.old, self.new = self.new, {}
        self.new[subject] = entry

    def watching(self) -> bool:
        """Some object has a write pending or was last seen deleted: reads are worth looking at."""
        return bool(self.new or self.old)

    def wrote(self, subjects: list[Subject], evidence: BehaviourAcc) -> None:
        """A write named ``subjects`` and succeeded: the next read of each will say what it did."""
        self.writes += 1
        for subject in subjects:
            entry = self._get(subject)
            self._put(subject, (evidence, self.writes, entry[2] if entry is not None else ""))

    def read(self, subjects: list[Subject], status: int, data: Any, raw: bytes | None = None) -> None:
        """A read named ``subjects`` and got ``status`` (``data``: its JSON body, ``raw`` its bytes).

        Only objects with a write pending or last seen deleted are looked at: the answer of every
        other read tells nothing that a later write's follow-up needs.
        """
        found = [(subject, entry) for subject in subjects if (entry := self._get(subject)) is not None]
        if not found:
            return
        if status in (404, 410):
            state = "gone"
        elif 200 <= status < 300:
            state = shown_state(data, raw)
        else:
            return  # refused or failed: says nothing about the object
        pending = [entry for _, entry in found if entry[0] is not None]
        if pending:
            latest = max(pending, key=lambda entry: entry[1])
            _credit(latest[0], latest[2], state)  # type: ignore[arg-type]
        if state == "live":
            for subject, _ in found:  # alive is what an unknown object is taken to be: nothing to keep
                self.new.pop(subject, None)
                self.old.pop(subject, None)
        else:
            seen = "deleted" if state == "gone" else state
            for subject, _ in found:
                self._put(subject, (None, 0, seen))


def _credit(evidence: BehaviourAcc, before: str, after: str) -> None:
    if after == "gone":
        evidence.gone += 1
    elif after == "deleted":
        evidence.deleted += 1
    elif after == "archived":
        evidence.archived += 1
    elif before in ("deleted", "archived"):
        evidence.restored += 1
    else:
        evidence.kept += 1


# ---------------------------------------------------------------- classification


def is_read_call(method: str, pattern: Pattern) -> bool:
    """A call that only reads: GET/HEAD/OPTIONS, or an RPC read verb (``POST .../runs/search``)."""
    return method in READ_METHODS or (method == "POST" and pattern_verb(pattern) == "read")


def classify_effect(method: str, pattern: Pattern, created: int, id_bodies: int, count: int,
                    behaviour: BehaviourAcc | None = None) -> Effect:
    """read/create/update/delete/archive/restore/action (see the module docstring for the order).

    ``created``: responses that said "created" (201 or Location); ``id_bodies``: responses whose
    JSON body had a top-level ``id``; ``count``: all responses; ``behaviour``: the follow-ups.
    """
    if method in READ_METHODS:
        return "read"
    if method == "DELETE":
        return "delete"
    b = behaviour or BehaviourAcc()
    shown = b.shown()
    if shown is not None:
        return shown
    verb = pattern_verb(pattern)
    if verb in ("delete", "archive") and not b.contradicts():
        return verb  # type: ignore[return-value]
    if verb == "restore" and not (b.gone or b.deleted or b.archived):
        return "restore"  # an object read alive after it is what a restore leaves, seen deleted before or not
    if method in ("PUT", "PATCH"):
        return "update"
    last = pattern[-1] if pattern else ""
    if method == "POST":
        if created * 2 >= count and created:
            return "create"
        if last is PARAM:
            return "update"
        if len(pattern) >= 2 and pattern[-2] is PARAM:
            return "action"  # /orders/{order_id}/refund: a verb on one resource
        if verb in ("create", "read", "update"):
            return verb  # type: ignore[return-value]
        if id_bodies * 2 >= count and id_bodies and isinstance(last, str) and last.endswith("s"):
            return "create"
    return "action"
