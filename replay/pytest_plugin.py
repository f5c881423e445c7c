"""venom-replay as a pytest plugin: turn an existing e2e suite into a recording with one option.

    pytest tests/e2e --venom-record shop.vrec
        The real recording proxy runs in forward mode for the whole test session: HTTP_PROXY and
        HTTPS_PROXY (and their lower-case forms) point at it and NO_PROXY is cleared, so every call
        the tests make with requests, urllib, httpx (trust_env) or a subprocess is recorded, without
        code changes. HTTPS calls are decrypted by the proxy: REQUESTS_CA_BUNDLE, SSL_CERT_FILE,
        CURL_CA_BUNDLE and NODE_EXTRA_CA_CERTS name its CA certificate, so those clients trust it.
        ``--venom-insecure`` lets the proxy accept an API's self-signed certificate.

    pytest tests/e2e --venom-record shop.vrec --venom-target http://127.0.0.1:8000
        Reverse mode in front of one API: the ``venom_base_url`` fixture and $VENOM_BASE_URL give
        the proxy's URL (the target's when not recording), for suites that take their base URL there.

    pytest tests/e2e --venom-record shop.vrec --venom-db postgresql://app@127.0.0.1/shop
        Also save the database's content before the first test runs (shop.vrec.start, `record --db`),
        so that explore starts where the suite started. Repeat for several databases.

Each test is its own recorded session: calls made through ``requests`` carry an X-Venom-Session
header naming the test (the proxy strips it), so "A then B" is learned within a test and never
across two tests. ``--venom-session connection`` groups by client connection instead.

Registered through the ``pytest11`` entry point. Importing it is cheap (pytest and the standard
library only) and without ``--venom-record`` it changes nothing.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

SESSION_HEADER = "X-Venom-Session"
_PROXY_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy")
_CA_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
MITMPROXY_CA_CERT = "~/.mitmproxy/mitmproxy-ca-cert.pem"
"""The recording proxy's CA certificate (mitmproxy's default place; made on its first start)."""
_BYPASS_ENV = ("NO_PROXY", "no_proxy")
_current_test: list[str] = [""]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("venom-replay", "venom-replay: record the suite's HTTP traffic")
    group.addoption("--venom-record", metavar="FILE.vrec", default=None,
                    help="record every HTTP exchange the tests make into this recording (never overwritten)")
    group.addoption("--venom-target", metavar="URL", default=None,
                    help="record in reverse mode in front of this API; tests read the proxy URL from the "
                         "venom_base_url fixture or $VENOM_BASE_URL (default: forward mode via HTTP_PROXY)")
    group.addoption("--venom-session", choices=("test", "connection"), default="test",
                    help="one recorded session per test (default) or per client connection")
    group.addoption("--venom-append", action="store_true", default=False,
                    help="add to an existing recording instead of refusing it")
    group.addoption("--venom-db", metavar="URL", action="append", default=[],
                    help="save this database's content before the first test (the recording's start state, "
                         "FILE.vrec.start), so explore starts where the suite started; repeat for several")
    group.addoption("--venom-insecure", action="store_true", default=False,
                    help="let the recording proxy accept the API's TLS certificate unverified (self-signed)")


def pytest_configure(config: pytest.Config) -> None:
    out = config.getoption("venom_record", None)
    if not out or hasattr(config, "workerinput"):
        # Not recording, or a pytest-xdist worker: the controller's proxy and environment serve it.
        return
    config.pluginmanager.register(_Recording(config, out), "venom-replay-recording")


class _Recording:
    """The recording proxy's life in one test session, and the environment that routes to it."""

    def __init__(self, config: pytest.Config, out: str) -> None:
        from venom_replay.replay.record_process import start_recorder  # only when recording

        self.target = config.getoption("venom_target")
        self.saved_env: dict[str, str | None] = {}
        extra = ["--append"] if config.getoption("venom_append") else []
        if config.getoption("venom_insecure"):
            extra.append("--insecure")
        try:
            self.recorder = start_recorder(out, target=self.target, mode="reverse" if self.target else "regular",
                                           extra_args=extra, dbs=config.getoption("venom_db") or ())
        except RuntimeError as exc:
            raise pytest.UsageError(f"--venom-record {out}: {exc}") from None
        if self.target:
            self._set_env("VENOM_BASE_URL", self.recorder.url)
        else:
            for name in _PROXY_ENV:
                self._set_env(name, self.recorder.url)
            for name in _BYPASS_ENV:  # a loopback API must not bypass the recorder
                self._set_env(name, None)
            ca_cert = os.path.expanduser(MITMPROXY_CA_CERT)
            if os.path.exists(ca_cert):  # HTTPS through the proxy: clients must trust its CA
                for name in _CA_BUNDLE_ENV:
                    self._set_env(name, ca_cert)
        self.unpatch = _tag_requests_with_test() if config.getoption("venom_session") == "test" else None

    def _set_env(self, name: str, value: str | None) -> None:
        self.saved_env.setdefault(name, os.environ.get(name))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        _current_test[0] = item.nodeid
        try:
            return (yield)
        finally:
            _current_test[0] = ""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        self._stop()
        if self.recorder.start_state:
            terminalreporter.write_line(f"venom-replay: {self.recorder.start_state}")
        terminalreporter.write_line(f"venom-replay: {self.recorder.summary or 'recording stopped'}")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.unpatch is not None:
            self.unpatch()
            self.unpatch = None
        for name, value in self.saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.saved_env.clear()
        if self.recorder.child.running:
            self.recorder.stop()


def _tag_requests_with_test():
    """Add the session header naming the running test to every ``requests`` call; returns the undo."""
    try:
        import requests.sessions
    except ImportError:  # the suite does not use requests: sessions fall back to connections
        return None
    original = requests.sessions.Session.request

    def request(self, method, url, *args, **kwargs):
        if _current_test[0] and SESSION_HEADER not in self.headers:  # a header the test set itself wins
            positional = len(args) >= 3  # (params, data, headers, ...)
            headers = dict((args[2] if positional else kwargs.get("headers")) or {})
            if not any(key.lower() == SESSION_HEADER.lower() for key in headers):
                headers[SESSION_HEADER] = _current_test[0]
            if positional:
                args = (*args[:2], headers, *args[3:])
            else:
                kwargs["headers"] = headers
        return original(self, method, url, *args, **kwargs)

    requests.sessions.Session.request = request

    def undo() -> None:
        requests.sessions.Session.request = original

    return undo


@pytest.fixture(scope="session")
def venom_base_url(pytestconfig: pytest.Config) -> str:
    """The URL tests should call: the recording proxy in reverse mode, else ``--venom-target``."""
    url = os.environ.get("VENOM_BASE_URL") or pytestconfig.getoption("venom_target")
    if not url:
        pytest.skip("venom_base_url needs --venom-target URL")
    return url
