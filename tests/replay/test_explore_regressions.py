"""Regressions for the explorer's moves between states: after a restore the databases must hold
the target state's content and the fingerprint must see every later write."""

from __future__ import annotations

import sqlite3

import pytest

from venom_replay.adapters.registry import open_adapter


def test_sqlite_fingerprint_sees_a_write_made_after_a_restore(tmp_path):
    """A restore frees the journal's ids and the next writes reuse them: a write to another table
    than the undone ones must still change the fingerprint (it used not to, so the explorer took a
    fresh login for a step that changed nothing and restored a state without its token)."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as api:
        api.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)")
        api.execute("CREATE TABLE tokens (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL)")
    adapter = open_adapter(f"sqlite:///{path}")
    adapter.install()
    try:
        base_fp, base = adapter.fingerprint(), adapter.checkpoint()
        with sqlite3.connect(path) as api:  # the API's own connection
            api.executemany("INSERT INTO orders (item) VALUES (?)", [("pen",), ("ink",), ("pad",)])
        assert adapter.fingerprint() != base_fp
        adapter.restore(base)  # no fingerprint after it: the explorer knows the restored one
        with sqlite3.connect(path) as api:
            api.execute("INSERT INTO tokens VALUES ('fresh-login', 1)")
        assert adapter.fingerprint() != base_fp, "a login after a restore went unseen"
        adapter.restore(base)
        assert adapter.fingerprint() == base_fp
    finally:
        adapter.uninstall()
        adapter.close()


ONE_SHIPMENT = "SELECT order_id FROM shipments GROUP BY order_id HAVING count(*) > 1"
PY_ONE_SHIPMENT = f"""
def invariant_one_shipment(db):
    \"\"\"Each order is shipped once.\"\"\"
    assert not db.execute("{ONE_SHIPMENT}").fetchall()
