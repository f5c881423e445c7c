"""The shortcuts that keep inference linear in the traffic change nothing it concludes.

- the bound on producers remembered per value and session (accumulators.MAX_PRODUCERS_PER_VALUE): a
  recording below it infers exactly what an unbounded run infers; above it, the nearest producers
  are kept and the work per request value stays bounded;
- the JSON walk and the per-template memory of the last body give the same leaves as a plain walk;
- session state is dropped after a session's last exchange without changing the result.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venom_replay.proxy.infer import accumulators, observe
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.recording import Exchange, Header, Recording, Request, Response
from venom_replay.proxy.infer.values import MAX_ARRAY_ITEMS, BodyLeaves, is_trivial_key, walk_json

JSON_CT = [("Content-Type", "application/json")]


def _recording(exchanges: list[Exchange]) -> Recording:
    for i, ex in enumerate(exchanges, 1):
        ex.seq = i
    return Recording(Path("generated.vrec"), Header("venom-replay-recording", 1, 0.0), exchanges, [], len(exchanges) + 1, False, None, 0)


def _ex(session: str, method: str, path: str, body: object | None, resp: object | None, status: int = 200,
        headers: list[tuple[str, str]] | None = None) -> Exchange:
    req = Request(method, "http", "api", 80, path, [], JSON_CT + (headers or []), json.dumps(body).encode() if body is not None else b"")
    return Exchange(0, session, 0.0, 0.0, req, Response(status, "", JSON_CT, json.dumps(resp).encode() if resp is not None else b""))


def _as_data(tset) -> dict:
    return dataclasses.asdict(tset)


# ---------------------------------------------------------------- the producer bound


def test_below_the_producer_bound_inference_is_exactly_unbounded(bindings_recording, monkeypatch):
    """Real proxy traffic (ids, uuids, bearer, Location, ETag, cookies, forms): never reaches the bound,
    and the result equals a run with the bound lifted."""
    bounded = _as_data(infer_templates(bindings_recording))

    def never(*args):  # reaching the bound here would make this test meaningless
        raise AssertionError("the producer bound was reached")

    monkeypatch.setattr(accumulators, "_replace_oldest", never)
    monkeypatch.setattr(accumulators, "MAX_PRODUCERS_PER_VALUE", 10**9)
    assert _as_data(infer_templates(bindings_recording)) == bounded
    assert any(t["consumes"] for t in bounded["templates"].values())


def _many_producers_then_consumer(sessions: int = 3, fields: int = 6) -> list[Exchange]:
    """Each session: a report repeats the token under many fields, then a login returns it, then a
    call sends it as a bearer token. The login is the nearest producer."""
    out = []
    for s in range(sessions):
        token = f"tok{s:04d}abcdef0123456789"
        out.append(_ex(f"s{s}", "GET", "/report", None, {f"f{i}": token for i in range(fields)}))
        out.append(_ex(f"s{s}", "POST", "/login", {"user": f"u{s}"}, {"access_token": token}))
        out.append(_ex(f"s{s}", "GET", "/me", None, {"ok": True}, headers=[("Authorization", f"Bearer {token}")]))
    return out


def test_above_the_producer_bound_the_nearest_producer_still_wins(monkeypatch):
    exchanges = _many_producers_then_consumer()
    unbounded = infer_templates(_recording(exchanges)).templates["GET /me"].consumes
    calls = []
    real = accumulators._replace_oldest
    monkeypatch.setattr(accumulators, "_replace_oldest", lambda *a: (calls.append(a), real(*a)))
    monkeypatch.setattr(accumulators, "MAX_PRODUCERS_PER_VALUE", 3)
    bounded = infer_templates(_recording(_many_producers_then_consumer())).templates["GET /me"].consumes
    assert calls, "the bound was not reached: the test recording is too small"
    assert [(c.location, c.producer, c.source, c.transform) for c in bounded] == [
        ("header:Authorization", "POST /login", "body:$.access_token", "bearer")
    ]
    assert [(c.location, c.producer, c.source, c.transform) for c in unbounded] == [
        (c.location, c.producer, c.source, c.transform) for c in bounded
    ]


def test_id_keyed_maps_keep_the_work_per_request_value_bounded(monkeypatch):
    """Responses keyed by ids name a new source each time; a small value sent back must not be
    matched against every earlier one (that made long sessions quadratic)."""
    sizes: list[int] = []
    real = observe.record_instance
    monkeypatch.setattr(observe, "record_instance", lambda ev, cands, *a: (sizes.append(len(cands)), real(ev, cands, *a)))
    exchanges = []
    for j in range(300):
        cid = 10**6 + j
        exchanges.append(_ex("long", "POST", f"/carts/{cid}/items", {"flag": True, "n": j % 5},
                             {"carts": {str(cid): {"active": True, "n": j % 5}}, "ok": True}))
    tset = infer_templates(_recording(exchanges))
    assert tset.templates["POST /carts/{cart_id}/items"].count == 300
    assert sizes and max(sizes) <= accumulators.MAX_PRODUCERS_PER_VALUE
    assert sum(sizes) < 300 * accumulators.MAX_PRODUCERS_PER_VALUE


# ---------------------------------------------------------------- sessions released


def test_interleaved_sessions_are_released_only_after_their_last_exchange():
    """Sessions interleave; dropping each one's state after its last exchange must not lose a flow."""
    exchanges = []
    for s in range(4):
        exchanges.append(_ex(f"s{s}", "POST", "/orders", {"n": s}, {"id": 5000 + s}, 201))
    for s in range(4):
        exchanges.append(_ex(f"s{s}", "GET", f"/orders/{5000 + s}", None, {"id": 5000 + s}))
    for s in (3, 2, 1, 0):
        exchanges.append(_ex(f"s{s}", "DELETE", f"/orders/{5000 + s}", None, None, 204))
    tset = infer_templates(_recording(exchanges))
    for tid in ("GET /orders/{order_id}", "DELETE /orders/{order_id}"):
        consumes = tset.templates[tid].consumes
        assert [(c.location, c.producer, c.source, c.support, c.sessions) for c in consumes] == [
            ("path:order_id", "POST /orders", "body:$.id", 4, 4)
        ]


