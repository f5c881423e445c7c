"""Sending instantiated requests to the live API and turning the replies into recording Responses.

One pooled ``requests.Session`` per run: keep-alive connections make a replayed step cost about as
much as the API's own work. Cookies are NOT kept by the session: in a replay every cookie is a bound
value (a Set-Cookie produced by an earlier step) or a recorded constant, so the client's own jar would
leak identities between branches.

A pooled connection can be dead when it is taken: servers close it after an error answer (uvicorn
does after a 500) or when it idled too long, and the next request on it fails with "connection
reset" or "closed without response" although the server never saw it. Such a request is sent once
more on a fresh connection before the step counts as failed; refused connections and timeouts are
not retried (the server is down or busy, and a timed-out request may have done its work).
"""

from __future__ import annotations

import http.client
import http.cookiejar
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.infer.model import ActionTemplate

from venom_replay.replay.checkers.base import StepResult

# Hop-by-hop and framing headers: the HTTP library computes them for the request it actually sends.
_DROP_REQUEST_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding",
     "proxy-connection", "te", "upgrade", "x-venom-session"}
)


class _NoCookies(http.cookiejar.CookiePolicy):
    """Refuse every cookie: replayed cookies come from bindings, never from the client's jar."""

    netscape = True
    rfc2965 = hide_cookie2 = False

    def set_ok(self, cookie, request):  # noqa: ANN001 - cookiejar protocol
        return False

    def return_ok(self, cookie, request):  # noqa: ANN001
        return False

    def domain_return_ok(self, domain, request):  # noqa: ANN001
        return False

    def path_return_ok(self, path, request):  # noqa: ANN001
        return False


@dataclass(frozen=True, slots=True)
class Target:
    """The base URL of the live API: scheme, host, port and an optional path prefix."""

    scheme: str
    host: str
    port: int
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--target {url!r}: expected an http(s) URL such as http://127.0.0.1:8000")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConfigError(f"--target {url!r}: the port is not a number") from None
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.prefix}"


class HttpClient:
    """Sends Requests to one target with pooled connections and a per-request timeout."""

    def __init__(self, target: str | Target, *, timeout: float = 10.0, pool_size: int = 4,
                 verify: bool | str = True) -> None:
        """``verify``: True checks an HTTPS target's certificate against the usual CAs, a path against
        that CA bundle, False not at all (``--insecure``)."""
        self.target = target if isinstance(target, Target) else Target.parse(target)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify
        self.session.cookies.set_policy(_NoCookies())
        self.session.trust_env = False  # never send replayed traffic through the user's HTTP(S)_PROXY
        self._adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", self._adapter)
        self.session.mount("https://", self._adapter)
        self.retried = 0
        """Requests sent again on a fresh connection after a pooled one turned out dead."""

    def url_for(self, request: Request) -> str:
        # The recorded host may be the proxy's upstream or a name only the browser knew; the target
        # given on the command line is where replayed traffic goes. The request's path already
        # carries the target's path prefix (requests are rendered for the target).
        return f"{self.target.scheme}://{self.target.host}:{self.target.port}{request.path}"

    def send(self, request: Request) -> Response:
        """Send one request, once more on a fresh connection if a pooled one was dead; raises
        requests.RequestException on transport problems."""
        try:
            return self._send_once(request)
        except requests.ConnectionError as exc:
            if not _dead_connection(exc):
                raise
        self._adapter.poolmanager.clear()  # every pooled connection may be as dead as that one
        self.retried += 1
        return self._send_once(request)

    def _send_once(self, request: Request) -> Response:
        headers = {}
        for name, value in request.headers:
            lname = name.lower()
            if lname in _DROP_REQUEST_HEADERS:
                continue
            if name in headers:  # repeated headers are joined, as HTTP allows (cookies with "; ")
                headers[name] += ("; " if lname == "cookie" else ", ") + value
            else:
                headers[name] = value
        headers.setdefault("Accept-Encoding", "identity")
        reply = self.session.request(
            request.method,
            self.url_for(request),
            params=request.query or None,
            headers=headers,
            data=request.body or None,
            timeout=self.timeout,
            allow_redirects=False,
        )
        body = reply.content
        return Response(
            status=reply.status_code,
            reason=reply.reason or "",
            headers=[(k, v) for k, v in reply.raw.headers.items()] if reply.raw is not None else list(reply.headers.items()),
            body=body,
            body_size=len(body),
        )

    def execute(self, template: ActionTemplate, request: Request) -> StepResult:
        """Send and wrap the outcome as a StepResult; a transport problem becomes ``error``."""
        try:
            response = self.send(request)
        except requests.Timeout:
            return StepResult(template, request, None, error=f"timed out after {self.timeout:g} s: {request.method} {self.url_for(request)}")
        except requests.ConnectionError as exc:
            reason = _short_reason(exc)
            return StepResult(template, request, None, error=f"target unreachable ({reason}): {request.method} {self.url_for(request)}")
        except requests.RequestException as exc:
            return StepResult(template, request, None, error=f"request failed ({_short_reason(exc)}): {request.method} {self.url_for(request)}")
        return StepResult(template, request, response)

    def close(self) -> None:
        self.session.close()


_DEAD = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, http.client.RemoteDisconnected)


def _dead_connection(exc: BaseException) -> bool:
    """Whether a transport error says the connection died under the request (reset, closed without
    an answer), not that the server cannot be reached (refused, no route, timeout)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, _DEAD):
            return True
        if isinstance(cur, (ConnectionRefusedError, TimeoutError)) or type(cur).__name__ in ("NewConnectionError", "ConnectTimeoutError"):
            return False
        nested = [a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(cur, "reason", None)  # an exception in urllib3's errors, a text in ssl's
        cur = (reason if isinstance(reason, BaseException) else None) or (nested[0] if nested else None) \
            or cur.__cause__ or cur.__context__
    return False


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Read timed out", "Connection reset",
                   "Remote end closed connection", "certificate verify failed"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
