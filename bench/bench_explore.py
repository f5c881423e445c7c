"""Benchmark: explorer overhead against a plain request loop, in one run against the same API.

    python bench/bench_explore.py            # writes bench/results/explore.json

Target (issue 6): the explorer's transitions per second are at least 0.8x those of a plain loop
that sends the same requests without rollback or checking.

Set-up: the orders test API (tests/apps/orders_api.py, correct twin) in its own process on a real
PostgreSQL, its happy paths recorded through the real proxy. The explorer runs BFS at depth 4 with
every built-in checker, rolling the database back with the trigger journal; every request its search
sends is logged. The plain loop then sends exactly the search's transition requests, in order, with
one pooled requests.Session and nothing else. Both rates count transitions (one per explored step).
Reported twice: over the search phase, and over the whole run (install, replay of the recorded
sessions, minimisation and the final restore included).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.db_servers import PostgresServer  # noqa: E402
from support.fixtures_explore import orders_traffic  # noqa: E402
from support.http_app import start_app  # noqa: E402
from support.proxy import recording_proxy  # noqa: E402

from venom_replay.adapters.registry import open_adapter  # noqa: E402
from venom_replay.proxy.infer import infer_templates  # noqa: E402
from venom_replay.replay.checkers_builtin import builtin_checkers  # noqa: E402
from venom_replay.replay.explorer import Explorer, _recorded_exchanges, explore  # noqa: E402
from venom_replay.replay.http_client import HttpClient  # noqa: E402

DEPTH = 4


class LoggingClient(HttpClient):
    """The explorer's own client, remembering which requests were transitions of the search."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.transition_requests: list = []
        self.capture = False

    def execute(self, template, request):  # noqa: ANN001
        if self.capture:
            self.transition_requests.append(request)
        return super().execute(template, request)


def main() -> None:
    pg = PostgresServer()
    pg.start()
    app = None
    try:
        url = pg.url(pg.create_database())
        app = start_app("apps.orders_api:create_app", env={"ORDERS_DB": url, "ORDERS_FIXED": "1"})
        rec = Path(pg.tmp) / "orders.vrec"
        with recording_proxy(app.url, rec) as proxy:
            orders_traffic(proxy.url)
        tset = infer_templates(rec)

        client = LoggingClient(app.url)
        # Log only what _expand sends (the transitions), not the re-executions or probes.
        original_expand = Explorer._expand

        def expand(self, node, action, frontier):  # noqa: ANN001
            client.capture = True
            try:
                before = len(client.transition_requests)
                return original_expand(self, node, action, frontier)
            finally:
                client.capture = False
                del client.transition_requests[before + 1:]

        Explorer._expand = expand
        adapter = open_adapter(url)
        try:
            result = explore(tset, client, adapter, depth=DEPTH, checkers=builtin_checkers(tset, _recorded_exchanges(tset)))
        finally:
            Explorer._expand = original_expand
            adapter.close()
        sent = client.transition_requests
        assert len(sent) == result.transitions, (len(sent), result.transitions)

        plain = requests.Session()
        start = time.perf_counter()
        for req in sent:
            plain.request(req.method, f"{app.url}{req.path}", params=req.query or None,
                          headers={k: v for k, v in req.headers if k.lower() not in ("host", "content-length")},
                          data=req.body or None, timeout=10)
        plain_seconds = time.perf_counter() - start

        plain_rate = len(sent) / plain_seconds
        search_rate = result.transitions / result.search_seconds
        whole_rate = result.transitions / result.elapsed
        out = {
            "benchmark": "explorer transitions per second vs a plain loop of the same requests",
            "api": "tests/apps/orders_api.py (correct twin) on PostgreSQL 15, werkzeug threaded server",
            "depth": DEPTH,
            "strategy": "bfs",
            "checkers": result.checkers,
            "states": result.states,
            "transitions": result.transitions,
            "db_restored": result.db_restored,
            "plain_loop": {"seconds": round(plain_seconds, 3), "transitions_per_second": round(plain_rate, 1)},
            "explorer_search": {"seconds": round(result.search_seconds, 3), "transitions_per_second": round(search_rate, 1),
                                "ratio_to_plain": round(search_rate / plain_rate, 3)},
            "explorer_whole_run": {"seconds": round(result.elapsed, 3), "transitions_per_second": round(whole_rate, 1),
                                   "ratio_to_plain": round(whole_rate / plain_rate, 3)},
            "target_ratio": 0.8,
            "meets_target_search": search_rate / plain_rate >= 0.8,
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "cpus": __import__("os").cpu_count(),
        }
        dest = ROOT / "bench" / "results" / "explore.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps(out, indent=2))
    finally:
        if app is not None:
            app.stop()
        pg.stop()


if __name__ == "__main__":
    main()
