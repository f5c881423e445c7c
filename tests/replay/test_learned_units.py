"""Learners and the checker on synthetic templates (pure logic: in-memory recordings, no servers).

The synthetic traffic comes from ``support.learned_traffic``.
"""

from __future__ import annotations

import json

import pytest

from venom_replay.replay.learned.learn import LearnConfig, LearnedChecker
from support.learned_traffic import Traffic, run_path


def exprs(invariants, template: str | None = None, kind: str | None = None) -> set[str]:
    return {i.expr for i in invariants if (template is None or i.template == template) and (kind is None or i.kind == kind)}


# ---------------------------------------------------------------- orders: relations


ORDERS = [(100, [30, 70]), (40, [40]), (250, [100]), (80, [30]), (60, []), (120, [120]), (90, [50, 20])]


def order_traffic() -> Traffic:
    t = Traffic("POST /orders", "GET /orders/{order_id}", "POST /orders/{order_id}/refund", "GET /orders")
    listed = []
    for n, (amount, refunds) in enumerate(ORDERS, start=1):
        s = f"s{n}"
        order = {"id": n, "amount": amount, "refunded": 0, "status": "paid"}
        t.call(s, "POST /orders", 201, dict(order), sent={"amount": amount})
        t.call(s, f"GET /orders/{n}", 200, dict(order))
        for r in refunds:
            order["refunded"] += r
            order["status"] = "refunded" if order["refunded"] == amount else "paid"
            t.call(s, f"POST /orders/{n}/refund", 200, dict(order), sent={"amount": r})
        t.call(s, f"GET /orders/{n}", 200, dict(order))
        listed.append(dict(order))
        t.call(s, "GET /orders", 200, {"orders": [dict(o) for o in listed]})
    return t


def test_relation_learned_with_support_and_variation():
    invs = order_traffic().learn()
    refund = exprs(invs, "POST /orders/{order_id}/refund")
    assert "$.refunded <= $.amount" in refund
    read = [i for i in invs if i.template == "GET /orders/{order_id}" and i.expr == "$.refunded <= $.amount"][0]
    assert read.support == 14 and read.distinct >= 8 and 0.5 < read.confidence <= 1
    assert read.examples and {"refunded", "amount"} <= set(read.examples[0])
    # The list's objects carry the same relation, per element.
    assert "$.orders[*].refunded <= $.orders[*].amount" in exprs(invs, "GET /orders")
    # Ids are counters, never quantities: no relation mentions them.
    assert not any("$.id" in e and ("<=" in e or "==" in e) for e in exprs(invs, kind="le") | exprs(invs, kind="eq"))


def test_identical_repeats_are_not_evidence():
    t = Traffic("GET /quota")
    for s in range(10):
        t.call(f"s{s}", "GET /quota", 200, {"used": 3, "quota": 10})
    invs = t.learn()
    assert not exprs(invs, kind="le") and not exprs(invs, kind="non-negative")
    # Types need support only, not variation, but their confidence stays low without it.
    typed = [i for i in invs if i.kind == "type" and i.expr == "$.used is number"]
    assert typed and typed[0].confidence <= 0.5


def test_disjoint_ranges_do_not_make_a_relation():
    # `rank` is always small and `score` always large: rank <= score holds by range alone.
    t = Traffic("GET /players/{pid}")
    for n, (rank, score) in enumerate([(1, 500), (2, 900), (3, 450), (4, 700), (5, 820), (6, 610)], start=1):
        t.call("s", f"GET /players/{n}", 200, {"pid": n, "rank": rank, "score": score})
    assert "$.rank <= $.score" not in exprs(t.learn())


def test_equality_and_sum_relations():
    t = Traffic("GET /invoices/{iid}")
    for n, (sub, tax) in enumerate([(100, 20), (50, 10), (30, 6), (80, 16), (10, 2)], start=1):
        t.call("s", f"GET /invoices/{n}", 200, {"iid": n, "subtotal": sub, "tax": tax, "total": sub + tax, "charged": sub + tax})
    learned = exprs(t.learn())
    assert "$.total == $.subtotal + $.tax" in learned
    assert "$.charged == $.total" in learned or "$.total == $.charged" in learned


