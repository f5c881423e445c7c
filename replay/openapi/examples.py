"""Examples for the document, taken from recorded bodies with every secret masked (``proxy/redact.py``)."""

from __future__ import annotations

from typing import Any

from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.redact import redact_request, redact_response


def request_example(requests: list[Request]) -> Any:
    """The first recorded JSON request body, secrets masked; None when there is none."""
    for req in requests:
        if req.body and not req.body_truncated and (body := redact_request(req).json()) is not None:
            return body
    return None


def response_example(responses: list[Response]) -> Any:
    """The first recorded JSON answer body, secrets masked; None when there is none."""
    for resp in responses:
        if resp.body and not resp.body_truncated and (body := redact_response(resp).json()) is not None:
            return body
    return None
