"""Warnings for the report. A run can hit the same problem thousands of times (a transport error on
every branch), so each kind is capped and the rest only counted."""

from __future__ import annotations

MAX_WARNINGS_PER_KIND = 5


class WarningLog:
    """Warning lines in the order they came, at most ``MAX_WARNINGS_PER_KIND`` of each kind."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.kept: list[tuple[str, str]] = []
        """(kind, line) of the lines kept, for merging the logs of several workers."""
        self._counts: dict[str, int] = {}

    def add(self, kind: str, line: str) -> None:
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        if n <= MAX_WARNINGS_PER_KIND:
            self.lines.append(line)
            self.kept.append((kind, line))

    def merge(self, kept: list[tuple[str, str]], counts: dict[str, int]) -> None:
        """Add another log's lines (``kept`` and ``counts``), a line this log has already counting once:
        workers that replay the same recording warn the same things."""
        for kind, line in kept:
            if line not in self.lines:
                self.add(kind, line)
        for kind, n in counts.items():
            shown = sum(1 for k, _ in kept if k == kind)
            if n > shown:  # the other log's uncounted rest
                self._counts[kind] = self._counts.get(kind, 0) + n - shown

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def finish(self) -> list[str]:
        """The lines, plus one line per kind that was cut saying how many more there were."""
        out = list(self.lines)
        for kind, n in self._counts.items():
            if n > MAX_WARNINGS_PER_KIND:
                out.append(f"{n - MAX_WARNINGS_PER_KIND} more warnings of kind {kind!r} not shown")
        return out
