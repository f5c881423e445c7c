"""The leaky-error checker: an error answer that shows what only the server should know.

A 4xx/5xx body that carries an SQL statement (often with its bound parameters), a stack trace, or a
secret-looking value the request did not send (a password hash, a private key, a JWT, a cloud key)
tells an attacker about the schema, the code or another user's credentials. MLflow 3.17 answered a
duplicate user create with the failed INSERT and its parameters, the new password hash among them.

Unlike the sequence checkers, a leak is reported even when the recording itself shows it: that the
recorded traffic already hit it makes it no less a leak (``reports_recorded``).

One finding per template and kind of leak; the message quotes a short, masked excerpt.
"""

from __future__ import annotations

import re

from venom_replay.replay.checkers.base import StepContext, Violation

__all__ = ["LeakyErrorChecker", "leaks_in"]

_SCAN_BYTES = 64 * 1024  # error bodies are short; a huge one is scanned at its start

# Statements in upper case, as drivers and ORMs print them ("select a product from the list" is English),
# or the error markers of the usual drivers and databases in any case. The statement itself is quoted
# when the body has one: it says more than the driver's name.
_SQL_STATEMENT = re.compile(
    r"\b(?:SELECT\s+[\w*\"`.,\s()]+?\s+FROM|INSERT\s+INTO|UPDATE\s+[\w\"`.]+\s+SET|DELETE\s+FROM)\s+[\w\"`.]+")
# A driver prints SQLSTATE in capitals with its code (PDO's ``SQLSTATE[23000]``, ``SQLSTATE 23505``);
# MLflow's ``"sqlstate": "KAM00"`` is an error-class field in every one of its JSON errors, no leak.
_SQL_MARKER = re.compile(
    r"(?i:\[SQL:\s|\bsqlalche\.me/e/|\bpsycopg2?\.errors\.|\bsqlite3\.\w*Error|\bpymysql\.err\."
    r"|\bORA-\d{5}\b|\bduplicate key value violates unique constraint\b)"
    r"|\bSQLSTATE(?:\[[0-9A-Z]{5}\]|:?\s+[0-9A-Z]{5}\b)")
_TRACE = re.compile(
    r"Traceback \(most recent call last\)|\bFile \"[^\"]+\.py\", line \d+"
    r"|\bat [\w$.]+\([\w$]+\.(?:java|kt|scala):\d+\)|\bException in thread \""
    r"|\bat [\w$.<>]+ \((?:/|[A-Za-z]:\\)[^)]+\.[jt]s:\d+:\d+\)|\bgoroutine \d+ \[running\]")
_SECRETS = {
    "password hash": re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}|\$argon2(?:id|i|d)\$[^\s\"']{20,}"
                                r"|\b(?:pbkdf2|scrypt):[\w:$]{6,}\$[\w./+=$]{16,}|\$[56]\$[^\s\"'$]{1,16}\$[./A-Za-z0-9]{40,}"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "cloud key": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bghp_[A-Za-z0-9]{36}\b|\bxox[abp]-[A-Za-z0-9-]{10,}"),
}


def leaks_in(body: str, sent: str) -> list[tuple[str, str]]:
    """(kind, excerpt) for each kind of leak in an error ``body``; secrets that the request itself
    sent (``sent``: its path, query, headers and body as text) are the caller's own, not a leak.
    No excerpt repeats a secret the body holds (an SQL statement's parameters often do)."""
    secrets = [(kind, m) for kind, pattern in _SECRETS.items() for m in pattern.finditer(body)]
    found: list[tuple[str, str]] = []
    sql = _SQL_STATEMENT.search(body) or _SQL_MARKER.search(body)
    for kind, m in (("SQL statement", sql), ("stack trace", _TRACE.search(body))):
        if m:
            found.append((kind, _excerpt(body, m.start(), m.end(), [s for _, s in secrets])))
    for kind in _SECRETS:
        m = next((m for k, m in secrets if k == kind and m.group(0) not in sent), None)
        if m:
            found.append((kind, _masked(m.group(0))))
    return found


def _masked(secret: str) -> str:
    """A secret shown by its first characters only."""
    return secret[:8] + "…"


def _excerpt(body: str, start: int, end: int, secrets: list[re.Match[str]]) -> str:
    """A short excerpt from a match on, on one line (JSON's escaped line breaks too), secrets masked."""
    stop = min(len(body), end + 60)
    text, at = [], start
    for m in sorted(secrets, key=lambda m: m.start()):
        if m.end() <= at or m.start() >= stop:
            continue
        text += [body[at:m.start()], _masked(m.group(0))]
        at = m.end()
    text.append(body[at:max(at, stop)])
    flat = " ".join(re.sub(r"\\[nrt]", " ", "".join(text)).split())
    return flat[:100] + ("…" if len(flat) > 100 else "")


def _request_text(ctx: StepContext) -> str:
    req = ctx.step.request
    parts = [req.path, *(f"{k}={v}" for k, v in req.query), *(f"{k}: {v}" for k, v in req.headers)]
    parts.append(req.body[:_SCAN_BYTES].decode("utf-8", "replace"))
    return "\n".join(parts)


class LeakyErrorChecker:
    """An error answer carries an SQL statement, a stack trace or a secret the request did not send."""

    name = "leaky-error"
    reports_recorded = True
    """Reported even when a replay of the recording shows it (see the module docstring)."""

    def check(self, ctx: StepContext) -> list[Violation]:
        resp = ctx.step.response
        if resp is None or resp.status < 400 or not resp.body:
            return []
        body = resp.body[:_SCAN_BYTES].decode("utf-8", "replace")
        leaks = leaks_in(body, _request_text(ctx))
        if not leaks:
            return []
        tpl = ctx.step.template
        kinds = ", ".join(kind for kind, _ in leaks)
        excerpts = "; ".join(f"{kind}: {excerpt}" for kind, excerpt in leaks)
        message = f"{tpl.label} answered {resp.status} with {kinds} in its body ({excerpts})"
        signature = f"leaky-error:{tpl.id}:{'+'.join(kind for kind, _ in leaks)}"
        return [Violation(self.name, message, signature, {"status": resp.status, "leaks": [k for k, _ in leaks]})]
