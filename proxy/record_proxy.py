"""Running mitmproxy in-process with the recording addon (what `venom-replay record` does).

mitmproxy's own log goes nowhere by default; errors are shown one line each, and a failure to
start (port in use, bad target) becomes one VenomError instead of mitmproxy's startup dump.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# passlib (imported by mitmproxy) warns about newer bcrypt builds on every start; not our user's concern.
logging.getLogger("passlib").setLevel(logging.ERROR)

from mitmproxy import exceptions, options  # noqa: E402
from mitmproxy.addons import default_addons  # noqa: E402
from mitmproxy.master import Master  # noqa: E402

from venom_replay.proxy.addon import SESSION_MODES, VenomRecorder  # noqa: E402
from venom_replay.proxy.errors import ConfigError, VenomError  # noqa: E402
from venom_replay.proxy.flows import DEFAULT_BODY_CAP  # noqa: E402

PROXY_MODES = ("reverse", "regular")


@dataclass
class RecordSettings:
    out: str
    target: str | None = None
    mode: str = "reverse"
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    session_by: str = "connection"
    body_cap: int = DEFAULT_BODY_CAP
    append: bool = False
    fsync: bool = False
    insecure: bool = False
    extra_options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.mode not in PROXY_MODES:
            raise ConfigError(f"--mode {self.mode!r}: expected one of {', '.join(PROXY_MODES)}")
        if self.session_by not in SESSION_MODES:
            raise ConfigError(f"--session-by {self.session_by!r}: expected one of {', '.join(SESSION_MODES)}")
        if self.mode == "reverse":
            if not self.target:
                raise ConfigError("--target is required in reverse mode (e.g. --target http://127.0.0.1:8000)")
            parts = urlsplit(self.target)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"--target {self.target!r}: expected an http:// or https:// URL")
        if not 0 <= self.listen_port <= 65535:
            raise ConfigError(f"--listen-port {self.listen_port}: expected 0..65535")

    def mitm_mode(self) -> str:
        return f"reverse:{self.target}" if self.mode == "reverse" else "regular"


class _ErrorLines(logging.Handler):
    """Collects mitmproxy's error log lines; shows them on stderr once the proxy is up."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []
        self.echo: Callable[[str], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage().splitlines()[0] if record.getMessage() else record.levelname
        if self.echo is not None:
            self.echo(line)
        else:
            self.lines.append(line)


class _Startup:
    """Addon that reports the listening addresses, or stops the master when nothing listens."""

    def __init__(self, on_listening: Callable[[list[str]], None], errors: _ErrorLines, on_error: Callable[[str], None]) -> None:
        self.on_listening = on_listening
        self.errors = errors
        self.on_error = on_error
        self.addresses: list[str] = []

    def running(self) -> None:
        from mitmproxy import ctx

        proxyserver = ctx.master.addons.get("proxyserver")
        self.addresses = [f"{a[0]}:{a[1]}" for a in proxyserver.listen_addrs()]
        if not self.addresses:
            ctx.master.shutdown()
            return
        self.errors.echo = self.on_error  # from now on, errors are shown as they happen
        self.on_listening(self.addresses)


async def _run(settings: RecordSettings, on_listening: Callable[[list[str]], None], on_error: Callable[[str], None]) -> dict[str, Any]:
    existed = Path(settings.out).exists()
    errors = _ErrorLines()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        master = Master(options.Options(), with_termlog=False)
        master.addons.add(*default_addons())
        recorder = VenomRecorder()
        startup = _Startup(on_listening, errors, on_error)
        master.addons.add(recorder, startup)
        try:
            master.options.update(
                mode=[settings.mitm_mode()],
                listen_host=settings.listen_host,
                listen_port=settings.listen_port,
                ssl_insecure=settings.insecure,
                # Connect to the target per request, not per client connection: when the target is
                # down the client gets a 502 for its request and we record a failed exchange.
                connection_strategy="lazy",
                venom_session_by=settings.session_by,
                venom_body_cap=settings.body_cap,
                venom_fsync=settings.fsync,
                venom_target=settings.target or "",
                venom_append=settings.append,
                venom_out=settings.out,
                **settings.extra_options,
            )
        except exceptions.OptionsError as exc:
            raise ConfigError(str(exc)) from None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, master.shutdown)
        if hasattr(signal, "SIGPIPE"):
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        await master.run()
        if not startup.addresses:
            if not existed:
                Path(settings.out).unlink(missing_ok=True)  # leave no empty recording behind
            detail = errors.lines[0] if errors.lines else "no listening address"
            if "address already in use" in detail.lower():
                detail = "address already in use"
            raise VenomError(f"cannot listen on {settings.listen_host}:{settings.listen_port}: {detail}")
        return recorder.summary()
    finally:
        root.removeHandler(errors)


def run_recorder(
    settings: RecordSettings,
    *,
    on_listening: Callable[[list[str]], None] = lambda addrs: None,
    on_error: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Record until SIGINT/SIGTERM; returns the summary (exchanges, sessions, errors, notes, file)."""
    settings.validate()
    return asyncio.run(_run(settings, on_listening, on_error))
