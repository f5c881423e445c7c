"""Property tests over inference (hypothesis): no crash on arbitrary traffic, and a generated API
whose true bindings are known is recovered exactly: every true flow found, no false one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.instantiate import extract_values, missing_values, render_request
from venom_replay.proxy.recording import Exchange, Header, Recording, Request, Response

JSON_CT = [("Content-Type", "application/json")]


def _recording(exchanges: list[Exchange]) -> Recording:
    return Recording(Path("generated.vrec"), Header("venom-replay-recording", 1, 0.0), exchanges, [], len(exchanges) + 1, False, None, 0)


# ---------------------------------------------------------------- no crash on anything

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=12)
segments = st.one_of(st.sampled_from(["items", "orders", "a b", "%20", "..", ""]), st.integers(0, 300).map(str),
                     st.uuids().map(str), st.text(max_size=10).filter(lambda s: "/" not in s and "?" not in s))
header_pairs = st.lists(st.tuples(st.sampled_from(["Authorization", "Cookie", "If-Match", "X-Id", "Content-Type", "Location", "ETag", "Set-Cookie"]),
                                  st.text(max_size=20)), max_size=4)


@st.composite
def arbitrary_exchange(draw, seq: int = 0):
    body = draw(st.one_of(st.binary(max_size=30), json_values.map(lambda v: json.dumps(v).encode())))
    resp_body = draw(st.one_of(st.binary(max_size=30), json_values.map(lambda v: json.dumps(v).encode())))
    path = "/" + "/".join(draw(st.lists(segments, max_size=4)))
    req = Request(draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "weird"])), "http", "h", 80, path,
                  draw(st.lists(st.tuples(st.text(max_size=5), st.text(max_size=8)), max_size=3)),
                  draw(header_pairs) + JSON_CT, body)
    resp = None if draw(st.integers(0, 9)) == 0 else Response(draw(st.integers(100, 599)), "", draw(header_pairs) + JSON_CT, resp_body)
    return Exchange(seq, draw(st.sampled_from(["s1", "s2"])), 0.0, 0.0, req, resp)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(arbitrary_exchange(), max_size=25))
def test_no_crash_on_arbitrary_exchanges(exchanges):
    for i, ex in enumerate(exchanges, 1):
        ex.seq = i
    tset = infer_templates(_recording(exchanges))
    assert sum(t.count for t in tset.templates.values()) + tset.ignored == len(exchanges)
    for tpl in tset.templates.values():
        for c in tpl.consumes:
            assert any(p.source == c.source for p in tset.templates[c.producer].produces)
        render_request(tpl, {})
        if tpl.example_response is not None:
            extract_values(tpl, tpl.example_response)


# ---------------------------------------------------------------- a generated API with known flows


@st.composite
def generated_api(draw):
    """Resources r0..rN, some nested under a parent; sessions create, read, update, delete them.

    The sessions are named (``hdr:``, as ``X-Venom-Session`` records them), so inference keeps them
    apart even where one reads what another created (flow grouping would join those: test_flow_sessions.py).

    Truth: each read/update/delete (and nested create) of a resource consumes the id its create
    produced. Ids are UUIDs, large integers, or small integers counted from 1 per resource the way
    database sequences hand them out: then ``1`` is at once an id of every resource, a quantity the
    client sends, a revision and a count in the answers, and only the structure of the flow tells
    them apart (such coincidences must never become bindings).
    """
    n = draw(st.integers(1, 4))
    id_kinds = [draw(st.sampled_from(["uuid", "int", "small"])) for _ in range(n)]
    uuid_ids = [kind == "uuid" for kind in id_kinds]
    next_small = [iter(range(1, 10**6)) for _ in range(n)]
    says_where = [draw(st.booleans()) for _ in range(n)]  # the create also answers with a Location header
    parent = [None] + [draw(st.one_of(st.none(), st.integers(0, k - 1))) for k in range(1, n)]
    sessions = draw(st.lists(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(["create", "get", "put", "delete", "peek"]),
                                                st.integers(0, 50)), min_size=1, max_size=15), min_size=1, max_size=4))
    counter = iter(range(10**6))
    exchanges: list[Exchange] = []
    truth: set[tuple[str, str, str, str]] = set()
    hints: set[tuple[str, str, str]] = set()  # (consumer, location, producer) seen across sessions only
    earlier: dict[int, list[dict[int, str]]] = {}  # what earlier sessions created (and left)

    def coll(k: int) -> str:
        return f"/r{k}s" if parent[k] is None else f"{coll(parent[k])}/{{r{parent[k]}_id}}/r{k}s"

    def concrete(k: int, chain: dict[int, str]) -> str:
        return f"/r{k}s" if parent[k] is None else f"{concrete(parent[k], chain)}/{chain[parent[k]]}/r{k}s"

    def consume(consumer: str, k: int) -> None:
        truth.add((consumer, f"path:r{k}_id", f"POST {coll(k)}", "body:$.id"))
        if parent[k] is not None:
            consume(consumer, parent[k])

    for s, ops in enumerate(sessions):
        live: dict[int, list[dict[int, str]]] = {}  # resource -> chains of ids (own and ancestors)
        for k, op, pick in ops:
            if op == "peek":
                # Read what another session created (an admin looks at a shopper's order): no
                # binding can carry that over, the flow is a cross-session hint.
                if parent[k] is not None or not earlier.get(k) or id_kinds[k] == "small":
                    continue  # small ids of other sessions coincide with this session's own
                chain = earlier[k][pick % len(earlier[k])]
                answer = {"id": chain[k] if uuid_ids[k] else int(chain[k]), "rev": 1}
                exchanges.append(Exchange(0, f"hdr:s{s}", 0, 0, Request("GET", "http", "api", 80, f"{concrete(k, chain)}/{chain[k]}", [], JSON_CT, b""),
                                          Response(200, "", JSON_CT, json.dumps(answer).encode())))
                hints.add((f"GET {coll(k)}/{{r{k}_id}}", f"path:r{k}_id", f"POST {coll(k)}"))
                continue
            if op == "create" or not live.get(k):
                if parent[k] is not None and not live.get(parent[k]):
                    continue  # no parent yet in this session: a real client could not do this either
                chain = dict(live[parent[k]][pick % len(live[parent[k]])]) if parent[k] is not None else {}
                if id_kinds[k] == "uuid":
                    rid = str(uuid.UUID(int=next(counter) + 7 * 10**20))
                elif id_kinds[k] == "int":
                    rid = str(10**6 + next(counter) * 7)
                else:
                    rid = str(next(next_small[k]))
                body = {"name": f"in-{s}-{len(exchanges)}", "qty": pick}
                resp = {"id": rid if uuid_ids[k] else int(rid), "name": body["name"], "rev": 1, "count": pick % 4}
                where = [("Location", f"{concrete(k, chain)}/{rid}")] if says_where[k] else []
                exchanges.append(Exchange(0, f"hdr:s{s}", 0, 0, Request("POST", "http", "api", 80, concrete(k, chain), [], JSON_CT, json.dumps(body).encode()),
                                          Response(201, "", JSON_CT + where, json.dumps(resp).encode())))
                if parent[k] is not None:
                    consume(f"POST {coll(k)}", parent[k])
                chain[k] = rid
                live.setdefault(k, []).append(chain)
                continue
            chain = live[k][pick % len(live[k])]
            path = f"{concrete(k, chain)}/{chain[k]}"
            tpl_path = f"{coll(k)}/{{r{k}_id}}"
            method = {"get": "GET", "put": "PUT", "delete": "DELETE"}[op]
            body = json.dumps({"name": f"in-{s}-{len(exchanges)}"}).encode() if op == "put" else b""
            answer = {"id": chain[k] if uuid_ids[k] else int(chain[k]), "rev": 1 + pick % 3, "open": pick % 7}
            status, rbody = (204, b"") if op == "delete" else (200, json.dumps(answer).encode())
            exchanges.append(Exchange(0, f"hdr:s{s}", 0, 0, Request(method, "http", "api", 80, path, [], JSON_CT, body), Response(status, "", JSON_CT, rbody)))
            consume(f"{method} {tpl_path}", k)
            if op == "delete":
                live[k].remove(chain)
        for k, chains in live.items():
            earlier.setdefault(k, []).extend(chains)
    for i, ex in enumerate(exchanges, 1):
        ex.seq = i
    return exchanges, truth, hints


def _check_recovered(exchanges, truth, hints):
    tset = infer_templates(_recording(exchanges))
    found = {(t.id, c.location, c.producer, c.source) for t in tset.templates.values() for c in t.consumes}
    assert found <= truth, f"false bindings: {found - truth}"
    # Every flow is recoverable: distinctive ids on sight, small ones from the structure of the flow
    # (the parameter addresses the collection that the producer created).
    assert truth <= found, f"missed bindings: {truth - found}"
    for tpl in tset.templates.values():
        assert tpl.id == f"{tpl.method} {tpl.path}"
        values = {(c.producer, c.source): "X" for c in tpl.consumes}
        assert missing_values(tpl, values) == []
    # Reads of what another session created are noted, never bound from another session.
    noted = {(t.id, h.location, h.producer) for t in tset.templates.values() for h in t.cross_session}
    assert hints <= noted, f"cross-session flows not noted: {hints - noted}"
    assert {(c, loc) for c, loc, _ in noted} <= {(c, loc) for c, loc, _ in hints}, f"hints with no cross-session flow: {noted - hints}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_api())
def test_generated_api_bindings_recovered_without_false_ones(api):
    _check_recovered(*api)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_api())
def test_generated_api_bindings_long_run(api):
    _check_recovered(*api)
