"""Hand-built recordings for the inference tests: ``Calls`` appends exchanges the way the proxy records them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from venom_replay.proxy.recording import Exchange, Header, Recording, Request, Response

JSON_CT = [("Content-Type", "application/json")]


def basic(user: str, password: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


class Calls:
    """``calls.add("conn-1", "POST /users", 201, sent={...}, answer={...}, auth=("admin", "pw"))``"""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def add(self, session: str, line: str, status: int = 200, *, sent: Any = None, answer: Any = None,
            auth: tuple[str, str] | None = None, headers: list[tuple[str, str]] | None = None,
            answer_headers: list[tuple[str, str]] | None = None) -> Exchange:
        method, _, target = line.partition(" ")
        path, _, qs = target.partition("?")
        query = [tuple(p.split("=", 1)) for p in qs.split("&") if p] if qs else []
        sent_headers = list(JSON_CT) + ([basic(*auth)] if auth else []) + list(headers or [])
        req = Request(method, "http", "api.test", 80, path, query, sent_headers,  # type: ignore[arg-type]
                      json.dumps(sent).encode() if sent is not None else b"")
        resp = Response(status, "", list(JSON_CT) + list(answer_headers or []),
                        json.dumps(answer).encode() if answer is not None else b"")
        seq = len(self.exchanges) + 1
        ex = Exchange(seq, session, float(seq), seq + 0.5, req, resp)
        self.exchanges.append(ex)
        return ex

    def recording(self) -> Recording:
        return Recording(Path("hand-built.vrec"), Header("venom-replay-recording", 1, 0.0), list(self.exchanges), [],
                         len(self.exchanges) + 1, False, None, 0)
