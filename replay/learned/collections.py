"""Collection facts: a list and the single-object read and delete of the same resource.

- list-shape: every object the list returns has the fields (and types) of the single-object read
  (types where present; presence only for fields enough reads always had, lists and maps never seen
  empty excepted);
- listed-readable: an id the list returns can be read (no 404 for it while nothing changed);
- deleted-unlisted: an id that was deleted stops being listed.

Which list goes with which read is learned from the traffic: the read returns an object whose key
``k`` equals its path parameter, and the list holds objects with that key (under ``/items`` +
``/items/{id}``, or because ids the list returned were later read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet

from venom_replay.replay.checkers.base import StepResult
from venom_replay.replay.checkers.steps import is_delete, succeeded
from venom_replay.replay.learned.model import (
    LearnedInvariant,
    child_path,
    is_read,
    iter_objects,
    json_type,
    normalize_template_path,
    objects_at,
    path_params,
    volatile_paths,
)
from venom_replay.replay.learned.observe import LearnConfig, response_body, strip_volatile
from venom_replay.replay.learned.paths import deleted_before, only_reads_between, rejected
from venom_replay.replay.learned.presence import must_be_present


@dataclass(slots=True)
class _List:
    template: ActionTemplate
    pattern: str
    rows: list[dict[str, Any]]


def _same_origin(a: ActionTemplate, b: ActionTemplate) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _last_param(step: StepResult) -> str | None:
    params = path_params(step.template.path, step.request.path)
    return list(params.values())[-1] if params else None


def _lists(steps_by_template: Mapping[str, list[StepResult]], tset: TemplateSet) -> list[_List]:
    out = []
    for tid, steps in steps_by_template.items():
        template = tset.templates[tid]
        if not is_read(template):
            continue
        rows: dict[str, list[dict[str, Any]]] = {}
        for step in steps:
            body = strip_volatile(response_body(step), volatile_paths(template))
            for pattern, obj in iter_objects(body):
                if pattern.endswith("[*]") and pattern.count("[*]") == 1 and pattern.count(".") <= 2:
                    rows.setdefault(pattern, []).append(obj)
        out.extend(_List(template, p, r) for p, r in rows.items() if r)
    return out


def _self_key(steps: list[StepResult]) -> str | None:
    """The key of the read's object that always equals its last path parameter (its id field)."""
    candidates: set[str] | None = None
    seen = 0
    for step in steps:
        body, value = response_body(step), _last_param(step)
        if not isinstance(body, dict) or value is None:
            continue
        seen += 1
        keys = {str(k) for k, v in body.items() if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) == value}
        candidates = keys if candidates is None else candidates & keys
    if not seen or not candidates:
        return None
    return "id" if "id" in candidates else sorted(candidates)[0]


def _listed(step: StepResult, pattern: str, key: str) -> dict[str, Any]:
    """Ids a listing returned, as path segments (``"7"``) mapped to the values as listed (``7``)."""
    objects = objects_at(response_body(step), pattern)
    return {str(obj[key]): obj[key] for obj in objects if key in obj and not isinstance(obj[key], (dict, list))}


def learn_collections(
    tset: TemplateSet, paths: Mapping[str, list[StepResult]], cfg: LearnConfig
) -> list[LearnedInvariant]:
    by_template: dict[str, list[StepResult]] = {}
    for steps in paths.values():
        for step in steps:
            by_template.setdefault(step.template.id, []).append(step)
    out: list[LearnedInvariant] = []
    for lst in _lists(by_template, tset):
        base = normalize_template_path(lst.template.path)
        for rid, rsteps in by_template.items():
            read = tset.templates[rid]
            if not is_read(read) or rid == lst.template.id or not _same_origin(read, lst.template):
                continue
            key = _self_key(rsteps)
            if key is None or not all(key in row for row in lst.rows):
                continue
            if normalize_template_path(read.path) != base + "/{}" and not _read_after_listed(paths, lst, key, rid):
                continue
            out.extend(_learn_pair(lst, key, read, rsteps, paths, cfg))
            for delete in tset.templates.values():
                if is_delete(delete) and _same_origin(delete, read) and normalize_template_path(delete.path) == normalize_template_path(read.path):
                    inv = _learn_deleted_unlisted(lst, key, delete, paths, cfg)
                    if inv is not None:
                        out.append(inv)
    return out


def _read_after_listed(paths: Mapping[str, list[StepResult]], lst: _List, key: str, read_id: str) -> bool:
    for steps in paths.values():
        listed: set[str] = set()
        for step in steps:
            if step.template.id == lst.template.id:
                listed.update(_listed(step, lst.pattern, key))
            elif step.template.id == read_id and _last_param(step) in listed:
                return True
    return False


