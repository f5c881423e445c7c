"""Inference on RPC-style and conditional traffic: values bound with evidence, effects from behaviour.

- Small ids of RPC-style APIs are bound to the create that produced them, counters (``page``,
  ``limit``) never on equality alone, and versions (``If-Match``, ``last_modified``) to the resource
  they came from.
- A call is a delete, an archive or a restore because of what the recording showed right after it (a
  later read of the same id answered 404 or showed it deleted, archived or alive again), not only
  because of its method or its name; DELETEs stay deletes.

The recordings are built in memory with the shapes of real traffic: MLflow's REST API
(``POST /api/2.0/mlflow/<noun>/<verb>``, ids ``"1"``, ``"2"`` from a sequence, in JSON bodies and query
strings; see tests/apps/mlflow_client_traffic.py and bench/results/fidelity_baseline.md), a paged
listing whose ``page`` equals the ids created before it, and Kinto's conditional writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venom_replay.proxy.infer.bindings import belongs_to_resource
from venom_replay.proxy.infer.effects import BehaviourAcc, FollowUps, classify_effect, shown_state
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.path_patterns import PARAM
from venom_replay.proxy.recording import Exchange, Header, Recording, Request, Response

JSON_CT = [("Content-Type", "application/json")]
ML = "/api/2.0/mlflow"


class Rec:
    """An in-memory recording, one exchange per ``call``."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def call(self, method: str, path: str, status: int = 200, answer: Any = None, *, body: Any = None,
             query: list[tuple[str, str]] | None = None, headers: list[tuple[str, str]] | None = None,
             answer_headers: list[tuple[str, str]] | None = None, session: str = "s") -> None:
        seq = len(self.exchanges) + 1
        req = Request(method, "http", "api", 80, path, query or [], JSON_CT + (headers or []),
                      json.dumps(body).encode() if body is not None else b"")
        resp = Response(status, "", JSON_CT + (answer_headers or []), json.dumps(answer).encode() if answer is not None else b"")
        self.exchanges.append(Exchange(seq, session, float(seq), seq + 0.5, req, resp))

    def infer(self):
        rec = Recording(Path("t.vrec"), Header("venom-replay-recording", 1, 0.0), self.exchanges, [],
                        len(self.exchanges) + 1, False, None, 0)
        return infer_templates(rec)


def bindings(tset) -> dict[tuple[str, str], tuple[str, str]]:
    return {(t.id, c.location): (c.producer, c.source) for t in tset.templates.values() for c in t.consumes}


def mlflow_like(as_int: bool) -> Rec:
    """Two experiments (ids 1 and 2), one run, a grant, a delete and a restore; ids as strings (MLflow)
    or as JSON integers."""
    r = Rec()
    one, two = (1, 2) if as_int else ("1", "2")
    run_id = "bc2679fc79914137b9ddec587dd4c673"
    r.call("POST", f"{ML}/experiments/create", answer={"experiment_id": one}, body={"name": "churn"})
    r.call("POST", f"{ML}/experiments/create", answer={"experiment_id": two}, body={"name": "pricing"})
    r.call("GET", f"{ML}/experiments/get", query=[("experiment_id", str(one))],
           answer={"experiment": {"experiment_id": one, "name": "churn", "lifecycle_stage": "active"}})
    r.call("POST", f"{ML}/experiments/set-experiment-tag", answer={}, body={"experiment_id": one, "key": "owner", "value": "a"})
    r.call("POST", f"{ML}/runs/create", body={"experiment_id": one, "start_time": 1700000000000},
           answer={"run": {"info": {"run_id": run_id, "experiment_id": one, "lifecycle_stage": "active"}}})
    for step in range(3):  # steps 0, 1, 2: small numbers everywhere
        r.call("POST", f"{ML}/runs/log-metric", answer={}, body={"run_id": run_id, "key": "loss", "value": 0.5, "step": step})
    r.call("POST", f"{ML}/runs/search", body={"experiment_ids": [one], "max_results": 1000},
           answer={"runs": [{"info": {"run_id": run_id, "experiment_id": one}}]})
    r.call("POST", "/api/3.0/mlflow/users/permissions/grant", answer={},
           body={"username": "bob", "resource_type": "experiment", "resource_id": one, "permission": "READ"})
    r.call("GET", "/api/3.0/mlflow/users/permissions/get", answer={"permission": "READ"},
           query=[("username", "bob"), ("resource_type", "experiment"), ("resource_id", str(one))])
    r.call("POST", f"{ML}/experiments/delete", answer={}, body={"experiment_id": two})
    r.call("GET", f"{ML}/experiments/get", query=[("experiment_id", str(two))],
           answer={"experiment": {"experiment_id": two, "name": "pricing", "lifecycle_stage": "deleted"}})
    r.call("POST", f"{ML}/experiments/restore", answer={}, body={"experiment_id": two})
    r.call("GET", f"{ML}/experiments/get", query=[("experiment_id", str(two))],
           answer={"experiment": {"experiment_id": two, "name": "pricing", "lifecycle_stage": "active"}})
    return r