def test_domains_enum_format_non_negative_and_volatile_left_out():
    t = Traffic("GET /things/{tid}", volatile={"GET /things/{tid}": ["$.seen_at"]})
    kinds = ["small", "large", "small", "large", "small", "small"]
    for n, kind in enumerate(kinds, start=1):
        t.call("s", f"GET /things/{n}", 200, {
            "tid": n, "uid": f"123e4567-e89b-12d3-a456-42661417400{n}", "size": kind, "stock": n * 3 - 3,
            "owner": f"u{n}@example.com", "seen_at": n * 1000.5, "link": f"https://x.test/{n}",
        })
    learned = exprs(t.learn())
    assert '$.size in {"large","small"}' in learned
    assert {"$.uid format uuid", "$.owner format email", "$.link format url", "$.stock >= 0"} <= learned
    assert not any("seen_at" in e for e in learned)


def test_client_chosen_strings_are_not_enumerations():
    t = Traffic("POST /pets")
    for n in range(12):
        name = ["rex", "tom", "kit"][n % 3]
        t.call("s", "POST /pets", 201, {"id": n, "name": name}, sent={"name": name})
    learned = exprs(t.learn())
    assert not any(e.startswith("$.name in") for e in learned)
    assert "$.name == request $.name" in learned  # the created object echoes the posted field


def test_echo_needs_variation_and_breaks_on_a_different_value():
    t = Traffic("PUT /notes/{nid}")
    for n, text in enumerate(["a", "b", "c", "d"], start=1):
        t.call("s", f"PUT /notes/{n}", 200, {"id": n, "text": text, "pinned": False}, sent={"text": text, "pinned": False})
    invs = t.learn()
    assert "$.text == request $.text" in exprs(invs)
    assert "$.pinned == request $.pinned" not in exprs(invs)  # always False: no variation
    tset, _ = t.build()
    checker = LearnedChecker(invs, {})
    found = run_path(checker, [t.step("PUT /notes/9", 200, {"id": 9, "text": "old"}, sent={"text": "new"})], tset)
    assert [v.details["invariant"] for v in found] == ["$.text == request $.text"]
    assert found[0].details["observed"] == [{"request $.text": "new", "$.text": "old"}]


# ---------------------------------------------------------------- the checker


def test_checker_reports_the_broken_relation_with_support_and_values():
    t = order_traffic()
    tset, _ = t.build()
    invs = t.learn()
    checker = LearnedChecker(invs, {})
    path = [
        t.step("POST /orders", 201, {"id": 9, "amount": 100, "refunded": 0, "status": "paid"}, sent={"amount": 100}),
        t.step("POST /orders/9/refund", 200, {"id": 9, "amount": 100, "refunded": 60, "status": "paid"}, sent={"amount": 60}),
        t.step("POST /orders/9/refund", 200, {"id": 9, "amount": 100, "refunded": 120, "status": "paid"}, sent={"amount": 60}),
    ]
    found = run_path(checker, path, tset)
    assert [v.details["invariant"] for v in found] == ["$.refunded <= $.amount"]
    v = found[0]
    assert v.checker == "learned" and v.details["support"] > 5
    assert v.details["observed"] == [{"$.refunded": 120, "$.amount": 100}]
    # Bucketed per template and kind of break, not per invariant or JSON path.
    assert v.signature == "learned:POST /orders/{order_id}/refund :: le"
    assert "120" in v.message and "support" not in v.message or "observations" in v.message


