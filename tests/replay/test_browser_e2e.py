"""A real browser through the recording proxy, over HTTPS, to the shop's web front end.

Debian's Chromium (``/usr/bin/chromium``), driven by Playwright from PyPI (no browser download),
goes through ``venom-replay record --mode regular`` (a forward proxy) to the bundled shop served over
HTTPS with a self-signed certificate (``--tls``). The browser does not trust mitmproxy's CA: it is
started with ``ignore_https_errors=True``, and the recorder with ``--insecure`` (the shop's own
certificate is self-signed). Each user is one browser context, whose cookie jar keeps the signed-in
token (the page's ``shop_token`` cookie). The page's clicks play the same stories as the scripted
traffic (users, products, orders, pay, refund, delete, revoke); the recording then goes through
templates, graph and explore, which must find every planted bug from browser traffic alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from venom_replay.graph.transition import build_transition_graph
from venom_replay.proxy.recording import read_recording
from venom_replay.replay.demo.shop import ADMIN_PASSWORD, ADMIN_USERNAME, PLANTED_BUGS, launch
from venom_replay.replay.record_process import start_recorder
from venom_replay.replay.session import load_recording_once

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is not installed")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium package is not installed"),
    pytest.mark.timeout(600),
]


class ShopPage:
    """One user's browser context on the shop's page: sign in, then call the API through the page."""

    def __init__(self, browser: Any, shop_url: str, har: Path) -> None:
        # The README's Playwright example, as run here.
        self.context = browser.new_context(ignore_https_errors=True, record_har_path=str(har),
                                           record_har_content="embed")
        self.page = self.context.new_page()
        self.page.goto(shop_url + "/ui/")

    def _wait_for_answer(self, before: int) -> tuple[int, Any]:
        self.page.wait_for_function(
            "n => Number(document.getElementById('status').dataset.calls) > n", arg=before, timeout=15_000)
        status = int(self.page.text_content("#status") or "0")
        text = self.page.text_content("#answer") or ""
        return status, json.loads(text) if text else None

    def _calls(self) -> int:
        return int(self.page.get_attribute("#status", "data-calls") or "0")

    def login(self, username: str, password: str) -> dict[str, Any]:
        before = self._calls()
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("#login")
        status, answer = self._wait_for_answer(before)
        assert status == 200, answer
        self.page.wait_for_function("() => document.cookie.includes('shop_token=')")
        return answer

    def call(self, method: str, path: str, expect: int, body: Any = None) -> Any:
        before = self._calls()
        self.page.select_option("#method", method)
        self.page.fill("#path", path)
        self.page.fill("#body", json.dumps(body) if body is not None else "")
        self.page.click("#send")
        status, answer = self._wait_for_answer(before)
        assert status == expect, f"{method} {path}: {status} {answer}"
        return answer

    def close(self) -> None:
        self.context.close()  # writes the HAR


def _play_round(browser: Any, shop_url: str, hars: Path, rnd: int, *, last: bool) -> None:
    """The scripted traffic's stories (replay/demo/traffic.py), clicked through the page."""
    def user(story: str) -> ShopPage:
        return ShopPage(browser, shop_url, hars / f"{story}-{rnd}.har")

    alice, bob, carol = (f"{name}{rnd}" for name in ("alice", "bob", "carol"))
    password = f"pw-{rnd}-secret"

    admin = user("admin-setup")
    admin.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    admin.call("GET", "/me", 200)
    widget = admin.call("POST", "/products", 201, {"name": f"Widget {rnd}", "price": 1250, "stock": 50})
    gadget = admin.call("POST", "/products", 201, {"name": f"Gadget {rnd}", "price": 4999 + rnd, "stock": 20})
    gizmo = admin.call("POST", "/products", 201, {"name": f"Gizmo {rnd}", "price": 300, "stock": 100})
    admin.call("GET", f"/products/{widget['id']}", 200)
    admin.call("PATCH", f"/products/{gadget['id']}", 200, {"stock": 30 + rnd})
    admin.call("GET", "/products", 200)
    for name in (alice, bob, carol):
        admin.call("POST", "/users", 201, {"username": name, "password": password})
    users = admin.call("GET", "/users", 200)["users"]
    bob_id = next(u["id"] for u in users if u["username"] == bob)
    admin.call("PUT", f"/groups/admins/members/{bob_id}", 200)
    admin.close()

    shopper = user("alice-shopping")
    shopper.login(alice, password)
    first = shopper.call("POST", "/orders", 201, {"product_id": widget["id"], "quantity": 2})
    shopper.call("GET", f"/orders/{first['id']}", 200)
    shopper.call("POST", f"/orders/{first['id']}/pay", 200, {"method": "card"})
    shopper.call("GET", f"/orders/{first['id']}", 200)
    if not last:
        shopper.call("POST", f"/orders/{first['id']}/refund", 200, {"reason": "arrived damaged"})
        shopper.call("GET", f"/orders/{first['id']}", 200)
    second = shopper.call("POST", "/orders", 201, {"product_id": gadget["id"], "quantity": 1})
    shopper.call("POST", f"/orders/{second['id']}/pay", 200, {"method": "card"})
    third = shopper.call("POST", "/orders", 201, {"product_id": gizmo["id"], "quantity": 3})
    shopper.call("POST", f"/orders/{third['id']}/cancel", 200)
    shopper.call("GET", "/orders", 200)
    shopper.close()

    member = user("carol-member")
    member.login(carol, password)
    member.call("GET", "/me", 200)
    member.call("GET", "/orders", 200)
    order = member.call("POST", "/orders", 201, {"product_id": widget["id"], "quantity": 1})
    member.call("DELETE", f"/orders/{order['id']}", 204)
    member.close()

    helper = user("bob-admin")
    me = helper.login(bob, password)
    # The session lives in the browser's cookie jar: a reload is still signed in as bob.
    helper.page.reload()
    helper.page.wait_for_function("() => document.getElementById('who').textContent.includes('signed in as')")
    stall = helper.call("POST", "/products", 201, {"name": f"Doohickey {rnd}", "price": 700, "stock": 5})
    helper.call("PATCH", f"/products/{stall['id']}", 200, {"price": 650})
    order = helper.call("POST", "/orders", 201, {"product_id": stall["id"], "quantity": 1})
    helper.call("POST", f"/orders/{order['id']}/pay", 200, {"method": "invoice"})
    helper.call("GET", f"/orders/{order['id']}", 200)
    helper.call("DELETE", f"/groups/admins/members/{me['user_id']}", 200)
    helper.call("GET", "/me", 200)
    helper.call("GET", "/orders", 200)
    helper.close()

    if last:
        admin = user("admin-retire")
        admin.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        listed = admin.call("GET", "/products", 200)["products"]
        retired = next(p for p in listed if p["name"] == f"Gizmo {rnd}")
        admin.call("DELETE", f"/products/{retired['id']}", 204)
        admin.close()


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venom_replay.replay.cli", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _record_browsing(tmp_path: Path, *, fixed: bool) -> tuple[Path, str, str]:
    """Click the stories through Chromium into a recording; returns it, the shop's database and its host."""
    db = f"sqlite:///{tmp_path / 'shop.db'}"
    recording = tmp_path / "browser.vrec"
    hars = tmp_path / "hars"
    hars.mkdir()
    with launch(db, tls=True, fixed=fixed) as shop:
        assert shop.url.startswith("https://")
        # --insecure: the shop's certificate is self-signed; --db: explore starts where the browsing started.
        with start_recorder(recording, mode="regular", extra_args=["--insecure"], dbs=[db]) as recorder:
            with sync_api.sync_playwright() as playwright:
                # The README's Playwright example, as run here.
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), proxy={"server": recorder.url})
                try:
                    for rnd in (1, 2, 3):
                        _play_round(browser, shop.url, hars, rnd, last=rnd == 3)
                finally:
                    browser.close()
            assert recorder.stop().startswith("recorded ")
    return recording, db, f"127.0.0.1:{shop.port}"


