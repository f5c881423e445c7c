"""Recording benchmarks, measured in one run on this machine (`python bench/bench_recording.py`).

(a) Added latency: the same requests through `venom-replay record`, through a plain `mitmdump`
    reverse proxy (quiet, same connection strategy) and through that mitmdump with the addon
    loaded by -s, in front of the same local API process, interleaved request by request so all
    see the same machine load. Target: median ratio record / mitmdump <= 1.1. The -s ratio
    isolates the cost of recording itself (same master, same addons otherwise).
(b) Memory: 100k exchanges through the recording addon. Driving 100k real HTTP requests takes
    minutes on 2 shared cores, so the addon is driven in-process with mitmproxy's own test flows
    (real HTTPFlow objects, a new client connection every 10 flows, JSON bodies), and the RSS of
    this process is sampled at 10k, 50k and 100k. The real proxy's RSS is also sampled during (a).
(c) Reading the 100k-exchange recording from (b) with read_recording: target < 5 s.

Results go to bench/results/recording.json.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
logging.getLogger("passlib").setLevel(logging.ERROR)

import requests  # noqa: E402

from support.http_app import running_app  # noqa: E402
from support.net import free_port, wait_for_port  # noqa: E402
from support.proxy import start_recording_proxy  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "recording.json"


def rss_kb(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _timed(session: requests.Session, method: str, url: str, **kw) -> float:
    t0 = time.perf_counter()
    r = session.request(method, url, **kw)
    elapsed = time.perf_counter() - t0
    r.raise_for_status()
    return elapsed


def bench_latency(rounds: int = 400) -> dict:
    with running_app("apps.crud_api:create_app") as api, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        plain = subprocess.Popen(
            ["mitmdump", "-q", "--mode", f"reverse:{api.url}", "-p", str(port), "--set", "connection_strategy=lazy"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The same mitmdump with the addon loaded through -s: isolates what recording itself costs.
        port_s = free_port()
        with_addon = subprocess.Popen(
            ["mitmdump", "-q", "--mode", f"reverse:{api.url}", "-p", str(port_s), "--set", "connection_strategy=lazy",
             "-s", str(ROOT / "proxy" / "addon.py"), "--set", f"venom_out={Path(tmp) / 'addon.vrec'}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        recorder = start_recording_proxy(api.url, Path(tmp) / "bench.vrec")
        try:
            wait_for_port(port, proc=plain, timeout=30)
            wait_for_port(port_s, proc=with_addon, timeout=30)
            targets = {
                "direct": api.url,
                "mitmdump": f"http://127.0.0.1:{port}",
                "mitmdump_s_addon": f"http://127.0.0.1:{port_s}",
                "record": recorder.url,
            }
            sessions = {name: requests.Session() for name in targets}
            for s in sessions.values():
                s.trust_env = False
            # Seed one item and warm every path (imports, first connections).
            requests.post(api.url + "/items", json={"name": "seed", "price": 1}, proxies={"http": None})
            for _ in range(30):
                for name, base in targets.items():
                    _timed(sessions[name], "GET", base + "/items/1")
            rss_start = rss_kb(recorder.proc.pid)
            scenarios = {
                # The client closes after each request: both proxies do exactly the same work apart
                # from recording, so this ratio is the recording overhead.
                "client_closes": {"Connection": "close"},
                # A keep-alive client: the recorder hides the dev server's Connection: close and
                # keeps the client connection; plain mitmdump passes the close on.
                "keep_alive": {},
            }
            times = {sc: {name: [] for name in targets} for sc in scenarios}
            for i in range(rounds):
                # Alternate the order every round so neither proxy always goes first.
                order = list(targets) if i % 2 == 0 else list(reversed(targets))
                for sc, headers in scenarios.items():
                    for name in order:
                        base = targets[name]
                        if i % 3 == 0:
                            t = _timed(sessions[name], "POST", base + "/items", json={"name": f"n{i}", "price": i}, headers=headers)
                        else:
                            t = _timed(sessions[name], "GET", base + "/items/1", headers=headers)
                        times[sc][name].append(t)
            rss_end = rss_kb(recorder.proc.pid)
        finally:
            for proc in (plain, with_addon):
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=30)
            recorder.stop()
        per_scenario = {}
        for sc, by_name in times.items():
            med = {name: statistics.median(t) * 1000 for name, t in by_name.items()}
            p90 = {name: statistics.quantiles(t, n=10)[-1] * 1000 for name, t in by_name.items()}
            per_scenario[sc] = {
                "median_ms": {k: round(v, 3) for k, v in med.items()},
                "p90_ms": {k: round(v, 3) for k, v in p90.items()},
                "median_ratio_record_vs_mitmdump": round(med["record"] / med["mitmdump"], 3),
                "median_ratio_mitmdump_with_addon_vs_without": round(med["mitmdump_s_addon"] / med["mitmdump"], 3),
            }
        recorded = sum(1 for _ in read_exchanges(recorder.path))
    return {
        "requests_per_target_per_scenario": rounds,
        "target": "GET /items/1 and POST /items (1 in 3) on tests/apps/crud_api.py (werkzeug, threaded)",
        **per_scenario,
        "median_ratio_record_vs_mitmdump": per_scenario["client_closes"]["median_ratio_record_vs_mitmdump"],
        "target_ratio": 1.1,
        "recorded_exchanges": recorded,
        "record_proxy_rss_kb": {"after_warmup": rss_start, "after_run": rss_end},
        "summary_line": recorder.stdout.strip().splitlines()[-1],
    }


def read_exchanges(path: Path):
    from venom_replay.proxy.recording import read_recording

    return read_recording(path).exchanges


def bench_memory_and_read(total: int = 100_000) -> dict:
    from mitmproxy.test import taddons, tflow

    from venom_replay.proxy.addon import VenomRecorder
    from venom_replay.proxy.recording import read_recording

    req_body = json.dumps({"name": "widget", "price": 1999, "tags": ["a", "b", "c"], "note": "x" * 120}).encode()
    resp_body = json.dumps({"id": 0, "name": "widget", "price": 1999, "tags": ["a", "b", "c"], "note": "y" * 300}).encode()
    samples: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "100k.vrec"
        addon = VenomRecorder()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, venom_out=str(out))
            gc.collect()
            samples["before"] = rss_kb()
            client = None
            t0 = time.perf_counter()
            for i in range(1, total + 1):
                flow = tflow.tflow(resp=True)
                if client is None or i % 10 == 0:
                    if client is not None:
                        addon.client_disconnected(client)
                    client = flow.client_conn
                flow.client_conn = client
                flow.request.method = "POST" if i % 3 == 0 else "GET"
                flow.request.path = f"/items/{i}"
                flow.request.content = req_body
                flow.response.content = resp_body
                addon.requestheaders(flow)
                addon.response(flow)
                if i in (10_000, 50_000, 100_000):
                    samples[f"{i // 1000}k"] = rss_kb()
            write_s = time.perf_counter() - t0
            addon.done()
        size = out.stat().st_size
        gc.collect()
        t0 = time.perf_counter()
        rec = read_recording(out)
        read_s = time.perf_counter() - t0
        assert len(rec.exchanges) == total, len(rec.exchanges)
        sessions = len(rec.sessions)
        del rec
    growth_10k_to_100k = samples["100k"] - samples["10k"]
    return {
        "memory": {
            "driver": "in-process: VenomRecorder hooks fed mitmproxy test HTTPFlows (not HTTP requests)",
            "exchanges": total,
            "sessions": sessions,
            "rss_kb": samples,
            "rss_growth_10k_to_100k_kb": growth_10k_to_100k,
            "rss_growth_per_exchange_bytes": round(growth_10k_to_100k * 1024 / (total - 10_000), 2),
            "write_seconds": round(write_s, 2),
            "flows_per_second": round(total / write_s),
        },
        "read": {
            "exchanges": total,
            "file_mb": round(size / 1e6, 1),
            "read_recording_seconds": round(read_s, 3),
            "target_seconds": 5.0,
        },
    }


def main() -> None:
    started = time.time()
    latency = bench_latency()
    print("latency:", json.dumps(latency, indent=2))
    mem = bench_memory_and_read()
    print("memory/read:", json.dumps(mem, indent=2))
    result = {
        "benchmark": "recording",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "latency": latency,
        **mem,
        "verdict": {
            "latency_ratio_ok": latency["median_ratio_record_vs_mitmdump"] <= 1.1,
            "addon_overhead_ratio_ok": latency["client_closes"]["median_ratio_mitmdump_with_addon_vs_without"] <= 1.1,
            "memory_flat": mem["memory"]["rss_growth_per_exchange_bytes"] < 50,
            "read_under_5s": mem["read"]["read_recording_seconds"] < 5.0,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
