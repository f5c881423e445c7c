"""What a recording holds, as plain data: counts of exchanges, sessions, endpoints, statuses.

Everything here goes to screens and JSON, so paths and error texts pass through the redaction
helpers: a token in a query string never reaches a summary.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from venom_replay.proxy.recording import Exchange, Recording
from venom_replay.proxy.redact import redact_path

SAMPLE_LIMIT = 20  # error samples and busiest sessions listed; the counts are always complete


def endpoint_key(ex: Exchange) -> tuple[str, str]:
    """Method and raw path (no query). Path patterns are the templates' job, later."""
    return ex.request.method, ex.request.path


def _error_text(ex: Exchange) -> str:
    text = (ex.error or "").splitlines()[0] if ex.error else ""
    # Error texts may quote the URL; the query is the part that can carry a token.
    return " ".join(redact_path(word) if "?" in word else word for word in text.split(" "))


def summarize(rec: Recording) -> dict[str, Any]:
    """A JSON-ready summary of a recording (the shape `venom-replay show --json` prints)."""
    endpoints: dict[tuple[str, str], Counter[str]] = {}
    statuses: Counter[str] = Counter()
    per_session: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    hosts: Counter[str] = Counter()
    errors: list[dict[str, Any]] = []
    error_count = 0
    truncated = 0
    first = last = None
    for ex in rec.exchanges:
        key = endpoint_key(ex)
        outcome = str(ex.response.status) if ex.response is not None else "error"
        endpoints.setdefault(key, Counter())[outcome] += 1
        statuses[outcome] += 1
        per_session[ex.session] += 1
        versions[ex.request.http_version] += 1
        hosts[f"{ex.request.scheme}://{ex.request.host}:{ex.request.port}"] += 1
        truncated += ex.request.body_truncated + (ex.response is not None and ex.response.body_truncated)
        if ex.error is not None:
            error_count += 1
            if len(errors) < SAMPLE_LIMIT:
                errors.append(
                    {
                        "seq": ex.seq,
                        "session": ex.session,
                        "method": ex.request.method,
                        "path": redact_path(ex.request.path),
                        "status": ex.response.status if ex.response is not None else None,
                        "error": _error_text(ex),
                    }
                )
        first = ex.started if first is None else min(first, ex.started)
        last = ex.ended if last is None else max(last, ex.ended)
    note_kinds = Counter(note.kind for note in rec.notes)
    return {
        "file": str(rec.path),
        "format_version": rec.header.version,
        "target": rec.header.target,
        "tool": rec.header.tool,
        "created": rec.header.created,
        "exchanges": len(rec.exchanges),
        "sessions": len(per_session),
        "complete_records": rec.complete_records,
        "torn_tail": rec.torn_tail,
        "torn_offset": rec.torn_offset,
        "skipped": [{"offset": offset, "bytes": length} for offset, length in rec.skipped],
        "problems": rec.problems(),
        "file_size": rec.file_size,
        "duration_s": round(last - first, 3) if first is not None and last is not None else 0.0,
        "endpoints": [
            {"method": m, "path": redact_path(p), "count": sum(c.values()), "statuses": dict(sorted(c.items()))}
            for (m, p), c in sorted(endpoints.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        ],
        "statuses": dict(sorted(statuses.items())),
        "errors": error_count,
        "error_samples": errors,
        "truncated_bodies": truncated,
        "notes": sum(note_kinds.values()),
        "note_kinds": dict(sorted(note_kinds.items())),
        "busiest_sessions": [{"session": s, "exchanges": n} for s, n in per_session.most_common(SAMPLE_LIMIT)],
        "http_versions": dict(sorted(versions.items())),
        "hosts": dict(hosts.most_common()),
    }