# ---------------------------------------------------------------- JSON walking


def _reference_walk(value, path="$", generalize=False):
    """The plain recursive definition walk_json must agree with."""
    if type(value) is dict:
        out = []
        for key, child in value.items():
            key = key if type(key) is str else str(key)
            step = f".{key}" if key.isidentifier() and key.isascii() else "['{}']".format(key.replace("\\", "\\\\").replace("'", "\\'"))
            out += _reference_walk(child, path + step, generalize)
        return out
    if type(value) is list:
        out = []
        for i, child in enumerate(value[:MAX_ARRAY_ITEMS]):
            out += _reference_walk(child, f"{path}[*]" if generalize else f"{path}[{i}]", generalize)
        return out
    return [(path, value)]


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=60), st.dictionaries(st.text(max_size=6), inner, max_size=5)),
    max_leaves=80,
)


@settings(max_examples=150, deadline=None)
@given(json_values, st.booleans())
def test_walk_json_is_the_plain_recursive_walk(value, generalize):
    assert walk_json(value, generalize=generalize) == _reference_walk(value, generalize=generalize)
    assert walk_json(value, "body:$", generalize=generalize) == _reference_walk(value, "body:$", generalize)


def test_walk_json_survives_nesting_deeper_than_the_interpreter_stack():
    deep: object = {"leaf": 1}
    for i in range(5000):
        deep = [deep] if i % 2 else {"k": deep, 7: "x"}
    leaves = walk_json(deep, generalize=True)
    assert len(leaves) == 2501
    # Document order: the innermost leaf first (every "k" comes before its sibling 7), the outermost 7 last.
    assert leaves[0] == ("$[*]" + ".k[*]" * 2499 + ".k.leaf", 1)
    assert leaves[-1] == ("$[*]['7']", "x")
    assert leaves[1] == ("$[*]" + ".k[*]" * 2499 + "['7']", "x")


def test_body_memory_gives_the_leaves_of_each_body():
    bodies = BodyLeaves(generalize=True)
    messages = [
        Response(200, "", JSON_CT, b'{"a": [1, 2], "b": {"c": "x"}}'),
        Response(200, "", JSON_CT, b'{"a": [1, 2], "b": {"c": "x"}}'),
        Response(200, "", JSON_CT, b'{"a": [3], "b": null}'),
        Response(200, "", [("Content-Type", "text/plain")], b"17"),
        Response(200, "", JSON_CT, b"17"),
        Response(200, "", JSON_CT, b'{"a": 1', body_truncated=True),
        Response(200, "", JSON_CT, b'{"a": 1'),
        Response(200, "", JSON_CT, b""),
    ]
    for msg in messages:
        data = msg.json()
        expected = walk_json(data, "body:$", generalize=True) if data is not None else []
        assert bodies.get(msg, "slot") == (data, expected)


# ---------------------------------------------------------------- small values


@pytest.mark.parametrize("key,trivial", [("0", True), ("42", True), ("-99", True), ("100", False), ("007", True),
                                         ("--5", False), ("²³⁴", False), ("abc", False), ("\x00true", True), ("ab", True)])
def test_trivial_keys(key, trivial):
    assert is_trivial_key(key) is trivial


def test_text_that_only_looks_numeric_does_not_stop_inference():
    exchanges = [
        _ex("s", "POST", "/things", {"code": "²³⁴", "neg": "--5"}, {"id": 90001}, 201),
        _ex("s", "GET", "/things/90001", None, {"id": 90001, "code": "²³⁴"}),
    ]
    tset = infer_templates(_recording(exchanges))
    assert [c.producer for c in tset.templates["GET /things/{thing_id}"].consumes] == ["POST /things"]
