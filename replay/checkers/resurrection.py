"""The resurrection checker: a child answers 2xx (used, listed or restored) while its parent is deleted.

Deleting a project should take its tasks with it, or at least make them refuse work; a task that
can still be read, changed or restored while its project is deleted lives on in a parent that is
gone (MLflow restores a run of a deleted experiment). Who is whose child comes from the path just
explored, never from names alone:

- a successful create whose request path carried the parent's bound id (``POST /projects/{p}/tasks``)
  made the values it produced children of that parent;
- a create that carried the parent's id in its body or query (``POST /tasks {"project_id": p}``) made
  children only where containment is shown, not mere reference (an order names the product it is
  for, yet outlives it): the recording (or the explored path) has a read that carried a parent's id
  and listed such a child (``GET /projects/{p}/tasks``, MLflow's ``runs/search {"experiment_ids"}``),
  or a path with the parent's id before the child's;
- a request path that carried the parent's id before another bound id
  (``/projects/{p}/tasks/{t}``) showed ``t`` under ``p``;
- children of children are children too.

"Deleted" is what the delete checkers judge (``deletes_before``): a successful delete that no later
step undid by a restore or a re-create of the parent. What is not reported, for precision:

- calls on the deleted URL or below it and calls on the parent's own id: use-after-delete reports those;
- answers that show the child (or its parent) marked deleted, and every non-2xx answer;
- deletes of a child (idempotent deletes may answer 2xx by design);
- a child moved to another parent before the use (a call on it carried another id of the parent's kind);
- a child kind the recording itself uses after its parent's delete: the API keeps such children
  independent. The confirmation replay of the recording teaches it (``replays_recorded_path``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from venom_replay.proxy.infer.bindings import norm_name
from venom_replay.proxy.infer.effects import shown_state
from venom_replay.proxy.infer.instantiate import extract_values
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.recording import Exchange

from venom_replay.replay.checkers.base import BoundUse, StepContext, StepResult, Violation
from venom_replay.replay.checkers.deletes import Deleted, UseAfterDeleteChecker, deletes_before, dicts_in_lists
from venom_replay.replay.checkers.steps import (addressed_resources, is_delete, is_read, is_restore, resource_key,
                                                succeeded)

__all__ = ["Child", "ResurrectionChecker", "children_of", "recorded_containment"]


Kind = tuple[str, str]
"""One kind of object, as its ids are bound: (producer template, source)."""


@dataclass(frozen=True, slots=True)
class Child:
    """A value that a step on the path showed to belong to the deleted parent."""

    producer: str
    source: str
    value: Any
    """As the producer answered it (a Location header stays a URL) or as a request carried it."""
    via: str
    """How the path showed the relation: ``made by POST /tasks``, ``under it in GET /projects/{p}/tasks/{t}``."""

    @property
    def kind(self) -> Kind:
        return (self.producer, self.source)

    def matches(self, use: BoundUse) -> bool:
        """``use`` carries this child's id (an id inside a produced URL counts)."""
        if (use.producer, use.source) != self.kind:
            return False
        mine, theirs = str(self.value), str(use.value)
        return theirs == mine or (theirs != "" and "/" in mine and theirs in mine.strip("/").split("/"))


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) != ""


def _carries(step: StepResult, keys: set[tuple[str, str, str]]) -> bool:
    return any(resource_key(use) in keys for use in step.consumed.values())


def _path_order(step: StepResult) -> list[BoundUse]:
    """The bound values in the request path, in the order of the path's parameters."""
    return [step.consumed[f"path:{name}"] for name in step.template.params if f"path:{name}" in step.consumed]


