"""Secrets are masked for printing and export, with a short hint kept."""

from __future__ import annotations

import json

from venom_replay.proxy.recording import Exchange, Request, Response
from venom_replay.proxy.redact import (
    is_secret_field,
    is_secret_header,
    redact_exchange,
    redact_headers,
    redact_json,
    redact_path,
)


def test_secret_header_names() -> None:
    for name in ["Authorization", "proxy-authorization", "Cookie", "Set-Cookie", "X-Api-Key", "X-Service-Token", "X-CSRF-Token"]:
        assert is_secret_header(name), name
    for name in ["Content-Type", "ETag", "Location", "X-Request-Id", "Accept"]:
        assert not is_secret_header(name), name


def test_secret_field_names() -> None:
    for name in ["password", "passwd", "token", "secret", "api_key", "apiKey", "access_token", "refreshToken",
                 "client_secret", "CLIENT-SECRET", "new_password", "auth"]:
        assert is_secret_field(name), name
    for name in ["id", "name", "author", "token_type", "price", "tokenizer_version", "expires_in"]:
        assert not is_secret_field(name), name


def test_headers_keep_a_hint_and_order() -> None:
    out = redact_headers(
        [
            ("Authorization", "Bearer abc.def.ghi"),
            ("Cookie", "session=s3cr3t; theme=dark"),
            ("Set-Cookie", "session=s3cr3t; Path=/; HttpOnly"),
            ("X-Api-Key", "k" * 32),
            ("Content-Type", "application/json"),
        ]
    )
    assert out == [
        ("Authorization", "Bearer ***"),
        ("Cookie", "session=***; theme=***"),
        ("Set-Cookie", "session=***; Path=/; HttpOnly"),
        ("X-Api-Key", "***(len 32)"),
        ("Content-Type", "application/json"),
    ]


def test_json_masked_at_any_depth() -> None:
    value = {"user": {"name": "ann", "password": "hunter2"}, "tokens": [{"access_token": "a" * 10}], "token": None}
    out = redact_json(value)
    assert out["user"] == {"name": "ann", "password": "***(len 7)"}
    assert out["tokens"] == [{"access_token": "***(len 10)"}]
    assert out["token"] is None
    assert value["user"]["password"] == "hunter2"  # the input is not changed


def test_query_in_path_masked() -> None:
    assert redact_path("/cb?code=1&access_token=abcdef") == "/cb?code=1&access_token=***(len 6)"
    assert redact_path("/plain") == "/plain"


def test_exchange_masked_everywhere_but_not_in_place() -> None:
    req = Request(
        method="POST", scheme="http", host="h", port=80, path="/login",
        query=[("api_key", "xyz")],
        headers=[("Authorization", "Basic dXNlcjpwYXNz"), ("Content-Type", "application/json")],
        body=json.dumps({"user": "ann", "password": "hunter2"}).encode(),
    )
    resp = Response(
        status=200,
        headers=[("Set-Cookie", "sid=zzz; Path=/"), ("Content-Type", "application/json")],
        body=json.dumps({"token": "t0k3n", "id": 3}).encode(),
    )
    ex = Exchange(seq=1, session="c1", started=0, ended=1, request=req, response=resp)
    red = redact_exchange(ex)
    text = repr(red)
    for secret in ["hunter2", "dXNlcjpwYXNz", "zzz", "t0k3n", "xyz"]:
        assert secret not in text
    assert json.loads(red.response.body) == {"token": "***(len 5)", "id": 3}
    assert red.request.header("Authorization") == "Basic ***"
    assert b"hunter2" in ex.request.body  # original kept


def test_truncated_json_body_is_dropped_not_half_masked() -> None:
    req = Request(method="POST", scheme="http", host="h", port=80, path="/x",
                  headers=[("Content-Type", "application/json")], body=b'{"password": "hun', body_truncated=True, body_size=99)
    ex = Exchange(seq=1, session="c", started=0, ended=0, request=req)
    red = redact_exchange(ex)
    assert red.request.body == b"" and red.request.body_truncated and red.request.body_size == 99