"""


@pytest.mark.parametrize("kind", ["sql", "python"])
def test_a_broken_state_invariant_is_one_bucket_whatever_steps_follow(tmp_path, kind):
    """Once an invariant is broken it stays broken: the steps after the one that broke it are counted
    in that bucket instead of opening one bucket per kind of step (it was reported 11 times)."""
    from venom_replay.proxy.recording import Request, Response
    from venom_replay.proxy.infer.model import ActionTemplate, TemplateSet
    from venom_replay.replay.checkers.base import StepContext, StepResult
    from venom_replay.replay.findings import Action, FindingBook
    from venom_replay.replay.checkers.user_invariants import PythonInvariants, SqlInvariants

    path = tmp_path / "shop.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE shipments (order_id INTEGER NOT NULL)")
    db.commit()
    tpls = {t.id: t for t in (ActionTemplate(f"{m} {p}", m, p) for m, p in
                               [("POST", "/orders/{id}/ship"), ("GET", "/orders"), ("GET", "/orders/{id}")])}
    tset = TemplateSet(templates=tpls, sessions={})
    if kind == "sql":
        checker, signature = SqlInvariants({"one shipment": ONE_SHIPMENT}), "sql:one shipment"
    else:
        (tmp_path / "invariants.py").write_text(PY_ONE_SHIPMENT)
        checker, signature = PythonInvariants(tmp_path / "invariants.py"), "user:invariant_one_shipment"
    book = FindingBook()

    def walk(names: list[str]) -> None:
        db.execute("DELETE FROM shipments")
        db.commit()
        steps: list[StepResult] = []
        for name in names:
            tpl = tpls[name]
            if tpl.method == "POST":
                db.execute("INSERT INTO shipments VALUES (7)")
                db.commit()
            steps.append(StepResult(tpl, Request(tpl.method, "http", "x", 80, tpl.path), Response(200)))
            ctx = StepContext(step=steps[-1], path=list(steps), values={}, templates=tset, databases={"sqlite": db})
            for v in checker.check(ctx):
                book.add(v, [Action(n) for n in names[:len(steps)]], list(steps))

    ship = "POST /orders/{id}/ship"
    walk([ship, ship, "GET /orders", "GET /orders/{id}"])
    walk([ship, ship, "GET /orders/{id}", ship])
    [finding] = list(book)
    assert finding.signature == f"{signature}:{ship}" and finding.count == 6
    assert [a.template for a in finding.actions] == [ship, ship]
    assert "still broken" not in finding.message


def test_a_members_refusal_marks_the_call_admin_only(tmp_path, orders_api):
    """A member tried PUT /settings and was refused (403): that is evidence the call needs the admin
    role. It used to count the member as one more caller, so the call was not admin-only and bob's
    PUT /settings after stepping down was never reported."""
    import requests

    from support.fixtures_explore import orders_traffic
    from support.proxy import recording_proxy
    from venom_replay.proxy.infer.inference import infer_templates
    from venom_replay.replay.checkers.builtin import AccessAfterRevokeChecker, builtin_checkers
    from venom_replay.replay.explorer.run import _recorded_exchanges, explore

    path = tmp_path / "orders.db"
    api = orders_api(f"sqlite:///{path}")
    out = tmp_path / "orders.vrec"
    with recording_proxy(api.url, out) as proxy:
        orders_traffic(proxy.url)
        member = requests.Session()
        member.headers["X-Venom-Session"] = "carol-tries"
        token = member.post(proxy.url + "/login", json={"username": "carol"}, timeout=10).json()["token"]
        refused = member.put(proxy.url + "/settings", json={"banner": "carol was here"},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert refused.status_code == 403
    tset = infer_templates(out)
    exchanges = _recorded_exchanges(tset)
    assert "PUT /settings" in AccessAfterRevokeChecker(tset, exchanges).privileged
    assert "PUT /settings" not in AccessAfterRevokeChecker(tset).privileged  # statuses unknown: a caller like any

    adapter = open_adapter(f"sqlite:///{path}")
    try:
        result = explore(tset, api.url, adapter, depth=3, checkers=builtin_checkers(tset, exchanges),
                         limits=None)
    finally:
        adapter.close()
    found = {f.checker: [a.template for a in f.actions] for f in result.findings}
    assert found.get("access-after-revoke") == ["POST /login", "DELETE /admins/{admin_id}", "PUT /settings"], found
    assert result.db_restored is True


def test_coverage_search_on_the_correct_demo_shop_reports_nothing(demo_shop, tmp_path):
    """Deep coverage-guided search on the demo shop's correct twin: every reported finding must be what
    a replay of its sequence from the baseline shows; the twin has none (it used to report an admin
    creating products after leaving the admins group, which the shop refuses on replay)."""
    import time

    from venom_replay.replay.checkers.builtin import builtin_checkers
    from venom_replay.replay.explorer import Limits
    from venom_replay.replay.explorer.run import _recorded_exchanges, explore

    db, shop, tset = _recorded_correct_demo_shop(tmp_path, demo_shop)
    adapter = open_adapter(db)
    started = time.monotonic()
    try:
        result = explore(tset, shop.url, adapter, strategy="coverage", limits=Limits(depth=6, max_transitions=600),
                         checkers=builtin_checkers(tset, _recorded_exchanges(tset)))
    finally:
        adapter.close()
    print(f"coverage depth 6: {result.transitions} transitions, {result.states} states in {time.monotonic() - started:.1f} s;",
          [w for w in result.warnings if "reproduc" in w])
    assert result.db_restored is True and result.transitions >= 300
    assert [f.message for f in result.findings] == []



def test_prefix_roots_are_searched_to_their_own_depth(tmp_path, demo_shop):
    """Below a recorded prefix the search goes ``prefix_depth`` steps; from the baseline ``depth``, and
    a state that a baseline path reaches with depth to go is expanded even if a prefix reached it first."""
    from venom_replay.replay.explorer import Limits, explore

    db, shop, tset = _recorded_correct_demo_shop(tmp_path, demo_shop)
    adapter = open_adapter(db)
    try:
        result = explore(tset, shop.url, adapter, limits=Limits(depth=3, max_transitions=5000, prefix_depth=1),
                         prefix_roots=12, shrink=False)
    finally:
        adapter.close()
    assert result.stopped == "complete" and result.prefix_roots > 0 and result.db_restored is True
    graph = result.graph
    nodes = list(graph.nodes.values())
    assert max(n.depth for n in nodes if n.prefix_len) == 1
    assert max(n.depth for n in nodes if not n.prefix_len) == 3
    # Every state that a baseline path reaches with depth to go was expanded (each has an enabled
    # action: log in), also those a recorded prefix had reached first.
    unexpanded = [(graph.nodes[u].path, data["template"]) for u, v, data in graph.graph.edges(data=True)
                  if not graph.nodes[u].prefix_len and graph.nodes[u].depth < 2
                  and not data["template"].startswith("recorded:") and graph.graph.out_degree(v) == 0]
    assert unexpanded == []


def _recorded_correct_demo_shop(tmp_path, demo_shop):  # noqa: ANN001, ANN202 - fixtures
    """The demo shop's correct twin on SQLite with its scripted traffic recorded through the proxy."""
    from support.proxy import recording_proxy

    from venom_replay.proxy.infer.inference import infer_templates
    from venom_replay.replay.demo.traffic import run_traffic

    db = f"sqlite:///{tmp_path / 'shop.db'}"
    shop = demo_shop(db, fixed=True)
    recording = tmp_path / "shop.vrec"
    with recording_proxy(shop.url, recording) as proxy:
        run_traffic(proxy.url)
    return db, shop, infer_templates(recording)
