"""The recording addon for mitmproxy: every finished HTTP flow becomes one appended exchange.

Use it with a mitmproxy you already run::

    mitmdump --mode reverse:http://127.0.0.1:8000 -p 8080 \\
        -s "$(python -c 'import venom_replay.proxy.addon as a; print(a.__file__)')" \\
        --set venom_out=shop.vrec

or let `venom-replay record` run mitmproxy with it. Options (``--set name=value``):

- ``venom_out``: the recording file (required; an existing file is never overwritten).
- ``venom_append``: add to an existing recording instead of refusing it.
- ``venom_session_by``: ``connection`` (default), ``header`` or ``auth``. An ``X-Venom-Session``
  request header always wins and is stripped before the request reaches the target. With
  ``header``, requests without it share the session "unlabelled"; with ``auth``, requests without
  a credential fall back to their connection. The recording keeps these sessions as recorded;
  inference regroups them into flow sessions (by credential and value flow, proxy/infer/sessions.py),
  so the default suits clients that open a connection per request as well as pooled ones. A session
  named with ``X-Venom-Session`` is kept as named.
- ``venom_body_cap``: bytes kept per body (default 1 MiB); longer bodies are cut and marked.
- ``venom_target``: the URL written into the recording header (defaults to the reverse target).

Add ``--set connection_strategy=lazy`` (what `venom-replay record` uses) so that a request to a
target that is down gets a 502 and is recorded as a failed exchange; with mitmproxy's default
eager strategy the client connection is closed before any request is read.

Exchanges are written as they complete and never kept in memory. Websocket messages and non-HTTP
traffic are not recorded; each such connection leaves a counted note in the recording instead.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mitmproxy import ctx, exceptions, http, tcp, udp
from mitmproxy.connection import Client

from venom_replay.proxy.errors import VenomError
from venom_replay.proxy.flows import DEFAULT_BODY_CAP, exchange_from_flow
from venom_replay.proxy.infer.credentials import auth_cookies as _auth_cookies, short_hash as _short_hash
from venom_replay.proxy.recording import RecordingWriter, read_recording

logger = logging.getLogger(__name__)

SESSION_HEADER = "X-Venom-Session"
SESSION_MODES = ("connection", "header", "auth")
UNLABELLED_SESSION = "unlabelled"
_CONN_SESSION_RE = re.compile(r"^conn-(\d+)$")


def auth_identity(flow: http.HTTPFlow) -> str | None:
    """A stable id for the credential a request carries (Authorization, or its login cookies).

    A request without credentials whose response sets a login cookie (a login call) belongs to
    the identity of the cookie it hands out, so the login joins the session it starts.
    """
    authz = flow.request.headers.get("authorization")
    if authz:
        return _short_hash("authorization:" + authz)
    cookies = _auth_cookies(list(flow.request.cookies.items(multi=True)))
    if cookies:
        return _short_hash("cookie:" + "; ".join(f"{k}={v}" for k, v in cookies))
    if flow.response is not None:
        set_cookies = [(k, v[0]) for k, v in flow.response.cookies.items(multi=True) if v[0]]
        named = _auth_cookies(set_cookies) if set_cookies else []
        if named:
            return _short_hash("cookie:" + "; ".join(f"{k}={v}" for k, v in named))
    return None


class VenomRecorder:
    """mitmproxy addon: append each finished flow to a venom-replay recording."""

    def __init__(self) -> None:
        self.writer: RecordingWriter | None = None
        self.out_path = ""
        self._conn_sessions: dict[str, str] = {}
        self._next_conn = 1
        self.sessions: set[str] = set()
        self.exchanges = 0
        self.errors = 0
        self.notes = 0
        self.note_kinds: dict[str, int] = {}

    # ------------------------------------------------------------ options and lifecycle

    def load(self, loader: Any) -> None:
        loader.add_option("venom_out", str, "", "venom-replay: recording file to write (.vrec).")
        loader.add_option("venom_append", bool, False, "venom-replay: append to an existing recording.")
        loader.add_option(
            "venom_session_by",
            str,
            "connection",
            "venom-replay: how requests are grouped into sessions: connection, header or auth. "
            f"An {SESSION_HEADER} request header always wins (and is stripped).",
        )
        loader.add_option("venom_body_cap", int, DEFAULT_BODY_CAP, "venom-replay: bytes kept per body; -1 keeps all.")
        loader.add_option("venom_target", str, "", "venom-replay: target URL written into the recording header.")
        loader.add_option(
            "venom_keep_alive",
            bool,
            True,
            "venom-replay: keep client connections open when the target closes after each response, "
            "so that connection sessions span several requests.",
        )
        loader.add_option("venom_fsync", bool, False, "venom-replay: fsync after every record (survives power loss, slower).")

    def configure(self, updated: set[str]) -> None:
        opts = ctx.options
        if "venom_session_by" in updated and opts.venom_session_by not in SESSION_MODES:
            raise exceptions.OptionsError(
                f"venom_session_by={opts.venom_session_by!r}: expected one of {', '.join(SESSION_MODES)}"
            )
        if "venom_out" in updated or "venom_append" in updated:
            self._open(opts.venom_out, append=opts.venom_append, target=opts.venom_target or self._reverse_target())

    def _reverse_target(self) -> str | None:
        for mode in getattr(ctx.options, "mode", []) or []:
            if mode.startswith("reverse:"):
                return mode[len("reverse:") :].split("@", 1)[0]
        return None

    def _open(self, out: str, *, append: bool, target: str | None) -> None:
        if self.writer is not None:
            if str(self.writer.path) == out:
                return
            self.writer.close()
            self.writer = None
        if not out:
            logger.warning("venom-replay addon loaded without venom_out: nothing is recorded (pass --set venom_out=FILE.vrec)")
            return
        try:
            if append:
                self._continue_numbering(out)
            self.writer = RecordingWriter(out, target=target, tool="venom-replay record", append=append, fsync=ctx.options.venom_fsync)
            self.out_path = out
        except VenomError as exc:
            raise exceptions.OptionsError(str(exc)) from None
        except OSError as exc:
            raise exceptions.OptionsError(f"{out}: cannot write the recording ({exc.strerror})") from None

    def _continue_numbering(self, out: str) -> None:
        """On --append, new connection sessions continue after the existing ones instead of merging."""
        try:
            existing = read_recording(out)
        except VenomError:
            return  # a missing file is created; an unreadable one is reported by the writer
        for session in existing.sessions:
            m = _CONN_SESSION_RE.match(session)
            if m:
                self._next_conn = max(self._next_conn, int(m.group(1)) + 1)

    def done(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    # ------------------------------------------------------------ sessions

    def client_disconnected(self, client: Client) -> None:
        self._conn_sessions.pop(client.id, None)  # keeps memory flat over many connections

    def _connection_session(self, client: Client) -> str:
        session = self._conn_sessions.get(client.id)
        if session is None:
            session = f"conn-{self._next_conn}"
            self._next_conn += 1
            self._conn_sessions[client.id] = session
        return session

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Strip the session header before the request is forwarded: the target must not see it.
        explicit = flow.request.headers.get(SESSION_HEADER)
        if explicit is not None:
            del flow.request.headers[SESSION_HEADER]
            flow.metadata["venom_session"] = f"hdr:{explicit}"

    def _session_for(self, flow: http.HTTPFlow) -> str:
        explicit = flow.metadata.get("venom_session")
        if explicit:
            return explicit
        mode = ctx.options.venom_session_by
        if mode == "auth":
            identity = auth_identity(flow)
            if identity:
                return f"auth:{identity}"
        elif mode == "header":
            # Only labelled requests form sessions; the rest (health checks, stray calls) share one.
            return UNLABELLED_SESSION
        return self._connection_session(flow.client_conn)

    # ------------------------------------------------------------ recording

    def _record(self, flow: http.HTTPFlow) -> None:
        if self.writer is None or flow.metadata.get("venom_recorded"):
            return
        flow.metadata["venom_recorded"] = True
        cap = ctx.options.venom_body_cap
        session = self._session_for(flow)
        flow.metadata["venom_session"] = session  # later hooks (websocket_end) reuse it
        ex = exchange_from_flow(flow, session=session, cap=None if cap < 0 else cap)
        self.writer.write_exchange(ex)
        self.exchanges += 1
        self.sessions.add(session)
        if ex.error is not None:
            self.errors += 1

    def response(self, flow: http.HTTPFlow) -> None:
        self._record(flow)
        self._keep_client_connection(flow)

    def _keep_client_connection(self, flow: http.HTTPFlow) -> None:
        """Hide a target's ``Connection: close`` from a keep-alive client.

        Servers such as development servers close after every response; passing that on makes the
        client reconnect for every request, and connection sessions would hold one request each.
        mitmproxy opens a new target connection when the next request comes (lazy strategy).
        The recording keeps the header as the target sent it.
        """
        resp = flow.response
        if resp is None or flow.request.http_version != "HTTP/1.1" or not ctx.options.venom_keep_alive:
            return
        if "close" in flow.request.headers.get("connection", "").lower():
            return
        if resp.headers.get("connection", "").lower() == "close" and _has_length(resp):
            del resp.headers["connection"]

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.request.method == "PRI" and flow.request.path == "*":
            # A cleartext HTTP/2 (h2c prior knowledge) preface: mitmproxy does not speak h2c.
            self._note("h2c", client=_address(flow.client_conn.peername), reason="cleartext HTTP/2 is not supported; use TLS or HTTP/1.1")
            return
        # The target is down, the connection broke, or the client went away: record it as failed.
        self._record(flow)

    def _note(self, kind: str, **detail: Any) -> None:
        if self.writer is None:
            return
        self.writer.write_note(kind, **detail)
        self.notes += 1
        self.note_kinds[kind] = self.note_kinds.get(kind, 0) + 1

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        messages = flow.websocket.messages if flow.websocket is not None else []
        self._note(
            "websocket",
            url=flow.request.pretty_url,
            session=self._session_for(flow),
            messages=len(messages),
            from_client=sum(1 for m in messages if m.from_client),
            reason="websocket messages are not recorded; the handshake is",
        )

    def tcp_end(self, flow: tcp.TCPFlow) -> None:
        self._note("tcp", server=_address(flow.server_conn.address), messages=len(flow.messages), reason="non-HTTP TCP stream")

    def tcp_error(self, flow: tcp.TCPFlow) -> None:
        self.tcp_end(flow)

    def udp_end(self, flow: udp.UDPFlow) -> None:
        self._note("udp", server=_address(flow.server_conn.address), messages=len(flow.messages), reason="UDP datagrams")

    def udp_error(self, flow: udp.UDPFlow) -> None:
        self.udp_end(flow)

    def dns_response(self, flow: Any) -> None:
        self._note("dns", reason="DNS query")

    def tls_failed_client(self, data: Any) -> None:
        # Typically a client that does not trust mitmproxy's CA in regular (forward) mode.
        self._note("tls_failed", client=_address(data.context.client.peername), sni=data.context.client.sni or "", reason=str(data.conn.error or ""))

    def summary(self) -> dict[str, Any]:
        return {
            "exchanges": self.exchanges,
            "sessions": len(self.sessions),
            "errors": self.errors,
            "notes": self.notes,
            "note_kinds": dict(self.note_kinds),
            "file": self.out_path,
        }


def _has_length(resp: http.Response) -> bool:
    # Without a length the body ends when the connection closes, so the close must stay.
    return "content-length" in resp.headers or "chunked" in resp.headers.get("transfer-encoding", "").lower()


def _address(addr: Any) -> str:
    if not addr:
        return ""
    return f"{addr[0]}:{addr[1]}"


addons = [VenomRecorder()]
