"""Load test: N concurrent authentication sessions streaming frames at F per second against
one `marginlive serve` on loopback, for a bounded time.

Each client creates a session, streams JPEG frames of a live video (stop-and-wait: the next
frame goes after the answer, at most F per second, as the web page does), and starts a new
session when a verdict arrives. Reports frames served per second, per-frame latency p50/p95,
and errors: frames without an answer (lost), answers for the wrong frame or a verdict whose
signature or session id does not check out (wrong), and HTTP/WebSocket failures.

Run: .venv/bin/python benchmarks/load_test.py [--sessions 20] [--fps 10] [--seconds 60]
Writes the load section of docs/speed.md and docs/load_test.json.
"""
import argparse
import asyncio
import json
import sys
import time

import cv2
import numpy as np

from common import DOCS, ROOT, live_frames, machine, save_json, start_redis, start_serve, write_section

SECRET = "load-test-secret-0123456789abcdef"


async def client(k, addr, frames, fps, until, stats):
    import httpx
    from websockets.asyncio.client import connect
    from marginlive.server import tokens
    async with httpx.AsyncClient() as http:
        i = k * 7
        while time.monotonic() < until:
            r = await http.post(f"http://{addr}/v1/sessions")
            if r.status_code != 201:
                stats["http_errors"] += 1
                await asyncio.sleep(0.5)
                continue
            sid = r.json()["session_id"]
            stats["sessions"] += 1
            try:
                async with connect(f"ws://{addr}/v1/sessions/{sid}/stream", max_size=None) as ws:
                    seq = 0
                    while time.monotonic() < until:
                        t0 = time.monotonic()
                        seq += 1
                        await ws.send(frames[i % len(frames)])
                        i += 1
                        stats["sent"] += 1
                        try:
                            m = json.loads(await asyncio.wait_for(ws.recv(), 15))
                        except asyncio.TimeoutError:
                            stats["lost"] += 1
                            break
                        lat = time.monotonic() - t0
                        stats["latency"].append(lat)
                        if m.get("seq") != seq or "error" in m:
                            stats["wrong"] += 1
                        if m.get("state") in ("accepted", "rejected"):
                            try:
                                key = tokens.verdict_key(SECRET.encode(), m["state"] == "accepted")
                                c = tokens.verify(m["verdict"], key)
                                ok = c["sid"] == sid and c["verdict"] == m["state"]
                            except Exception:
                                ok = False
                            stats["wrong"] += 0 if ok else 1
                            key = m["state"] + (f": {m['reason']}" if m.get("reason") else "")
                            stats["verdicts"][key] = stats["verdicts"].get(key, 0) + 1
                            break
                        await asyncio.sleep(max(0.0, 1 / fps - (time.monotonic() - t0)))
            except Exception as e:  # connection failures count as errors, the test goes on
                stats["ws_errors"] += 1
                stats.setdefault("examples", []).append(repr(e)[:200])


async def run(addr, n, fps, seconds, frames):
    stats = {"sent": 0, "lost": 0, "wrong": 0, "http_errors": 0, "ws_errors": 0, "sessions": 0,
             "latency": [], "verdicts": {}}
    until = time.monotonic() + seconds
    t0 = time.monotonic()
    await asyncio.gather(*(client(k, addr, frames, fps, until, stats) for k in range(n)))
    stats["elapsed_s"] = time.monotonic() - t0
    return stats


def serve_and_load(a, workers: int, frames, redis_url) -> dict:
    args = ["--gallery", str(ROOT / ".marginlive" / "loadtest.db"), "--rate", "1000", "--burst", "1000",
            "--max-failures", "100000", "--max-sessions", str(4 * a.sessions),
            "--max-sessions-per-client", str(4 * a.sessions), "--workers", str(workers),
            # the simulated clients share this machine's address, as a proxy's clients would: not capped
            # at the connections one address may hold (server/protocol.py)
            "--trusted-proxy", "127.0.0.1"]
    if workers > 1:
        args += ["--redis", redis_url]
    server, port = start_serve(args, {"MARGINLIVE_SECRET": SECRET, "MARGINLIVE_ADMIN_TOKEN": "load-test-admin-token"})
    try:
        time.sleep(3 if workers > 1 else 0)     # every worker up, not only the first
        st = asyncio.run(run(f"127.0.0.1:{port}", a.sessions, a.fps, a.seconds, frames))
    finally:
        server.terminate()
        server.wait(20)
    lat = np.array(st.pop("latency")) * 1e3
    return {"workers": workers, **st, "frames_per_s": st["sent"] / st["elapsed_s"],
            "latency_p50_ms": float(np.median(lat)) if len(lat) else None,
            "latency_p95_ms": float(np.percentile(lat, 95)) if len(lat) else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--fps", type=float, default=10)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="server processes to measure, one run each (above 1: on one Redis)")
    a = ap.parse_args()
    import tempfile
    frames = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for f in live_frames(300)]
    with tempfile.TemporaryDirectory() as tmp:
        redis, url = start_redis(tmp) if max(a.workers) > 1 else (None, None)
        try:
            runs = [serve_and_load(a, w, frames, url) for w in a.workers]
        finally:
            if redis is not None:
                redis.terminate()
    res = {"machine": machine(), "sessions": a.sessions, "target_fps_per_session": a.fps, "seconds": a.seconds,
           "runs": runs}
    save_json("load_test", res)
    lines = ["## Load test", "", f"Machine: {res['machine']}; server and load generator share its 2 cores. "
             f"{a.sessions} concurrent sessions, each streaming 640x480 JPEG frames of `live-1.webm` at up to "
             f"{a.fps:g} frames/s (stop-and-wait, as the web page does) for {a.seconds:g} s against "
             "`marginlive serve` (shipped model, 2 frame threads per process) on loopback: one process, then "
             "worker processes sharing one Redis (`--workers N --redis`). `benchmarks/load_test.py`.", "",
             "| processes | frames sent | frames/s served | p50 latency | p95 latency | lost | wrong | HTTP errors | WS errors | sessions |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['workers']} | {r['sent']} | {r['frames_per_s']:.1f} | {r['latency_p50_ms']:.0f} ms | "
                     f"{r['latency_p95_ms']:.0f} ms | {r['lost']} | {r['wrong']} | {r['http_errors']} | "
                     f"{r['ws_errors']} | {r['sessions']} |")
    lines += ["", "Verdicts reached: " + "; ".join(
        f"{r['workers']} process(es): " + ", ".join(f"{k} ({v})" for k, v in sorted(r["verdicts"].items())) for r in runs), ""]
    text = "\n".join(lines)
    write_section(DOCS / "speed.md", "## Load test", text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
