"""Request variants: a template keeps every request shape it saw, and replay sends a shape as recorded.

The recording is shaped like kinto-http's (the Kinto test in tests/replay): creates with
``If-None-Match: *``, a plain overwrite, a safe update with ``If-Match`` and the version in the
body, list reads with and without ``?_since=``. Before variants, the five kept examples were all
creates, the update was replayed as a create carrying both headers, and every list read got a
``_since`` it never had.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support.recorded_calls import Calls
from venom_replay.proxy.infer.inference import infer_templates
from venom_replay.proxy.infer.instantiate import missing_values, render_request
from venom_replay.proxy.recording import RecordingWriter
from venom_replay.replay.explorer.actions import build_actions

RECORDS = "/buckets/shop/records"
PUT = f"PUT {RECORDS}/{{record_id}}"
GET = f"GET {RECORDS}/{{record_id}}"
LIST = f"GET {RECORDS}"
ALICE = ("alice", "alice-secret")
IDS = [f"8a0cc3d2-80c0-420b-a743-5f9ef8feef4{i}" for i in range(6)]


def _kinto_like() -> Calls:
    calls = Calls()
    for i, rid in enumerate(IDS[:5]):  # five creates: more than the old cap of five examples
        calls.add("conn-1", f"PUT {RECORDS}/{rid}", 201, sent={"data": {"n": i}}, auth=ALICE, headers=[("If-None-Match", "*")],
                  answer={"data": {"id": rid, "n": i, "last_modified": 100 + i}}, answer_headers=[("ETag", f'"{100 + i}"')])
    calls.add("conn-1", f"GET {RECORDS}", auth=ALICE, answer={"data": [{"id": IDS[0], "last_modified": 104}]},
              answer_headers=[("ETag", '"104"')])
    calls.add("conn-1", f"GET {RECORDS}?_since=104", auth=ALICE, answer={"data": []}, answer_headers=[("ETag", '"104"')])
    calls.add("conn-1", f"PUT {RECORDS}/{IDS[1]}", sent={"data": {"n": 9}}, auth=ALICE,
              answer={"data": {"id": IDS[1], "n": 9, "last_modified": 105}}, answer_headers=[("ETag", '"105"')])
    calls.add("conn-1", f"GET {RECORDS}/{IDS[2]}", auth=ALICE, answer={"data": {"id": IDS[2], "last_modified": 102}},
              answer_headers=[("ETag", '"102"')])
    calls.add("conn-1", f"PUT {RECORDS}/{IDS[2]}", sent={"data": {"n": 8, "last_modified": 102}}, auth=ALICE,
              headers=[("If-Match", '"102"')], answer={"data": {"id": IDS[2], "n": 8, "last_modified": 106}},
              answer_headers=[("ETag", '"106"')])
    calls.add("conn-1", f"GET {RECORDS}?_since=106", auth=ALICE, answer={"data": []}, answer_headers=[("ETag", '"106"')])
    return calls


def _variant_of(tpl, header: str | None) -> int:
    """The first example of the variant that has ``header`` (None: the one with no condition)."""
    for v in tpl.variants:
        conditional = [p for p in v.parts if p.startswith("header:If-")]
        if (header is None and not conditional) or (header is not None and any(p.startswith(header) for p in conditional)):
            return v.examples[0]
    raise AssertionError(f"no variant with {header}")


def test_every_shape_is_kept_with_its_examples():
    tset = infer_templates(_kinto_like().recording())
    put = tset.templates[PUT]
    extra = [sorted(set(v.parts) - set.intersection(*(set(w.parts) for w in put.variants))) for v in put.variants]
    assert extra == [["header:If-None-Match=*"], [], ["body:$.data.last_modified", "header:If-Match"]]
    assert [v.count for v in put.variants] == [5, 1, 1]
    assert put.example_seqs[put.variants[2].examples[0]] == 10
    listing = tset.templates[LIST]
    assert sorted(v.parts for v in listing.variants) == [["header:Authorization"], ["header:Authorization", "query:_since"]]


def test_a_variant_is_rendered_as_recorded_and_never_gains_a_part():
    tset = infer_templates(_kinto_like().recording())
    put = tset.templates[PUT]
    bound = {c.location for c in put.consumes}
    assert {"header:If-Match", "body:$.data.last_modified"} <= bound
    values = {(c.producer, c.source): ('"555"' if c.location == "header:If-Match" else 555) for c in put.consumes}
    create = render_request(put, values, example=_variant_of(put, "header:If-None-Match"))
    assert create.header("If-None-Match") == "*" and create.header("If-Match") is None
    assert "last_modified" not in json.loads(create.body)["data"]
    plain = render_request(put, values, example=_variant_of(put, None))
    assert plain.header("If-Match") is None and plain.header("If-None-Match") is None
    safe = render_request(put, values, example=_variant_of(put, "header:If-Match"))
    assert safe.header("If-Match") == '"555"' and json.loads(safe.body)["data"]["last_modified"] == 555
    listing = tset.templates[LIST]
    plain_list = next(v.examples[0] for v in listing.variants if v.parts == ["header:Authorization"])
    anything = {(c.producer, c.source): "999" for c in listing.consumes}
    assert render_request(listing, anything, example=plain_list).query == []


def test_a_variant_waits_only_for_the_values_it_takes():
    tset = infer_templates(_kinto_like().recording())
    put = tset.templates[PUT]
    safe, create = _variant_of(put, "header:If-Match"), _variant_of(put, "header:If-None-Match")
    path_bound = {(c.producer, c.source): IDS[0] for c in put.consumes if c.location.startswith("path:")}
    assert missing_values(put, path_bound, example=create) == []
    assert {c.location for c in missing_values(put, path_bound, example=safe)} == {"header:If-Match", "body:$.data.last_modified"}
    everything = {(c.producer, c.source): '"1"' for c in put.consumes}
    assert missing_values(put, everything, example=safe) == []
    # Three intents, three actions: the create, the overwrite, the update of a version.
    assert sorted(a.example for a in build_actions(tset) if a.template == PUT) == sorted(v.examples[0] for v in put.variants)


def test_every_shape_is_kept_however_many_and_data_keys_make_none():
    calls = Calls()
    for i in range(100):  # a search with optional filters: a hundred different sets of fields
        calls.add("conn-1", "POST /search", sent={f"filter_{j}": j for j in range(i + 1)}, answer={"hits": []}, auth=ALICE)
    for i in range(20):  # maps keyed by id: the keys are data, one shape
        calls.add("conn-1", "POST /carts", sent={"carts": {str(1000 + i): {"qty": 1}}}, answer={}, auth=ALICE)
    tset = infer_templates(calls.recording())
    search = tset.templates["POST /search"]
    assert len(search.variants) == 100
    assert sorted(len(v.examples) for v in search.variants) == [1] * 100
    assert [v.parts for v in tset.templates["POST /carts"].variants] == [["body:$.carts[*].qty", "header:Authorization"]]
    # Optional inputs are one intent: one action, not a hundred.
    assert len([a for a in build_actions(tset) if a.template == "POST /search"]) == 1


def test_the_templates_command_shows_the_variants(tmp_path):
    path = tmp_path / "kinto-like.vrec"
    with RecordingWriter(path) as writer:
        for ex in _kinto_like().exchanges:
            writer.write_exchange(ex)
    cli = [sys.executable, "-m", "venom_replay.replay.cli", "templates", str(path)]
    env = {**os.environ, "COLUMNS": "240"}
    table = subprocess.run(cli, capture_output=True, text=True, timeout=120, env=env)
    assert table.returncode == 0, table.stderr
    assert "3 variants:" in table.stdout and "If-None-Match: * x5" in table.stdout
    assert "$.data.last_modified, If-Match x1" in table.stdout and "?_since x2" in table.stdout
    as_json = subprocess.run([*cli, "--json"], capture_output=True, text=True, timeout=120, env=env)
    put = next(t for t in json.loads(as_json.stdout)["templates"] if t["id"] == PUT)
    assert [(v["count"], "header:If-None-Match=*" in v["parts"]) for v in put["variants"]] == [(5, True), (1, False), (1, False)]