def _learn_pair(
    lst: _List, key: str, read: ActionTemplate, rsteps: list[StepResult], paths: Mapping[str, list[StepResult]], cfg: LearnConfig
) -> list[LearnedInvariant]:
    out: list[LearnedInvariant] = []
    pattern, read_label = lst.pattern, read.label
    # list-shape: the read's always-present fields have their types in every listed object where
    # present, and must be there under the presence rule (``presence.py``).
    bodies = [strip_volatile(response_body(s), volatile_paths(read)) for s in rsteps]
    bodies = [b for b in bodies if isinstance(b, dict)]
    if bodies and len(lst.rows) >= cfg.min_path_support:
        always = set(bodies[0]).intersection(*bodies[1:])
        types = {k: {json_type(b[k]) for b in bodies} for k in always}
        required = {k for k in always if must_be_present(bodies, k)}
        # A listed field may be null where the read had a value (a list can omit details), no more.
        fits = all((row[k] is None or json_type(row[k]) in types[k]) if k in row else k not in required
                   for row in lst.rows for k in always)
        if required and fits:
            for row in lst.rows:
                for k in always:
                    if k in row:
                        types[k].add(json_type(row[k]))
            out.append(
                LearnedInvariant(
                    template=lst.template.id,
                    expr=f"{pattern} has the fields of {read_label}",
                    kind="list-shape",
                    support=len(lst.rows),
                    distinct=len(bodies),
                    confidence=1 - 0.5 ** min(len(lst.rows), 20),
                    examples=sorted(required)[:12],
                    params={"pattern": pattern, "fields": {k: sorted(t) for k, t in sorted(types.items())},
                            "required": sorted(required)},
                )
            )
    # listed-readable: count reads of listed ids that worked, and any that 404'd with nothing between.
    support, broken = 0, False
    for steps in paths.values():
        for i, step in enumerate(steps):
            if step.template.id == read.id:
                found = _latest_listing(steps, i, lst.template.id, pattern, key, _last_param(step))
                if found is None:
                    continue
                if succeeded(step):
                    support += 1
                elif rejected(step) and only_reads_between(steps, found, i):
                    broken = True
            elif step.template.id == lst.template.id and _listed_but_unreadable(steps, i, pattern, key, read.id):
                broken = True
    if support >= cfg.min_path_support and not broken:
        out.append(_path_fact(lst, f"ids at {child_path(pattern, key)} are readable by {read_label}", "listed-readable",
                              support, {"pattern": pattern, "key": key, "read": read.id,
                                        "triggers": [lst.template.id, read.id]}))
    return out


def _latest_listing(steps: Sequence[StepResult], index: int, list_id: str, pattern: str, key: str, value: str | None) -> int | None:
    """Index of the latest listing before ``index`` that returned ``value``."""
    if value is None:
        return None
    for j in range(index - 1, -1, -1):
        if steps[j].template.id == list_id and succeeded(steps[j]):
            return j if value in _listed(steps[j], pattern, key) else None
    return None


def _listed_but_unreadable(steps: Sequence[StepResult], index: int, pattern: str, key: str, read_id: str) -> list[dict[str, Any]]:
    """Ids this listing returned that a read answered 4xx for, with nothing in between that changes state."""
    listed = _listed(steps[index], pattern, key)
    failures = []
    seen: set[str] = set()
    for j in range(index - 1, -1, -1):
        prior = steps[j]
        if prior.template.id != read_id:
            continue
        value = _last_param(prior)
        if value in seen or value not in listed:
            continue
        seen.add(value)  # only the latest read of each id counts
        if rejected(prior) and only_reads_between(steps, j, index):
            failures.append({child_path(pattern, key): listed[value], "read status": prior.response.status, "read at step": j + 1})
    return failures


def _learn_deleted_unlisted(
    lst: _List, key: str, delete: ActionTemplate, paths: Mapping[str, list[StepResult]], cfg: LearnConfig
) -> LearnedInvariant | None:
    prefix = normalize_template_path(delete.path)
    support = 0
    for steps in paths.values():
        for i, step in enumerate(steps):
            if step.template.id != lst.template.id or not succeeded(step):
                continue
            deleted = [k[1] for k in deleted_before(steps, i) if k[0] == prefix]
            listed = set(_listed(step, lst.pattern, key))
            if any(v in listed for v in deleted):
                return None
            support += len(deleted)
    if support < cfg.min_path_support:
        return None
    return _path_fact(lst, f"ids deleted by {delete.label} are not in {child_path(lst.pattern, key)}", "deleted-unlisted",
                      support, {"pattern": lst.pattern, "key": key, "delete_prefix": prefix, "delete": delete.id})


def _path_fact(lst: _List, expr: str, kind: str, support: int, params: dict[str, Any]) -> LearnedInvariant:
    """A fact about the listing that paths of calls showed ``support`` times (each path situation is
    one distinct observation; a coincidence halves its chance with each)."""
    return LearnedInvariant(template=lst.template.id, expr=expr, kind=kind, support=support, distinct=support,
                            confidence=1 - 0.5**support, examples=[], params=params)


# ---------------------------------------------------------------- checking


def check_collection(inv: LearnedInvariant, path: Sequence[StepResult]) -> list[dict[str, Any]]:
    index = len(path) - 1
    step = path[index]
    pattern, params = inv.params["pattern"], inv.params
    if inv.kind == "list-shape":
        failures = []
        for obj in objects_at(response_body(step), pattern):
            required = params.get("required", params["fields"])
            bad = {
                k: ("<missing>" if k not in obj else obj[k])
                for k, allowed in params["fields"].items()
                if (k in required if k not in obj else json_type(obj[k]) not in allowed)
            }
            if bad:
                shown = {k: obj[k] for k in list(obj)[:6]}
                failures.append({"object": shown, **{child_path(pattern, k): v for k, v in bad.items()}})
        return failures
    key = params["key"]
    if inv.kind == "deleted-unlisted":
        if step.template.id != inv.template or not succeeded(step):
            return []
        listed = _listed(step, pattern, key)
        return [
            {child_path(pattern, key): listed[value], "deleted at step": at + 1, "deleted by": path[at].request.path}
            for (prefix, value), at in deleted_before(path, index).items()
            if prefix == params["delete_prefix"] and value in listed
        ]
    if inv.kind == "listed-readable":
        if step.template.id == inv.template:
            return _listed_but_unreadable(path, index, pattern, key, params["read"])
        if step.template.id == params["read"] and rejected(step):
            j = _latest_listing(path, index, inv.template, pattern, key, _last_param(step))
            if j is not None and only_reads_between(path, j, index):
                return [{child_path(pattern, key): _last_param(step), "listed at step": j + 1, "read status": step.response.status}]
    return []