def test_broken_on_a_recorded_path_is_dropped_not_reported():
    t = order_traffic()
    tset, checker = t.checker()
    bad = [t.step("POST /orders/9/refund", 200, {"id": 9, "amount": 100, "refunded": 120, "status": "paid"}, sent={"amount": 60})]
    assert run_path(checker, bad, tset, recorded=True) == []
    dropped = {d.invariant.expr: d.reason for d in checker.dropped}
    assert "$.refunded <= $.amount" in dropped and "recorded path" in dropped["$.refunded <= $.amount"]
    assert checker.is_dropped("learned:POST /orders/{order_id}/refund :: le")
    # Once dropped it never reports again, even off the recorded path.
    assert run_path(checker, bad, tset) == []
    assert checker.summary()["dropped"][0]["reason"].startswith("broke on a recorded path")


def test_config_ignore_silences_one_invariant():
    t = order_traffic()
    tset, _ = t.build()
    entry = "POST /orders/{order_id}/refund :: $.refunded <= $.amount"
    checker = LearnedChecker(t.learn(), {"learned": {"ignore": [entry]}})
    bad = [t.step("POST /orders/9/refund", 200, {"id": 9, "amount": 100, "refunded": 120, "status": "paid"}, sent={"amount": 60})]
    assert run_path(checker, bad, tset) == []
    assert entry in [i.key for i in checker.ignored]