@pytest.mark.parametrize("as_int", [False, True], ids=["string-ids", "integer-ids"])
def test_small_rpc_ids_bind_to_the_create_that_produced_them(as_int):
    """Single-example templates (delete, restore, tag) included: the create is the evidence."""
    tset = mlflow_like(as_int).infer()
    found = bindings(tset)
    create = (f"POST {ML}/experiments/create", "body:$.experiment_id")
    for tid, loc in [
        (f"GET {ML}/experiments/get", "query:experiment_id"),
        (f"POST {ML}/experiments/set-experiment-tag", "body:$.experiment_id"),
        (f"POST {ML}/runs/create", "body:$.experiment_id"),
        (f"POST {ML}/runs/search", "body:$.experiment_ids[0]"),
        (f"POST {ML}/experiments/delete", "body:$.experiment_id"),
        (f"POST {ML}/experiments/restore", "body:$.experiment_id"),
        ("POST /api/3.0/mlflow/users/permissions/grant", "body:$.resource_id"),  # resource_type says: an experiment
        ("GET /api/3.0/mlflow/users/permissions/get", "query:resource_id"),
    ]:
        assert found.get((tid, loc)) == create, (tid, loc, found.get((tid, loc)))
    # steps 0..2 and the like are values, not ids
    assert (f"POST {ML}/runs/log-metric", "body:$.step") not in found
    assert tset.templates[f"POST {ML}/experiments/create"].effect == "create"


def test_a_generic_id_binds_only_to_the_kind_its_sibling_names():
    """``resource_id`` beside ``resource_type: "model"``: the experiment that has the same id is not it."""
    r = Rec()
    r.call("POST", f"{ML}/experiments/create", answer={"experiment_id": "1"}, body={"name": "churn"})
    r.call("POST", "/api/3.0/mlflow/users/permissions/grant", answer={},
           body={"username": "bob", "resource_type": "model", "resource_id": "1"})
    assert bindings(r.infer()) == {}


def test_page_and_limit_never_bind_to_ids_they_equal():
    """The FastAPI case: ``GET /posts?page=1`` was bound to ``POST /posts -> $.id`` (page 1 was id 1),
    and every explored list read skipped every row."""
    r = Rec()
    for i in range(1, 5):
        r.call("POST", "/posts", 201, {"id": i, "title": f"t{i}"}, body={"title": f"t{i}"})
        r.call("GET", "/posts", answer={"items": [{"id": j} for j in range(1, i + 1)], "count": i},
               query=[("page", str(i)), ("limit", str(i))])
        r.call("GET", f"/posts/{i}", answer={"id": i, "title": f"t{i}"})
    tset = r.infer()
    found = bindings(tset)
    assert ("GET /posts", "query:page") not in found and ("GET /posts", "query:limit") not in found
    assert found[("GET /posts/{post_id}", "path:post_id")] == ("POST /posts", "body:$.id")
    assert {f.location for f in tset.templates["GET /posts"].fields} >= {"query:page", "query:limit"}


def test_a_counter_binds_from_a_source_of_its_own_name():
    """A page number the previous answer named (``$.page`` -> ``?page=``) is a flow, not a coincidence."""
    r = Rec()
    for page in (1, 2, 3):
        r.call("GET", "/feed", answer={"items": [page * 10], "page": page + 1}, query=[("page", str(page))])
    assert bindings(r.infer()).get(("GET /feed", "query:page")) == ("GET /feed", "body:$.page")