def _explore(tmp_path: Path, recording: Path, db: str, shop_host: str, *, fixed: bool,
             extra: tuple[str, ...] = ()) -> dict[str, Any]:
    # The replay needs no TLS: the same shop on the same database, served over plain HTTP.
    out = tmp_path / "report"
    with launch(db, fixed=fixed) as plain:
        run = cli("explore", str(recording), "--target", plain.url, "--db", db, "--report", str(out),
                  "--host", shop_host, "--depth", "4", "--time-limit", "120", *extra, cwd=tmp_path)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["db_restored"] is True
    return report


def test_browser_over_https_finds_the_planted_bugs(tmp_path: Path) -> None:
    recording, db, shop_host = _record_browsing(tmp_path, fixed=False)

    rec = read_recording(recording)
    # Chromium's own background calls (update checks) go through the forward proxy too; only the
    # shop's host becomes templates (the busiest host, named here with --host).
    api_calls = [ex for ex in rec.exchanges
                 if f"{ex.request.host}:{ex.request.port}" == shop_host and not ex.request.path.startswith("/ui/")]
    assert {ex.request.scheme for ex in api_calls} == {"https"}  # the browser spoke HTTPS through the proxy
    assert len(api_calls) >= 120
    assert all(ex.response is not None and ex.response.status < 400 for ex in api_calls)
    # The token lives in the page's cookie (path /ui): API calls carry the bearer header, no cookie.
    assert not any(any(k.lower() == "cookie" for k, _ in ex.request.headers) for ex in api_calls)

    loaded = load_recording_once(recording)
    labels = {t.label for t in loaded.templates.templates.values()}
    for call in ("POST /login", r"POST /orders/\{\w+\}/refund", r"DELETE /orders/\{\w+\}",
                 r"DELETE /groups/admins/members/\{\w+\}", r"DELETE /products/\{\w+\}"):
        assert any(re.fullmatch(call, label) for label in labels), (call, sorted(labels))
    assert build_transition_graph(loaded.templates).number_of_edges() > 0

    report = _explore(tmp_path, recording, db, shop_host, fixed=False)
    missed = [bug.name for bug in PLANTED_BUGS if not any(bug.caught_by(f) for f in report["findings"])]
    assert not missed, (missed, [f["message"] for f in report["findings"]])

    # The README's HAR example: a Playwright HAR of one context imports into a recording.
    har = tmp_path / "hars" / "alice-shopping-1.har"
    imported = cli("import", str(har), "-o", str(tmp_path / "from-har.vrec"), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    from_har = read_recording(tmp_path / "from-har.vrec")
    assert any(ex.request.method == "POST" and ex.request.path.endswith("/refund") for ex in from_har.exchanges)


def test_browser_traffic_of_the_correct_twin_gives_no_findings(tmp_path: Path) -> None:
    # Precision: the same clicks against the shop without its bugs; browser traffic adds no noise.
    recording, db, shop_host = _record_browsing(tmp_path, fixed=True)
    report = _explore(tmp_path, recording, db, shop_host, fixed=True, extra=("--no-mutations",))
    assert report["findings"] == [], [(f["checker"], f["message"]) for f in report["findings"]]