def test_config_file_ignore_and_bad_config(tmp_path):
    from venom_replay.proxy.errors import ConfigError

    good = tmp_path / "venom.toml"
    good.write_text('[learned]\nignore = ["GET /orders :: $.orders[*].refunded <= $.orders[*].amount"]\nmin_support = 4\n')
    t = order_traffic()
    checker = LearnedChecker(t.learn(), good)
    assert [i.expr for i in checker.ignored] == ["$.orders[*].refunded <= $.orders[*].amount"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[learned]\nignore = "everything"\n')
    with pytest.raises(ConfigError, match="ignore must be a list"):
        LearnedChecker([], bad)
    with pytest.raises(ConfigError, match="expected a number"):
        LearnConfig.from_mapping({"min_support": "five"})


def test_correct_unseen_orderings_raise_nothing():
    # A refused second refund (409) and an order read after both refunds: all fine on a correct API.
    t = order_traffic()
    tset, checker = t.checker()
    path = [
        t.step("POST /orders", 201, {"id": 9, "amount": 100, "refunded": 0, "status": "paid"}, sent={"amount": 100}),
        t.step("POST /orders/9/refund", 200, {"id": 9, "amount": 100, "refunded": 60, "status": "paid"}, sent={"amount": 60}),
        t.step("POST /orders/9/refund", 409, {"error": "refund exceeds the amount"}, sent={"amount": 60}),
        t.step("GET /orders/9", 200, {"id": 9, "amount": 100, "refunded": 60, "status": "paid"}),
        t.step("GET /orders", 200, {"orders": [{"id": 9, "amount": 100, "refunded": 60, "status": "paid"}]}),
    ]
    assert run_path(checker, path, tset) == []


# ---------------------------------------------------------------- collections and status


def notes_traffic() -> Traffic:
    t = Traffic("POST /notes", "GET /notes", "GET /notes/{nid}", "DELETE /notes/{nid}")
    for s in ("a", "b", "c"):
        ids = []
        for k in range(2):
            n = len(t.exchanges) + 100
            t.call(s, "POST /notes", 201, {"id": n, "text": f"{s}{k}", "done": False}, sent={"text": f"{s}{k}"})
            ids.append(n)
        t.call(s, "GET /notes", 200, [{"id": i, "text": "x", "done": False} for i in ids])
        t.call(s, f"GET /notes/{ids[0]}", 200, {"id": ids[0], "text": "x", "done": False})
        t.call(s, f"DELETE /notes/{ids[0]}", 204)
        t.call(s, "GET /notes", 200, [{"id": ids[1], "text": "x", "done": False}])
        t.call(s, f"GET /notes/{ids[0]}", 404, {"error": "not found"})
    return t


def test_collection_and_status_facts_learned():
    invs = notes_traffic().learn()
    learned = exprs(invs, "GET /notes")
    assert "$[*] has the fields of GET /notes/{nid}" in learned
    assert "ids at $[*].id are readable by GET /notes/{nid}" in learned
    assert "ids deleted by DELETE /notes/{nid} are not in $[*].id" in learned
    assert "status 4xx after its resource was deleted" in exprs(invs, "GET /notes/{nid}")
    unlisted = [i for i in invs if i.kind == "deleted-unlisted"][0]
    assert unlisted.support == 3


def test_deleted_but_still_listed_and_readable_is_found():
    t = notes_traffic()
    tset, checker = t.checker()
    path = [
        t.step("POST /notes", 201, {"id": 7, "text": "q", "done": False}, sent={"text": "q"}),
        t.step("DELETE /notes/7", 204),
        t.step("GET /notes", 200, [{"id": 7, "text": "q", "done": False}]),
        t.step("GET /notes/7", 200, {"id": 7, "text": "q", "done": False}),
    ]
    found = {v.details["invariant"]: v for v in run_path(checker, path, tset)}
    assert set(found) == {"ids deleted by DELETE /notes/{nid} are not in $[*].id", "status 4xx after its resource was deleted"}
    assert found["ids deleted by DELETE /notes/{nid} are not in $[*].id"].details["observed"][0]["$[*].id"] == 7


def test_listed_but_unreadable_and_wrong_shape_are_found():
    t = notes_traffic()
    tset, checker = t.checker()
    path = [
        t.step("GET /notes", 200, [{"id": 7, "text": "q"}]),
        t.step("GET /notes/7", 404, {"error": "not found"}),
    ]
    found = run_path(checker, path, tset)
    # The missing field breaks both the list's own type fact and the read's shape: one answer, one
    # finding that lists both; the 404 read of a listed id is another step, another finding.
    assert [[b["invariant"] for b in v.details["broken"]] for v in found] == [
        ["$[*].done is boolean", "$[*] has the fields of GET /notes/{nid}"],
        ["ids at $[*].id are readable by GET /notes/{nid}"],
    ]
    assert [v.signature for v in found] == ["learned:GET /notes :: type", "learned:GET /notes/{nid} :: listed-readable"]
    assert "2 learned invariants broke" in found[0].message and "<missing>" in found[0].message


def test_recreated_id_may_be_listed_again():
    # SQLite hands a freed rowid out again: the new note with the old id is listed, rightly.
    t = notes_traffic()
    tset, checker = t.checker()
    path = [
        t.step("POST /notes", 201, {"id": 7, "text": "q", "done": False}, sent={"text": "q"}),
        t.step("DELETE /notes/7", 204),
        t.step("POST /notes", 201, {"id": 7, "text": "r", "done": False}, sent={"text": "r"}),
        t.step("GET /notes", 200, [{"id": 7, "text": "r", "done": False}]),
        t.step("GET /notes/7", 200, {"id": 7, "text": "r", "done": False}),
    ]
    assert run_path(checker, path, tset) == []


def test_range_only_for_clamped_values_seen_on_many_objects():
    t = Traffic("GET /reviews/{rid}")
    stars = [1, 5, 3, 5, 1, 4, 2, 5, 1, 3, 4, 5, 1, 2, 3]
    for n, star in enumerate(stars, start=1):
        for _ in range(2):  # each review read twice: still one object per review
            t.call("s", f"GET /reviews/{n}", 200, {"rid": n, "stars": star, "likes": n * 7})
    learned = exprs(t.learn())
    assert "1 <= $.stars <= 5" in learned
    assert not any(e.startswith("7 <= $.likes") for e in learned)  # a counter's extremes are hit once
    # The same data with each bound hit by one review only: no range.
    t2 = Traffic("GET /reviews/{rid}")
    for n, star in enumerate([1, 2, 3, 4, 5, 2, 3, 4, 2, 3, 4, 3, 3, 2, 4], start=1):
        for _ in range(2):
            t2.call("s", f"GET /reviews/{n}", 200, {"rid": n, "stars": star})
    assert not [i for i in t2.learn() if i.kind == "range"]


def test_order_amounts_get_no_range():
    # Every order is listed again and again; its amount extremes belong to one order each.
    assert not [i for i in order_traffic().learn() if i.kind == "range"]


def test_replay_that_touches_other_objects_does_not_drop(tmp_path):
    # The recording deleted the note it had just created; a replay of the same calls that deletes a
    # note from before the path (its id bound from a list) is not the recorded path.
    t = notes_traffic()
    tset = t.write(tmp_path / "notes.vrec")
    checker = LearnedChecker(t.learn(), {})
    unfaithful = [
        t.step("POST /notes", 201, {"id": 50, "text": "a", "done": False}, sent={"text": "a"}),
        t.step("POST /notes", 201, {"id": 51, "text": "b", "done": False}, sent={"text": "b"}),
        t.step("GET /notes", 200, [{"id": 3, "text": "x", "done": False}, {"id": 50, "text": "a", "done": False}]),
        t.step("GET /notes/3", 200, {"id": 3, "text": "x", "done": False}),
        t.step("DELETE /notes/3", 204),
        t.step("GET /notes", 200, [{"id": 3, "text": "x", "done": False}]),
    ]
    assert run_path(checker, unfaithful, tset, recorded=True) == []
    assert checker.dropped == [] and [u.invariant.kind for u in checker.unconfirmed] == ["deleted-unlisted"]
    # The same break on a replay that follows the recording (its own note deleted) drops it.
    faithful = unfaithful[:2] + [
        t.step("GET /notes", 200, [{"id": 50, "text": "a", "done": False}, {"id": 51, "text": "b", "done": False}]),
        t.step("GET /notes/50", 200, {"id": 50, "text": "a", "done": False}),
        t.step("DELETE /notes/50", 204),
        t.step("GET /notes", 200, [{"id": 50, "text": "a", "done": False}, {"id": 51, "text": "b", "done": False}]),
    ]
    assert run_path(checker, faithful, tset, recorded=True) == []
    assert [d.invariant.kind for d in checker.dropped] == ["deleted-unlisted"]


def test_secret_fields_are_masked_and_never_enumerated():
    t = Traffic("POST /sessions")
    for n in range(8):
        token = ["t0k3n-aaaaaaaaaaaaaaaa", "t0k3n-bbbbbbbbbbbbbbbb"][n % 2]  # few values: would look like an enum
        t.call("s", "POST /sessions", 201, {"id": n, "api_token": token, "role": "member"})
    invs = t.learn()
    assert not any(e.startswith("$.api_token in") for e in exprs(invs))
    typed = next(i for i in invs if i.expr == "$.api_token is string")
    assert all("t0k3n" not in str(v) for v in typed.to_dict()["examples"])
    assert any("t0k3n" in str(v) for v in typed.to_dict(redact=False)["examples"])
    tset, _ = t.build()
    found = run_path(LearnedChecker(invs, {}), [t.step("POST /sessions", 201, {"id": 9, "api_token": 12345, "role": "member"})], tset)
    broken = next(v for v in found if v.details["invariant"] == "$.api_token is string")
    assert "12345" not in broken.message and "12345" not in json.dumps(broken.details)


# ---------------------------------------------------------------- presence, and enumerations of names


def sparse_runs_traffic() -> Traffic:
    """Runs of a server that leaves empty lists out (MLflow's JSON): every recorded read had metrics,
    some had params; each run is read several times, so per-run values repeat."""
    t = Traffic("GET /runs/{run_id}")
    for n in range(6):
        rid = f"{n:02d}9f2c1a0b3e4d5f6a7b8c9d0e1f2a3b"
        data = {"metrics": [{"key": "loss", "value": 0.5 / (n + 1)}]}
        if n % 2:
            data["params"] = [{"key": "lr", "value": "0.1"}]
        body = {"run": {"info": {"run_id": rid, "status": ["RUNNING", "FINISHED"][n % 2], "stage": "active",
                                 "artifact_uri": f"store:/1/{rid}/artifacts"}, "data": data}}
        for _ in range(4):
            t.call("s", f"GET /runs/{rid}", 200, body)
    return t


def test_lists_never_seen_empty_are_typed_when_present_not_required():
    invs = sparse_runs_traffic().learn()
    typed = {i.expr: i for i in invs if i.kind == "type"}
    assert "$.run.data.metrics is array when present" in typed
    assert typed["$.run.data.metrics is array when present"].params["required"] is False
    assert "$.run.data.params is array when present" in typed  # absent from half the reads
    assert typed["$.run.info.stage is string"].params["required"] is True  # a scalar always there stays required
    # An object with required fields of its own is a record and stays required; one holding only
    # lists never seen empty is a map the server may leave out.
    assert typed["$.run.info is object"].params["required"] is True
    assert "$.run.data is object when present" in typed
    tset, checker = sparse_runs_traffic().checker()
    fresh = {"run": {"info": {"run_id": "ff" * 16, "status": "RUNNING", "stage": "active",
                              "artifact_uri": f"store:/1/{'ff' * 16}/artifacts"}, "data": {}}}
    assert run_path(checker, [t_step(tset, fresh)], tset) == []
    # Present but of another type is still a finding, and a required scalar that went missing too.
    turned = {"run": {"info": {"run_id": "ff" * 16, "status": "RUNNING", "artifact_uri": "store:/x"},
                      "data": {"metrics": {"loss": 1}}}}
    found = run_path(checker, [t_step(tset, turned)], tset)
    assert len(found) == 1 and found[0].signature == "learned:GET /runs/{run_id} :: type"
    assert {b["invariant"] for b in found[0].details["broken"]} == {"$.run.data.metrics is array when present", "$.run.info.stage is string"}


def t_step(tset, body):
    from venom_replay.proxy.recording import Request, Response
    from venom_replay.replay.checkers.base import StepResult

    return StepResult(template=tset.templates["GET /runs/{run_id}"],
                      request=Request("GET", "http", "api.test", 80, "/runs/x", headers=[], body=b""),
                      response=Response(200, headers=[("Content-Type", "application/json")], body=json.dumps(body).encode()))


def test_no_enumeration_over_uris_or_values_each_object_has_for_itself():
    learned = exprs(sparse_runs_traffic().learn(), kind="enum")
    assert not any("artifact_uri" in e for e in learned)  # names the run: new run, new value
    assert not any("run_id" in e for e in learned)
    # Two statuses over six runs: each value shared by three runs, an enumeration...
    assert '$.run.info.status in {"FINISHED","RUNNING"}' in learned
    # ...but the same two values on two runs only are as many values as objects: no evidence of a set.
    t = Traffic("GET /runs/{run_id}")
    for n, status in enumerate(["RUNNING", "FINISHED"]):
        for _ in range(8):
            t.call("s", f"GET /runs/{n}", 200, {"run_id": n, "status": status})
    assert not exprs(t.learn(), kind="enum")


def test_identifier_looking_values_never_enumerate():
    from venom_replay.replay.learned.identifiers import looks_like_identifier

    for value in ("store:/1/9f2c/artifacts", "s3://bucket/key", "/v1/buckets/shop", "2024-05-01T10:00:00Z",
                  "9f2c1a0b3e4d5f6a", "12345", "123e4567-e89b-12d3-a456-426614174000", "tok3n4b5c6d7e8f9g0h1i2"):
        assert looks_like_identifier(value), value
    for value in ("active", "deleted", "RUNNING", "in_progress", "N/A", "v2", "application/json", "READ"):
        assert not looks_like_identifier(value), value