def test_a_small_value_with_only_equality_stays_an_input():
    """``label: 2`` sent once after a create answered id 2: no name, no create of labels, no repetition."""
    r = Rec()
    r.call("POST", "/orders", 201, {"id": 2}, body={"item": "x"})
    r.call("POST", "/shipments", 201, {"id": 9}, body={"label": 2})
    assert ("POST /shipments", "body:$.label") not in bindings(r.infer())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["create", "list", "get", "delete"]), st.integers(0, 9),
                          st.sampled_from(["page", "limit", "offset", "count", "max_results"])), min_size=1, max_size=25),
       st.booleans())
def test_counters_never_bind_and_rpc_ids_always_do(ops, as_int):
    """Random sessions of an RPC-style API whose ids 1, 2, 3... coincide with the pages, limits and
    counts the client sends: every id the client sends back is bound to the create, no counter is."""
    r = Rec()
    made: list[int] = []
    truth: set[str] = set()
    for op, pick, counter in ops:
        if op == "create" or not made:
            made.append(len(made) + 1)
            new = made[-1] if as_int else str(made[-1])
            r.call("POST", "/api/widgets/create", answer={"widget_id": new, "rev": pick}, body={"name": f"w{pick}"})
        elif op == "list":
            r.call("POST", "/api/widgets/search", answer={"widgets": [{"widget_id": w} for w in made]},
                   body={counter: pick % (len(made) + 1) + 1})
        else:
            wid = made[pick % len(made)]
            sent = wid if as_int else str(wid)
            if op == "get":
                r.call("GET", "/api/widgets/get", query=[("widget_id", str(wid))], answer={"widget": {"widget_id": sent}})
                truth.add("GET /api/widgets/get query:widget_id")
            else:
                r.call("POST", "/api/widgets/delete", answer={}, body={"widget_id": sent})
                truth.add("POST /api/widgets/delete body:$.widget_id")
                made.remove(wid)
    found = {f"{tid} {loc}": producer for (tid, loc), producer in bindings(r.infer()).items()}
    assert not [loc for loc in found if loc.startswith("POST /api/widgets/search")], found
    for loc in truth:
        assert found.get(loc) == ("POST /api/widgets/create", "body:$.widget_id"), (loc, found)


def kinto_like() -> Rec:
    """Two records created with ``If-None-Match: *``, each read, then each updated with ``If-Match``
    and the ``last_modified`` it read: the read of B comes between A's read and A's update."""
    r = Rec()
    base = "/v1/buckets/shop/collections/orders/records"
    a, b = "8a0cc3d2-80c0-420b-a743-5f9ef8feef45", "bed9b4ab-7ca6-4c1d-ac82-fd0d3d4b08fc"
    for rid, ts in ((a, 1796601485308), (b, 1796601485321)):
        r.call("PUT", f"{base}/{rid}", 201, {"data": {"id": rid, "last_modified": ts}}, body={"data": {"n": 1}},
               headers=[("If-None-Match", "*")], answer_headers=[("ETag", f'"{ts}"')])
    for rid, ts in ((a, 1796601485308), (b, 1796601485321)):
        r.call("GET", f"{base}/{rid}", answer={"data": {"id": rid, "last_modified": ts}}, answer_headers=[("ETag", f'"{ts}"')])
    for rid, ts, new in ((a, 1796601485308, 1796601485400), (b, 1796601485321, 1796601485401)):
        r.call("PUT", f"{base}/{rid}", answer={"data": {"id": rid, "last_modified": new}},
               body={"data": {"n": 2, "last_modified": ts}}, headers=[("If-Match", f'"{ts}"')], answer_headers=[("ETag", f'"{new}"')])
    return r


def test_versions_sent_back_belong_to_the_same_resource():
    tset = kinto_like().infer()
    put = tset.templates["PUT /v1/buckets/shop/collections/orders/records/{record_id}"]
    by_loc = {c.location: c for c in put.consumes}
    assert by_loc["header:If-Match"].source == "header:ETag"
    assert by_loc["header:If-Match"].same_resource
    assert by_loc["body:$.data.last_modified"].same_resource
    assert not [c for t in tset.templates.values() for c in t.consumes if c.same_resource and c.location not in by_loc]


