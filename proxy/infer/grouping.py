"""Which exchanges inference reads, their first path patterns, and the sessions they belong to.

Before any value is looked at, the recording is sorted by ``seq``, failed exchanges and the hosts
and endpoints the config ignores are counted out, and each origin's paths get a first pattern
(identifier-looking segments that vary). The recorded sessions (connections) are regrouped into
flow sessions (sessions.py: by credential and value flow); from here on an exchange's ``session``
is its flow session, the recording itself keeps its own. The exchanges are then walked in order
with one ``SessionState`` per session, created at a session's first exchange and dropped after its
last: memory follows the sessions open at once, not the length of the recording.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from venom_replay.proxy.config import InferenceConfig
from venom_replay.proxy.infer.accumulators import Origin, SessionState
from venom_replay.proxy.infer.path_patterns import Pattern, infer_patterns, render_pattern, split_path
from venom_replay.proxy.infer.sessions import EXPLICIT_PREFIX, flow_sessions
from venom_replay.proxy.recording import Exchange, Recording

Segments = tuple[str, ...]


class Traffic:
    """The usable exchanges of a recording, in order, with their origin and path segments."""

    def __init__(self, rec: Recording, cfg: InferenceConfig) -> None:
        self.cfg = cfg
        self.ignored = 0
        """Exchanges left out: failed, or on a host or endpoint the config ignores."""
        self.usable: list[tuple[Exchange, Origin, Segments]] = []
        self.paths: dict[Origin, set[Segments]] = {}
        """Every distinct path of each origin."""
        for ex in sorted(rec.exchanges, key=lambda e: e.seq):
            req = ex.request
            if ex.response is None or ex.error or (cfg.ignore_hosts and cfg.host_ignored(req.host, req.port)):
                self.ignored += 1
                continue
            segs = split_path(req.path)
            if cfg.ignore and cfg.endpoint_ignored(req.method.upper(), "/" + "/".join(segs)):
                self.ignored += 1
                continue
            origin = (req.scheme, req.host, req.port)
            self.usable.append((ex, origin, segs))
            self.paths.setdefault(origin, set()).add(segs)
        self.session_parts = self._regroup()
        """Each flow session -> the recorded sessions it came on."""
        self.first: dict[Origin, dict[Segments, Pattern]] = {origin: infer_patterns(ps) for origin, ps in self.paths.items()}
        """Each path's first pattern: segments that vary and look like identifiers are parameters."""

    def _regroup(self) -> dict[str, list[str]]:
        """Give every usable exchange its flow session (a copy: the recording keeps its sessions)."""
        exchanges = [ex for ex, _, _ in self.usable]
        if all(ex.session.startswith(EXPLICIT_PREFIX) for ex in exchanges):
            return {s: [s] for s in dict.fromkeys(ex.session for ex in exchanges)}  # the client named them all
        flow_of, parts = flow_sessions(exchanges)
        self.usable = [(ex if ex.session == flow_of[ex.seq] else replace(ex, session=flow_of[ex.seq]), origin, segs)
                       for ex, origin, segs in self.usable]
        return parts

    def walk(self) -> Iterator[tuple[Exchange, Segments, tuple[Origin, str, Pattern], SessionState]]:
        """Each exchange with its first template key and its session's state, in recording order.

        An endpoint the config ignores by pattern (``GET /health/{id}``) is counted out here. A
        session's state is dropped once the caller is done with its last exchange.
        """
        cfg = self.cfg
        last_of = {ex.session: i for i, (ex, _, _) in enumerate(self.usable)}
        sessions: dict[str, SessionState] = {}
        for i, (ex, origin, segs) in enumerate(self.usable):
            pattern = self.first[origin][segs]
            method = ex.request.method.upper()
            if cfg.ignore and cfg.endpoint_ignored(method, render_pattern(pattern)):
                self.ignored += 1
            else:
                st = sessions.get(ex.session)
                if st is None:
                    st = sessions[ex.session] = SessionState()
                yield ex, segs, (origin, method, pattern), st
            if last_of[ex.session] == i:
                sessions.pop(ex.session, None)
