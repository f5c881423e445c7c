"""What an exploration's report means for whoever started it: its exit code and the problems behind it.

Read from report.json alone, so the command line, summary.md and junit.xml say the same thing:

- 0: no findings;
- 1: findings;
- 2: the run could not say anything about the API: a usage or set-up error (raised before any
  report is written), a target that did not behave like the recording (too few recorded steps
  answered with their recorded status class), a target that stopped answering, the connection to
  a database lost mid-run, or a user invariant that could not run;
- 3: the databases were not restored to their content before the run: whatever else happened,
  this is what the user must act on first;
- 130: interrupted (the databases restored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

EXIT_NO_FINDINGS = 0
EXIT_FINDINGS = 1
EXIT_SETUP = 2
EXIT_NOT_RESTORED = 3
EXIT_INTERRUPTED = 130

SHOWN_MISMATCHES = 3
"""Mismatches named in the one-line verdict (report.json lists more)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    code: int
    not_restored: str | None = None
    """Set when the databases were not restored: what to do about it."""
    unlike_recording: str | None = None
    """Set when the target did not behave like the recording: the agreement and the first mismatches."""
    run_errors: list[str] = field(default_factory=list)
    """Other reasons the run could not finish its job: the target stopped answering, an invariant could not run."""

    @property
    def problems(self) -> list[str]:
        """One line each, most urgent first: why the run is not a plain pass or fail."""
        return [line for line in (self.not_restored, self.unlike_recording) if line] + self.run_errors


def not_restored_line() -> str:
    return ("the databases were NOT restored: their content differs from the content before the run; "
            "see `venom-replay db check` and `venom-replay db recover`")


LOST_CONNECTION_TAIL = "; the run stopped there and reports what it found until then"
_LOST_CONNECTION = re.compile(r"^(?P<lost>the connection to \S+ was lost.*?)" + re.escape(LOST_CONNECTION_TAIL) + "$")


def lost_connection_warning(lost: str) -> str:
    """The warning a run leaves in its report when a database connection was lost (``lost``: the
    adapter's "the connection to URL was lost (reason)"); ``outcome`` reads it back."""
    return lost + LOST_CONNECTION_TAIL


def lost_connection_line(report: dict[str, Any]) -> str | None:
    """``the connection to URL was lost mid-run (reason); databases restored`` (or NOT restored, with
    the command that restores them); None when no connection was lost."""
    for warning in report.get("warnings", []):
        found = _LOST_CONNECTION.match(warning)
        if found is None:
            continue
        line = found["lost"].replace(" was lost", " was lost mid-run", 1)
        if report.get("db_restored") is not False:
            return f"{line}; databases restored"
        recover = " and ".join(f"`venom-replay db recover --db {url}`" for url in report.get("databases") or []) \
            or "`venom-replay db recover --db URL`"
        return f"{line}; databases NOT restored: run {recover}"
    return None


def _mismatch_text(m: dict[str, Any]) -> str:
    live = m["live_status"] if m.get("live_status") is not None else f"no answer ({m.get('error') or 'none'})"
    return f"step {m['seq']} {m['method']} {m['path']}: recorded {m['recorded_status']}, live {live}"


def unlike_recording_line(agreement: dict[str, Any]) -> str:
    """``the target did not behave like the recording: 0 of 12 ... first: step 3 POST /orders: recorded 201, live 404``."""
    steps, same = agreement["steps"], agreement["same_status_class"]
    minimum = agreement.get("min_agreement", 0)
    first = "; ".join(_mismatch_text(m) for m in (agreement.get("first_mismatches") or [])[:SHOWN_MISMATCHES])
    stopped = " (the replay stopped: no answer to several steps in a row)" if agreement.get("unanswered") else ""
    return (f"the target did not behave like the recording: {same} of {steps} replayed recorded steps answered with "
            f"their recorded status class ({100 * same / steps:.0f}%, below --min-agreement {minimum:g}){stopped}; "
            f"not explored; first mismatches: {first}")


def outcome(report: dict[str, Any]) -> Outcome:
    """The exit code of the run ``report`` describes, and its problems."""
    lost = lost_connection_line(report)
    not_restored = (lost or not_restored_line()) if report.get("db_restored") is False else None
    agreement = report.get("replay_agreement") or {}
    unlike = (unlike_recording_line(agreement)
              if agreement.get("like_recording") is False and agreement.get("steps", 0) > 0 else None)
    errors: list[str] = []
    if unlike is None and report.get("stopped") == "target-down":
        reason = next((w for w in report.get("warnings", []) if "unreachable" in w or "timed out" in w), "no answer")
        restored = {True: "databases restored", False: "databases NOT restored"}.get(report.get("db_restored"), "no database")
        errors.append(f"the target {report.get('target', '')} stopped answering; the run ended ({restored}): {reason}")
    if lost and not not_restored:
        errors.insert(0, lost)
    errors.extend(report.get("invariant_errors") or [])
    if not_restored:
        code = EXIT_NOT_RESTORED
    elif report.get("stopped") == "interrupted":
        code = EXIT_INTERRUPTED
    elif unlike or errors:
        code = EXIT_SETUP
    else:
        code = EXIT_FINDINGS if report.get("findings") else EXIT_NO_FINDINGS
    return Outcome(code, not_restored, unlike, errors)