@pytest.mark.parametrize(("location", "source", "expected"), [
    ("header:If-Match", "header:ETag", True),
    ("header:If-None-Match", "header:ETag", True),
    ("header:If-Unmodified-Since", "header:Last-Modified", True),
    ("body:$.data.last_modified", "body:$.data.last_modified", True),
    ("body:$.version", "header:ETag", True),
    ("query:version", "body:$.version", True),
    ("header:Authorization", "body:$.token", False),
    ("body:$.version", "body:$.api_version", False),  # shares a name, is no version of this resource
    ("body:$.order_id", "body:$.id", False),
    ("path:item_id", "header:Location", False),
])
def test_which_values_belong_to_the_resource(location, source, expected):
    assert belongs_to_resource(location, source) is expected


# ---------------------------------------------------------------- effects from behaviour


def effects(r: Rec) -> dict[str, str]:
    return {t.id: t.effect for t in r.infer().templates.values()}


def test_mlflow_shaped_delete_and_restore_come_from_what_followed():
    found = effects(mlflow_like(as_int=False))
    assert found[f"POST {ML}/experiments/delete"] == "delete"
    assert found[f"POST {ML}/experiments/restore"] == "restore"
    assert found[f"POST {ML}/runs/search"] == "read"
    assert found[f"GET {ML}/experiments/get"] == "read"
    assert found[f"POST {ML}/experiments/set-experiment-tag"] == "action"


def test_an_unnamed_call_that_a_404_follows_deletes():
    """``POST /things/{id}/discard``: no method, no verb says delete; the 404 that followed does."""
    r = Rec()
    for i in (11, 12):
        r.call("POST", "/things", 201, {"id": f"t-{i}aa"}, body={"n": i})
        r.call("GET", f"/things/t-{i}aa", answer={"id": f"t-{i}aa"})
        r.call("POST", f"/things/t-{i}aa/discard", answer={"ok": True})
        r.call("GET", f"/things/t-{i}aa", 404, {"error": "not found"})
    assert effects(r)["POST /things/{thing_id}/discard"] == "delete"


def test_archive_by_what_the_read_shows_and_not_by_a_compound_verb():
    r = Rec()
    r.call("POST", "/api/boards.create", answer={"board_id": "B7Q2K9X1M3"}, body={"name": "x"})
    r.call("POST", "/api/boards.close", answer={}, body={"board_id": "B7Q2K9X1M3"})
    r.call("GET", "/api/boards.info", query=[("board_id", "B7Q2K9X1M3")], answer={"board": {"status": "archived"}})
    r.call("POST", "/api/boards.delete-label", answer={}, body={"board_id": "B7Q2K9X1M3", "label": "x"})
    r.call("GET", "/api/boards.info", query=[("board_id", "B7Q2K9X1M3")], answer={"board": {"status": "archived"}})
    found = effects(r)
    assert found["POST /api/boards.close"] == "archive"
    assert found["GET /api/boards.info"] == "read"
    # "delete-label" deletes a label, not the board: no verb match, and the board it named was no
    # more archived after it than before
    assert found["POST /api/boards.delete-label"] != "delete"


def test_a_delete_verb_that_the_recording_contradicts_is_no_delete():
    """``POST .../delete`` after which the object reads back alive and unchanged (it deleted a draft of it)."""
    r = Rec()
    r.call("POST", "/api/docs/create", answer={"doc_id": "D-93jd82kd"}, body={"title": "x"})
    r.call("POST", "/api/docs/delete", answer={}, body={"doc_id": "D-93jd82kd", "draft": True})
    r.call("GET", "/api/docs/get", query=[("doc_id", "D-93jd82kd")], answer={"doc": {"doc_id": "D-93jd82kd", "status": "published"}})
    assert effects(r)["POST /api/docs/delete"] == "action"


def test_a_delete_verb_with_no_follow_up_is_a_delete_by_name():
    r = Rec()
    r.call("POST", "/api/docs/create", answer={"doc_id": "D-93jd82kd"}, body={"title": "x"})
    r.call("POST", "/api/docs/delete", answer={}, body={"doc_id": "D-93jd82kd"})
    assert effects(r)["POST /api/docs/delete"] == "delete"