def children_of(parent: BoundUse, steps: Iterable[StepResult],
                contains: Collection[tuple[Kind, Kind]] = frozenset()) -> list[Child]:
    """Every child (and grandchild) of ``parent`` that the successful ``steps`` showed, moves applied.

    ``contains``: (parent kind, child kind) pairs known to be containment (``recorded_containment``);
    a create that named the parent outside its path makes a child only for those, or once a read on
    the path that carried the parent's id lists the created value."""
    family: set[tuple[str, str, str]] = {resource_key(parent)}
    children: list[Child] = []
    referenced: list[Child] = []  # created naming the parent in a body: children once containment shows
    for step in steps:
        if not succeeded(step):
            continue
        children = [c for c in children if not _moved(step, c, parent)]
        found: list[Child] = []
        if step.template.effect == "create" and _carries(step, family):
            nested = any(loc.startswith("path:") and resource_key(use) in family for loc, use in step.consumed.items())
            for source, value in step.produced.items():
                if not _scalar(value):
                    continue
                child = Child(step.template.id, source, value, f"made by {step.template.label}")
                named = {(u.producer, u.source) for u in step.consumed.values() if resource_key(u) in family}
                if nested or any((kind, child.kind) in contains for kind in named):
                    found.append(child)
                else:
                    referenced.append(child)
        if referenced and is_read(step.template) and _carries(step, family):
            listed = [c for c in referenced if _lists(_json(step), c)]
            found += listed
            referenced = [c for c in referenced if c not in listed]
        path_ids = _path_order(step)
        for i, use in enumerate(path_ids):
            if resource_key(use) in family:
                found += [Child(u.producer, u.source, u.value, f"under it in {step.template.label}")
                          for u in path_ids[i + 1:]]
        for child in found:
            key = (child.producer, child.source, str(child.value))
            if str(child.value) != str(parent.value) and key not in family:
                family.add(key)
                children.append(child)
    return children


def _lists(data: Any, child: Child) -> bool:
    key = _id_key(child.source)
    return any(str(item.get(key)) == str(child.value) for item in dicts_in_lists(data))


def recorded_containment(tset: TemplateSet, exchanges: Mapping[int, Exchange]) -> set[tuple[Kind, Kind]]:
    """(parent kind, child kind) pairs the recording shows as containment: a template path with a
    bound parent id before a bound child id, or a successful read that carried a bound parent id and
    listed an id that the child's producer answered with."""
    out: set[tuple[Kind, Kind]] = set()
    for tpl in tset.templates.values():
        in_path = [c for name in tpl.params for c in tpl.consumes if c.location == f"path:{name}"]
        out |= {((p.producer, p.source), (c.producer, c.source)) for i, p in enumerate(in_path) for c in in_path[i + 1:]}
    producers: dict[str, set[Kind]] = {}  # a produced id -> the kinds that answered with it
    reads = []
    for steps in tset.sessions.values():
        for st in steps:
            tpl, ex = tset.templates.get(st.template), exchanges.get(st.seq)
            if tpl is None or ex is None or ex.response is None or not 200 <= ex.response.status < 300:
                continue
            if tpl.effect == "create" and tpl.produces:
                try:
                    produced = extract_values(tpl, ex.response, ex.request)
                except ValueError:
                    continue
                for source, value in produced.items():
                    if _scalar(value):
                        producers.setdefault(str(value), set()).add((tpl.id, source))
            elif is_read(tpl) and any(not c.location.startswith(("header:", "cookie:")) for c in tpl.consumes):
                reads.append((tpl, ex))
    for tpl, ex in reads:
        parents = {(c.producer, c.source) for c in tpl.consumes if not c.location.startswith(("header:", "cookie:"))}
        try:
            data = ex.response.json()
        except ValueError:
            continue
        for item in dicts_in_lists(data):
            for key, value in item.items():
                for kind in producers.get(str(value), ()) if _scalar(value) else ():
                    if key == _id_key(kind[1]):
                        out |= {(parent, kind) for parent in parents if parent != kind}
    return out


def _moved(step: StepResult, child: Child, parent: BoundUse) -> bool:
    """The step addressed the child and carried another id of the parent's kind: it moved the child."""
    if not any(child.matches(t.use) for t in addressed_resources(step)):
        return False
    return any((u.producer, u.source) == (parent.producer, parent.source) and str(u.value) != str(parent.value)
               for u in step.consumed.values())


def _json(step: StepResult) -> Any:
    if step.response is None or not step.response.body:
        return None
    try:
        return step.response.json()
    except ValueError:
        return None


def _id_key(source: str) -> str:
    """The field a child's own id sits under in an answer (``body:$.task.task_id`` -> ``task_id``)."""
    kind, _, where = source.partition(":")
    if kind == "body":
        names = [p for p in where.replace("[", ".").replace("]", ".").split(".") if p and p not in ("$", "*") and not p.isdigit()]
        if names:
            return names[-1]
    return "id"


