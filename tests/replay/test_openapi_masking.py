"""The exported document masks every recorded secret, names the security schemes the calls used,
and enumerates only small sets of server states."""

from __future__ import annotations

import json

from openapi_spec_validator import validate
from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
from venom_replay.proxy.recording import Exchange, Request, Response
from venom_replay.replay.openapi import build_document
from venom_replay.replay.openapi.enums import safe_enum

PASSWORD = "hunter2-very-secret"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.token"
API_KEY = "k-1234567890abcdef"
SESSION = "s3ss10n-value"
JSON = [("Content-Type", "application/json")]


def _exchange(seq: int, req: Request, status: int, body: object) -> Exchange:
    return Exchange(seq, "s1", float(seq), float(seq), req, Response(status, headers=JSON, body=json.dumps(body).encode()))


def _recording() -> tuple[TemplateSet, list[Exchange]]:
    login = ActionTemplate("login", "POST", "/login", host="api.test", count=3, exchange_seqs=[1, 2, 3], statuses={200: 2, 401: 1})
    report = ActionTemplate("report", "GET", "/reports/{report_id}", host="api.test", count=2, exchange_seqs=[4, 5], statuses={200: 2})
    exchanges = [
        _exchange(i, Request("POST", "http", "api.test", 80, "/login", headers=JSON,
                             body=json.dumps({"username": "ann", "password": PASSWORD}).encode()),
                  status, {"token": TOKEN, "token_type": "Bearer"} if status == 200 else {"error": "wrong password"})
        for i, status in ((1, 200), (2, 200), (3, 401))
    ]
    exchanges += [
        _exchange(4, Request("GET", "http", "api.test", 80, "/reports/7", query=[("api_key", API_KEY)],
                             headers=[("Authorization", f"Bearer {TOKEN}")]), 200, {"id": 7, "state": "done"}),
        _exchange(5, Request("GET", "http", "api.test", 80, "/reports/8",
                             headers=[("X-Api-Key", API_KEY), ("Cookie", f"sid={SESSION}")]), 200, {"id": 8, "state": "done"}),
    ]
    return TemplateSet({"login": login, "report": report}, {"s1": []}, source="t.vrec"), exchanges


def test_no_secret_reaches_the_document_and_examples_keep_their_shape() -> None:
    tset, exchanges = _recording()
    doc = build_document(tset, exchanges)
    validate(doc)
    text = json.dumps(doc)
    for secret in (PASSWORD, TOKEN, API_KEY, SESSION):
        assert secret not in text
    login = doc["paths"]["/login"]["post"]
    example = login["requestBody"]["content"]["application/json"]["example"]
    assert example["username"] == "ann" and example["password"].startswith("***")
    answer = login["responses"]["200"]["content"]["application/json"]["example"]
    assert answer["token"].startswith("***") and answer["token_type"] == "Bearer"
    assert set(login["responses"]) == {"200", "401"}
    query = next(p for p in doc["paths"]["/reports/{report_id}"]["get"]["parameters"] if p["in"] == "query")
    assert query["name"] == "api_key" and query["example"].startswith("***") and query["required"] is False


def test_security_schemes_are_the_credentials_the_calls_carried() -> None:
    tset, exchanges = _recording()
    doc = build_document(tset, exchanges)
    assert doc["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "apiKey_X-Api-Key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        "cookie_sid": {"type": "apiKey", "in": "cookie", "name": "sid"},
    }
    assert doc["paths"]["/reports/{report_id}"]["get"]["security"] == [
        {"bearerAuth": []}, {"apiKey_X-Api-Key": [], "cookie_sid": []}]
    assert doc["paths"]["/login"]["post"]["security"] == []  # the login carried no credentials


def test_enums_only_for_repeated_server_states() -> None:
    states = ["paid"] * 3 + ["pending"] * 3
    assert safe_enum(("status",), states, set(), {}) == ["paid", "pending"]
    # Other operations' answers under the same key widen the enum rather than contradict it.
    assert safe_enum(("status",), states, set(), {"status": {"cancelled"}}) == ["cancelled", "paid", "pending"]
    assert safe_enum(("status",), states + ["new"], set(), {}) is None  # a value seen once: the next may be new
    assert safe_enum(("status",), ["paid"] * 2, set(), {}) is None  # too little support
    assert safe_enum(("name",), states, {"paid"}, {}) is None  # a value a client sent: free text echoed back
    assert safe_enum(("owner_id",), ["u1"] * 6, set(), {}) is None  # an id-named key
    assert safe_enum(("secret",), ["a"] * 6, set(), {}) is None  # a secret-named key
    assert safe_enum(("items", "[]", "ref"), ["2026-01-01"] * 6, set(), {}) is None  # a date
    assert safe_enum(("count",), [1] * 6, set(), {}) is None  # numbers are not enumerated