def test_a_restore_read_back_alive_is_a_restore_even_unseen_deleted():
    """delete then restore with no read between: the read after the restore shows the object alive."""
    r = Rec()
    r.call("POST", "/api/docs/create", answer={"doc_id": "D-93jd82kd"}, body={"title": "x"})
    r.call("POST", "/api/docs/delete", answer={}, body={"doc_id": "D-93jd82kd"})
    r.call("POST", "/api/docs/restore", answer={}, body={"doc_id": "D-93jd82kd"})
    r.call("GET", "/api/docs/get", query=[("doc_id", "D-93jd82kd")], answer={"doc": {"doc_id": "D-93jd82kd", "status": "active"}})
    found = effects(r)
    assert (found["POST /api/docs/delete"], found["POST /api/docs/restore"]) == ("delete", "restore")


def test_the_latest_write_before_a_read_is_the_one_it_speaks_for():
    """set-tag named the run by ``run_uuid`` and ``run_id``, the delete by ``run_id`` only: the read that
    shows the run deleted (naming it both ways) credits the delete alone."""
    follow = FollowUps()
    tag, delete = BehaviourAcc(), BehaviourAcc()
    run = "bc2679fc79914137b9ddec587dd4c673"
    follow.wrote([("o", "runuuid", run), ("o", "runid", run)], tag)
    follow.wrote([("o", "runid", run)], delete)
    follow.read([("o", "runuuid", run), ("o", "runid", run)], 200, {"run": {"info": {"lifecycle_stage": "deleted"}}})
    assert (tag.deleted, delete.deleted) == (0, 1)
    follow.read([("o", "runid", run)], 200, {"run": {"info": {"lifecycle_stage": "deleted"}}})
    assert delete.deleted == 1  # once per write
    assert tag.kept == 0 and delete.kept == 0


def test_follow_ups_memory_is_bounded(monkeypatch):
    import venom_replay.proxy.infer.effects as effects_module

    monkeypatch.setattr(effects_module, "FOLLOW_UP_GENERATION", 100)
    follow = FollowUps()
    acc = BehaviourAcc()
    for i in range(10_000):
        follow.wrote([("o", "id", str(i))], acc)
    assert len(follow.new) + len(follow.old) <= 200


@pytest.mark.parametrize(("body", "state"), [
    ({"experiment": {"experiment_id": "2", "lifecycle_stage": "deleted"}}, "deleted"),
    ({"run": {"info": {"lifecycle_stage": "deleted"}}}, "deleted"),
    ({"data": {"id": "x", "deleted": True}}, "deleted"),
    ({"status": "archived"}, "archived"),
    ({"archived_at": "2024-01-01T00:00:00Z"}, "archived"),
    ({"item": {"deleted_at": None, "status": "active"}}, "live"),
    ({"deleted": 1}, "live"),  # a database's 1 is no JSON true: the orders API answers it for its planted bug
    ({"items": [{"status": "deleted"}]}, "live"),  # a listed child's marker says nothing of the answer
    (None, "live"),
])
def test_shown_state(body, state):
    assert shown_state(body) == state


def test_delete_methods_stay_deletes_and_reads_stay_reads():
    deleted = BehaviourAcc(kept=5)  # even where reads after it showed the object alive (the bug to find)
    assert classify_effect("DELETE", ("orders", PARAM), 0, 0, 3, deleted) == "delete"
    assert classify_effect("GET", ("orders", PARAM), 0, 0, 3, BehaviourAcc(gone=3)) == "read"
    assert classify_effect("POST", ("orders",), 3, 3, 3) == "create"
    assert classify_effect("POST", ("orders", PARAM, "refund"), 0, 0, 3) == "action"


def test_demo_shop_effects_unchanged(shop_recording):
    tset = infer_templates(shop_recording)
    by_method = {t.id: t.effect for t in tset.templates.values()}
    assert {tid for tid, e in by_method.items() if e == "delete"} == {tid for tid in by_method if tid.startswith("DELETE ")}
    assert all(e == "read" for tid, e in by_method.items() if tid.startswith("GET "))
    assert not {e for e in by_method.values()} & {"archive", "restore"}
