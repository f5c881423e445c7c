"""Benchmark: template inference on 10k / 50k / 100k exchanges (target: 100k in < 10 s, < 1 GB, linear).

    python bench/bench_inference.py            # writes bench/results/inference.json
    python bench/bench_inference.py --sizes 10000

Traffic is synthetic but shaped like a real shop front end: sessions that log in (bearer token and a
cookie), create items, read them (timestamps and request ids as noise), list them (arrays of ids),
order them, refund, and update documents under ETag/If-Match. Each size is written to a real .vrec
file first; then a fresh process reads it and infers the templates, so the peak resident memory
(ru_maxrss) is that run's alone. Reading the file is reported separately from inference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from venom_replay.proxy.recording import Exchange, RecordingWriter, Request, Response

RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"
JSON_CT = [("Content-Type", "application/json")]


def _ex(session: str, method: str, path: str, body: object | None, status: int, resp: object | None,
        headers: list[tuple[str, str]] | None = None, resp_headers: list[tuple[str, str]] | None = None) -> Exchange:
    req = Request(method, "http", "shop.local", 8000, path, [], JSON_CT + (headers or []),
                  json.dumps(body).encode() if body is not None else b"")
    rsp = Response(status, "", JSON_CT + (resp_headers or []), json.dumps(resp).encode() if resp is not None else b"")
    return Exchange(0, session, 0.0, 0.0, req, rsp)


def generate(path: Path, n: int, seed: int = 7) -> None:
    """Write about ``n`` exchanges of realistic sessions to ``path``."""
    rng = random.Random(seed)
    written = 0
    ids = iter(range(1000, 10**9))
    t0 = 1.7e9
    with RecordingWriter(path) as writer:
        s = 0
        while written < n:
            s += 1
            session = f"conn-{s}"
            out: list[Exchange] = []
            token = uuid.UUID(int=rng.getrandbits(128)).hex
            auth = [("Authorization", f"Bearer {token}"), ("Cookie", f"sid=s{token[:16]}")]
            out.append(_ex(session, "POST", "/login", {"username": f"user{s}", "password": "pw"}, 200,
                           {"access_token": token, "user": {"id": next(ids)}}, resp_headers=[("Set-Cookie", f"sid=s{token[:16]}; Path=/")]))
            items = []
            for _ in range(rng.randint(2, 5)):
                iid = next(ids)
                items.append(iid)
                out.append(_ex(session, "POST", "/api/items", {"name": f"item {rng.random():.6f}", "price": rng.randint(1, 500)}, 201,
                               {"id": iid, "name": "x", "created_at": f"2026-01-01T00:00:{rng.randint(0, 59):02d}Z"}, auth,
                               [("Location", f"/api/items/{iid}")]))
                for _ in range(rng.randint(1, 3)):
                    out.append(_ex(session, "GET", f"/api/items/{iid}", None, 200,
                                   {"id": iid, "name": "x", "price": 3, "fetched_at": t0 + rng.random() * 1000,
                                    "tags": ["a", "b"], "stock": {"warehouse": "w1", "count": rng.randint(0, 9)}},
                                   auth, [("X-Request-Id", str(uuid.UUID(int=rng.getrandbits(128))))]))
            out.append(_ex(session, "GET", "/api/items", None, 200,
                           {"items": [{"id": i, "name": "x"} for i in items] + [{"id": next(ids), "name": "y"} for _ in range(8)],
                            "generated_at": t0 + rng.random()}, auth))
            for iid in items[:2]:
                oid = str(uuid.UUID(int=rng.getrandbits(128)))
                out.append(_ex(session, "POST", "/api/orders", {"item_id": iid, "quantity": rng.randint(1, 3)}, 201,
                               {"order_id": oid, "status": "new", "total": 12.5}, auth))
                out.append(_ex(session, "GET", f"/api/orders/{oid}", None, 200, {"order_id": oid, "status": "new"}, auth))
                if rng.random() < 0.5:
                    out.append(_ex(session, "POST", f"/api/orders/{oid}/refund", {"reason": "late"}, 200, {"order_id": oid, "status": "refunded"}, auth))
            doc = next(ids)
            etag = f'"{rng.getrandbits(64):016x}"'
            out.append(_ex(session, "GET", f"/api/docs/{doc}", None, 200, {"title": "t"}, auth, [("ETag", etag)]))
            out.append(_ex(session, "PUT", f"/api/docs/{doc}", {"title": "u"}, 200, {"title": "u"}, auth + [("If-Match", etag)],
                           [("ETag", f'"{rng.getrandbits(64):016x}"')]))
            out.append(_ex(session, "DELETE", f"/api/items/{items[-1]}", None, 204, None, auth))
            for ex in out[: n - written]:
                writer.write_exchange(ex)
            written += min(len(out), n - written)


def measure(path: Path) -> dict:
    """Runs in a fresh process: read, infer, report times and peak memory."""
    from venom_replay.proxy.infer import infer_templates
    from venom_replay.proxy.recording import read_recording

    t0 = time.perf_counter()
    rec = read_recording(path)
    t1 = time.perf_counter()
    rss_after_read = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tset = infer_templates(rec)
    t2 = time.perf_counter()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bindings = sum(len(t.consumes) for t in tset.templates.values())
    return {
        "exchanges": len(rec.exchanges),
        "read_seconds": round(t1 - t0, 3),
        "infer_seconds": round(t2 - t1, 3),
        "peak_rss_mb": round(rss_peak / 1024, 1),
        "rss_after_read_mb": round(rss_after_read / 1024, 1),
        "templates": len(tset.templates),
        "bindings": bindings,
        "sessions": len(tset.sessions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            path = Path(tmp) / f"bench-{n}.vrec"
            generate(path, n)
            proc = subprocess.run([sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, check=True)
            result = json.loads(proc.stdout)
            result["file_mb"] = round(path.stat().st_size / 2**20, 1)
            runs.append(result)
            print(f"{n:>7} exchanges: infer {result['infer_seconds']:.2f} s, read {result['read_seconds']:.2f} s, "
                  f"peak RSS {result['peak_rss_mb']:.0f} MB, {result['templates']} templates, {result['bindings']} bindings", flush=True)
    base = runs[0]
    for r in runs:
        r["infer_time_ratio_vs_smallest"] = round(r["infer_seconds"] / base["infer_seconds"], 2)
        r["size_ratio_vs_smallest"] = round(r["exchanges"] / base["exchanges"], 2)
    out = {
        "benchmark": "template inference",
        "targets": {"100k_infer_seconds": 10, "100k_peak_rss_mb": 1024},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
