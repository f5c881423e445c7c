"""Graph tests: synthetic template sets and a real headless Chromium driven over DevTools.

Chromium is driven through ``--remote-debugging-pipe`` (NUL-separated JSON on fds 3 and 4), so the
test needs no websocket library and no TCP port.
"""

from __future__ import annotations

import base64
import json
import os
import random
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from venom_replay.proxy.recording import Request, Response
from venom_replay.proxy.infer.model import ActionTemplate, Consumption, Production, Step, TemplateSet

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]


# ------------------------------------------------------------------ synthetic template sets


def make_template(
    tid: str,
    method: str,
    path: str,
    *,
    produces: list[tuple[str, str]] = (),
    consumes: list[tuple[str, str, str, str]] = (),
    count: int = 1,
    statuses: dict[int, int] | None = None,
    request: Request | None = None,
    response: Response | None = None,
) -> ActionTemplate:
    """A template; ``consumes`` holds (var, location, producer id, source)."""
    return ActionTemplate(
        id=tid,
        method=method,
        path=path,
        host="127.0.0.1",
        port=8000,
        count=count,
        statuses=statuses or {200: count},
        produces=[Production(var, source) for var, source in produces],
        consumes=[Consumption(var=v, location=loc, producer=p, source=s) for v, loc, p, s in consumes],
        example_request=request,
        example_response=response,
    )


def make_tset(templates: list[ActionTemplate], sessions: dict[str, list[str]], source: str = "test.vrec") -> TemplateSet:
    seq = 0
    steps: dict[str, list[Step]] = {}
    for sid, ids in sessions.items():
        steps[sid] = []
        for tid in ids:
            seq += 1
            steps[sid].append(Step(tid, seq))
    return TemplateSet(templates={t.id: t for t in templates}, sessions=steps, source=source)


SECRET_TOKEN = "tok-SECRET-4242"
SECRET_PASSWORD = "hunter2-very-secret"


def shop_tset() -> TemplateSet:
    """A small shop API: login -> token, create order -> id, read/refund/delete the order."""
    auth = ("token", "header:Authorization", "login", "body:$.token")
    order = ("order_id", "path:order_id", "create", "body:$.id")
    login_req = Request(
        "POST", "http", "127.0.0.1", 8000, "/login",
        headers=[("Content-Type", "application/json")],
        body=json.dumps({"user": "ann", "password": SECRET_PASSWORD}).encode(),
    )
    login_resp = Response(
        200, "OK",
        headers=[("Content-Type", "application/json"), ("Set-Cookie", f"sid={SECRET_TOKEN}; Path=/")],
        body=json.dumps({"token": SECRET_TOKEN, "user": "ann"}).encode(),
    )
    create_req = Request(
        "POST", "http", "127.0.0.1", 8000, "/orders",
        headers=[("Authorization", f"Bearer {SECRET_TOKEN}"), ("Content-Type", "application/json")],
        body=b'{"item": "pen", "amount": 30}',
    )
    create_resp = Response(
        201, "Created",
        headers=[("Content-Type", "application/json"), ("Location", "/orders/17")],
        body=b'{"id": 17, "item": "pen", "amount": 30, "refunded": 0}',
    )
    templates = [
        make_template("login", "POST", "/login", produces=[("token", "body:$.token")], count=3,
                      request=login_req, response=login_resp),
        make_template("create", "POST", "/orders", produces=[("order_id", "body:$.id")], consumes=[auth],
                      count=3, statuses={201: 3}, request=create_req, response=create_resp),
        make_template("read", "GET", "/orders/{order_id}", consumes=[auth, order], count=3, statuses={200: 2, 404: 1}),
        make_template("refund", "POST", "/orders/{order_id}/refund", consumes=[auth, order], count=2),
        make_template("delete", "DELETE", "/orders/{order_id}", consumes=[auth, order], statuses={204: 1}),
        make_template("health", "GET", "/health"),
    ]
    sessions = {
        "s1": ["login", "create", "read", "refund"],
        "s2": ["login", "create", "refund", "read"],
        "s3": ["health", "login", "create", "delete", "read"],
    }
    return make_tset(templates, sessions, source="shop.vrec")


def random_tset(seed: int, n_templates: int = 5, n_sessions: int = 4, max_len: int = 6) -> TemplateSet:
    """Random templates with random bindings (alternative producers, self-loops, dangling ones)."""
    rng = random.Random(seed)
    ids = [f"t{i}" for i in range(n_templates)]
    templates = []
    for tid in ids:
        consumes = []
        for loc in range(rng.choice([0, 0, 1, 1, 2])):
            for producer in rng.sample(ids + ["ghost"], rng.choice([1, 1, 2])):
                consumes.append((f"v{loc}", f"path:p{loc}", producer, f"body:$.{producer}"))
        templates.append(make_template(tid, rng.choice(["GET", "POST", "DELETE"]), f"/{tid}", consumes=consumes))
    sessions = {f"s{i}": [rng.choice(ids + ["gone"]) for _ in range(rng.randint(1, max_len))] for i in range(n_sessions)}
    return make_tset(templates, sessions)


# A label with everything that needs escaping somewhere: DOT, Mermaid, HTML, JSON in <script>.
TRICKY = 'GET /a"b\\c {x} <b>&amp; | #1 </script><script>alert(1)</script>\nsecond line'


def state_graph():
    """The shape the explorer will export: states as nodes, actions as edges, a finding on one."""
    g = nx.MultiDiGraph(title="explored states")
    g.add_node("s0", label="initial", kind="initial", details={"rows": {"orders": 0}})
    g.add_node("s1", label="order 17 open", kind="state", details={"rows": {"orders": 1}, "bound": ["order_id=17"]})
    g.add_node("s2", label=TRICKY, kind="state")
    g.add_edge("s0", "s1", key=0, kind="action", label="POST /orders → 201", count=1)
    g.add_edge("s1", "s2", key=0, kind="action", label="POST /orders/{id}/refund → 200", count=2)
    g.add_edge("s2", "s2", key=0, kind="finding", label="double refund", count=1,
               details={"checker": "idempotent", "status": 200})
    return g


# ------------------------------------------------------------------ headless Chromium


class Browser:
    """One headless Chromium page driven over the DevTools protocol through a pipe."""

    def __init__(self, executable: str, width: int = 1400, height: int = 850) -> None:
        self.profile = tempfile.mkdtemp(prefix="venom-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:  # runs in the child: DevTools reads fd 3 and writes fd 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=wire_fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.page(f"{domain}.enable")
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    # -- protocol
    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._from_browser], [], [], remaining)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def call(self, method: str, session: str | None = None, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self._send(msg)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, session=self.session, **params)

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    # -- conveniences
    def open(self, url: str) -> None:
        self.events.clear()
        self.page("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"still false after {timeout}s: {expression}")

    def mouse(self, kind: str, x: float, y: float, **extra: Any) -> None:
        self.page("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def click(self, x: float, y: float) -> None:
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, button="left", buttons=1, clickCount=1)
        self.mouse("mouseReleased", x, y, button="left", buttons=0, clickCount=1)

    def screenshot(self, path: Path) -> Path:
        data = self.page("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def headless_browser() -> Iterator[Browser]:
    """A real headless Chromium (Debian's package), one per test session."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (scripts/test.sh installs it)")
    browser = Browser(executable)
    try:
        yield browser
    finally:
        browser.close()