def _shows(data: Any, key: str, value: str) -> bool:
    """The answer is about this object: its id sits in the answer outside any list."""
    if not isinstance(data, dict):
        return False
    if str(data.get(key)) == value:
        return True
    return any(_shows(child, key, value) for child in data.values() if isinstance(child, dict))


def _names_parent(item: dict, parent: BoundUse) -> bool:
    """The listed item refers to the parent by an id-named field (``project_id: 101``)."""
    return any(str(value) == str(parent.value) and "id" in norm_name(str(key))
               for key, value in item.items() if _scalar(value))


@dataclass(frozen=True, slots=True)
class _Hit:
    child: Child
    how: str
    """``used``, ``restored`` or ``listed``."""
    where: str


class ResurrectionChecker:
    """A child of a deleted parent answers 2xx: used, restored, or listed alive (see the module docstring)."""

    name = "resurrection"

    def __init__(self, tset: TemplateSet | None = None, exchanges: Mapping[int, Exchange] | None = None) -> None:
        self.contains = recorded_containment(tset, exchanges or {}) if tset is not None else set()
        """(parent kind, child kind) pairs the recording shows as containment, not mere reference."""
        self.independent: set[tuple[str, str, str]] = set()
        """(parent's delete template, child producer, child source) that the recording uses after the delete."""
        self._use_after_delete = UseAfterDeleteChecker()

    def check(self, ctx: StepContext) -> list[Violation]:
        step = ctx.step
        if not succeeded(step) or is_delete(step.template):
            return []
        path = list(ctx.path)
        deletes = deletes_before(path)
        if not deletes:
            return []
        reported = {v.details.get("deleted_by") for v in self._use_after_delete.check(ctx)}
        out = []
        for d in deletes:
            if d.step.template.id in reported or any(resource_key(t.use) == resource_key(d.resource)
                                                     for t in addressed_resources(step)):
                continue  # a call on the parent itself: use-after-delete's to judge
            hit = self._hit(step, children_of(d.resource, path[:-1], self.contains), d)
            if hit is None:
                continue
            kind = (d.step.template.id, hit.child.producer, hit.child.source)
            if ctx.replays_recorded_path:
                self.independent.add(kind)  # the recording does it: such children outlive their parent
            elif kind in self.independent:
                continue
            out.append(self._violation(step, d, hit))
        return out

    @staticmethod
    def _hit(step: StepResult, children: list[Child], d: Deleted) -> _Hit | None:
        if not children:
            return None
        data = _json(step)
        for target in addressed_resources(step):
            child = next((c for c in children if c.matches(target.use)), None)
            if child is None:
                continue
            if shown_state(data) != "live":
                return None  # the answer says the child (or its parent) is deleted: it tells the truth
            if is_read(step.template) and not step.template.params and not _shows(data, _id_key(target.location), str(target.use.value)):
                return None  # an RPC read that merely filters by the child (a history, a search)
            how = "restored" if is_restore(step.template) else "used"
            return _Hit(child, how, f"{target.location.partition(':')[2].lstrip('$.')}={target.use.value}")
        if not is_read(step.template):
            return None
        for item in dicts_in_lists(data):
            for child in children:
                key = _id_key(child.source)
                if (key in item and str(item[key]) == str(child.value) and _names_parent(item, d.resource)
                        and shown_state(item) == "live"):
                    return _Hit(child, "listed", f"{key}={child.value}")
        return None

    def _violation(self, step: StepResult, d: Deleted, hit: _Hit) -> Violation:
        status = step.response.status
        what = {"used": f"answered {status} for {hit.where}", "restored": f"restored {hit.where} ({status})",
                "listed": f"still lists {hit.where} ({status})"}[hit.how]
        parent = d.step.request.path if d.location.startswith("path:") else (
            f"{d.location.partition(':')[2].lstrip('$.')}={d.resource.value}")
        return Violation(
            self.name,
            f"{step.template.label} {what}, a child of {parent} ({hit.child.via}), after "
            f"{d.step.template.label} deleted that parent (answered {d.step.response.status})",
            f"resurrection:{d.step.template.id}:{step.template.id}",
            {"parent": parent, "child": hit.where, "how": hit.how, "deleted_by": d.step.template.id},
        )
