"""Ctrl-C guards around the two moments an interrupt must not cut short.

A request cut off mid-flight would still be committed by the API after the final restore, and a
final restore cut off would leave the databases half undone: both would break the promise that the
databases hold what they held before the run.
"""

from __future__ import annotations

import signal
import threading


class DeferSigint:
    """Hold Ctrl-C while the baseline is being restored, so a second Ctrl-C cannot cut it short."""

    def __enter__(self) -> DeferSigint:
        self.pending = False
        self.old = None
        # Signal handlers can only be set from the main thread; elsewhere Ctrl-C is not ours anyway.
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, *_: object) -> None:
        self.pending = True

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)


class FinishRequest(DeferSigint):
    """Let a request that is on its way finish before Ctrl-C takes effect: cut off mid-flight, the
    API would still commit its write after the final restore, and the database would keep it. A
    second Ctrl-C stops at once."""

    def _hold(self, *_: object) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self.old is not None and self.pending and exc[0] is None:
            raise KeyboardInterrupt
