"""Hostile traffic: seeded random requests and streams against one `marginlive serve` on loopback.

What the internet sends a public service, drawn at random: every method on every route and on paths
that probe for files (traversal, NUL, 5,000-character names), bodies that are empty, truncated,
random, deeply nested or of the wrong type, headers that lie (content types, tokens, origins,
forwarded addresses), malformed HTTP on a raw socket (bad lengths and chunking, a TLS hello, huge
headers), then WebSocket streams that send real frames, broken images, text, oversized frames, and
drop their connection without closing it; sockets that send nothing or half a request, held open.
The service must answer every request below 500, write no traceback or ERROR line to its log,
close the slow sockets at its header deadline and still answer /health at the end.

Run: .venv/bin/python benchmarks/hostile_traffic.py [--requests 3000] [--streams 300] [--seed 0] [--workers 1 2]
Writes docs/hostile_traffic.json and docs/hostile_traffic.md (a few minutes on 2 cores; one run per
--workers count, above 1 on a Redis of its own: redis-server from `make system`).
"""
import argparse
import contextlib
import dataclasses
import json
import logging
import random
import socket
import sys
import tempfile
import time
from collections import Counter

import cv2
import numpy as np

from common import DOCS, live_frames, machine, markdown_table, save_json, start_redis, start_serve
from marginlive.server.service import ServerConfig

ADMIN = "hostile-traffic-admin-token"
PARTS = 5     # the streams are sent in this many parts, the server's memory read after each
OVERSIZED = ServerConfig().max_frame_bytes   # bytes: the largest stream message the server reads
ROUTES = ["/", "/health", "/metrics", "/v1/liveness", "/v1/sessions", "/v1/verdicts/verify", "/v1/identities",
          "/v1/identities/alice", "/v1/identities/%00", "/v1/identities/" + "a" * 5000, "/v1/identities/..",
          "/v1/identities/%F0%9F%98%80", "/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
          "/..%2f..%2f", "/docs", "/openapi.json", "/v1/sessions/abc/stream", "//v1//liveness",
          "/v1/liveness?x=" + "%ff" * 100, "/enrol", "/enrol/..%2f"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
CONTENT_TYPES = [None, "application/json", "application/json; charset=latin-1", "image/jpeg", "image/png",
                 "image/webp", "multipart/form-data", "multipart/form-data; boundary=xyz", "text/plain",
                 "application/octet-stream", "application/x-www-form-urlencoded", "\u00e9/\u00e9"]
AUTHORIZATIONS = ["Bearer " + ADMIN, "Bearer x", "Basic a", "Bearer \u00e9", "Bearer"]


@dataclasses.dataclass(frozen=True)
class Traffic:
    """How much hostile traffic: ``requests`` random HTTP requests, ``streams`` random WebSocket
    streams (each up to ``messages_per_stream`` messages), drawn from ``seed``, against ``workers``
    server processes (above 1: sharing one Redis)."""
    requests: int = 3000
    streams: int = 300
    messages_per_stream: int = 12
    seed: int = 0
    workers: int = 1


def bodies(jpeg: bytes, png: bytes) -> list[bytes]:
    """Request bodies: empty, truncated, random, deeply nested (past the JSON parser's depth, under the
    8 KB cap on a JSON body, so that it is parsed), of the wrong type, a good image."""
    objects = [{"nonce": "n"}, {"nonce": 1}, {"nonce": None}, {"nonce": "x" * 100_000}, {"token": "a.b.c"},
               {"token": "W1tb" * 900 + ".e30.e30"},
               {"token": ["x"]}, {"audience": {"a": 1}}, [], [1, 2], "str", {"expected_identity": "\u0000"},
               {"nonce": "n", "extra": 1}, {"enrol": "alice"}, {"enrol": "\u0000"}, {"enrol": 5},
               {"enrol": "alice", "audience": "x"}, {"enrol": "x" * 300}]
    rng = np.random.default_rng(0)
    part = b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
    return [b"", b"{}", b"null", b"{", ("[" * 4000 + "]" * 4000).encode(), b'{"":' * 1500 + b"}" * 1500,
            b"\xff\xfe\x00", b"NaN",
            b'{"nonce": NaN}', b'{"nonce": 1e999}', jpeg, jpeg[: len(jpeg) // 2], png, png[:40],
            rng.integers(0, 256, 1000, dtype=np.uint8).tobytes(), b"--xyz\r\n\r\n--xyz--",
            part + jpeg + b"\r\n--xyz--\r\n", part + b"x" * 100 + b"\r\n"] + [json.dumps(o).encode() for o in objects]


def raw_requests(jpeg: bytes) -> list[bytes]:
    """Malformed HTTP, sent on a raw socket: what no HTTP client library would send."""
    return [b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            b"POST /v1/liveness HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc",
            b"POST /v1/liveness HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 4_000_000 + b"\r\n\r\n",
            b"GET /health HTTP/1.0\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00", b"GARBAGE\r\n\r\n",
            b"GET /v1/sessions/abc/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: bad\r\n\r\n",
            b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
            b"Content-Length: 6\r\n\r\n{}{}{}",
            # a body announced and never finished, the connection then dropped
            b"POST /v1/liveness HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n"
            + jpeg[:10],
            b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"]


def random_headers(rng: random.Random, port: int) -> list[tuple[bytes, bytes]]:
    h = {}
    if (ct := rng.choice(CONTENT_TYPES)) is not None:
        h["content-type"] = ct
    if rng.random() < 0.5:
        h["authorization"] = rng.choice(AUTHORIZATIONS)
    if rng.random() < 0.2:
        h["origin"] = rng.choice(["null", "http://evil.example", f"http://127.0.0.1:{port}"])
    if rng.random() < 0.1:
        h["x-forwarded-for"] = rng.choice(["1.2.3.4", "garbage", "::1, 1.1.1.1"])
    return [(k.encode(), v.encode()) for k, v in h.items()]   # bytes: httpx sends non-ASCII values as given


def http_phase(port: int, t: Traffic, jpeg: bytes, png: bytes) -> dict:
    """``t.requests`` random requests: the answers' status codes, and every 5xx or client failure."""
    import httpx
    rng, pool, codes, bad = random.Random(t.seed), bodies(jpeg, png), Counter(), []
    with httpx.Client(timeout=30) as c:
        for _ in range(t.requests):
            method, path = rng.choice(METHODS), rng.choice(ROUTES)
            body = rng.choice(pool) if method not in ("GET", "HEAD") or rng.random() < 0.1 else b""
            try:
                r = c.request(method, f"http://127.0.0.1:{port}{path}", headers=random_headers(rng, port), content=body)
            except httpx.HTTPError as e:
                bad.append(f"{method} {path[:60]}: {type(e).__name__}")
                continue
            codes[r.status_code] += 1
            if r.status_code >= 500 or b"Traceback" in r.content:
                bad.append(f"{method} {path[:60]}: {r.status_code} {r.text[:120]}")
    return {"status_codes": {str(k): v for k, v in sorted(codes.items())}, "failures": bad}


def raw_phase(port: int, jpeg: bytes) -> list[str]:
    """Each malformed request twice: once waiting for the answer (its status line kept), once dropped."""
    lines = []
    for data in raw_requests(jpeg):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                s.sendall(data)
                answer = s.recv(200).split(b"\r\n", 1)[0].decode(errors="replace")
            except socket.timeout:
                answer = "(no answer in 5 s: the body is still awaited)"
            except OSError:          # reset by the server before all of it was sent (headers past their cap)
                answer = "(reset while sending)"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s, contextlib.suppress(OSError):
            s.sendall(data)
        lines.append(f"{data[:50]!r} -> {answer or '(closed)'}")
    return lines


def slow_phase(port: int, n: int = 50) -> dict:
    """``n`` sockets that send nothing and ``n`` that send half a request line, from one address and
    held open: how many the server refused at once (``ServerConfig.max_connections_per_address``) and how
    many it had closed once its header deadline (``ServerConfig.header_timeout_s``, both the defaults'
    in the server this benchmark starts) and 2 s were past."""
    deadline = ServerConfig.header_timeout_s
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2 * n)]
    for s in socks[n:]:
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        except OSError:          # refused already
            pass
    time.sleep(0.5)
    seen: set[int] = set()              # the sockets found closed
    refused = _closed(socks, seen)
    time.sleep(deadline + 1.5)
    closed = _closed(socks, seen)
    for s in socks:
        s.close()
    return {"sockets": 2 * n, "refused_at_once": refused, "closed": closed, "after_s": deadline + 2}


def _closed(socks: list[socket.socket], seen: set[int]) -> int:
    """How many of ``socks`` the server has closed (``seen`` holds the indices found so far: a
    closed socket reads nothing more)."""
    for i, s in enumerate(socks):
        if i in seen:
            continue
        s.settimeout(0.05)
        try:
            if s.recv(100) == b"":
                seen.add(i)
        except socket.timeout:
            pass
        except OSError:
            seen.add(i)
    return len(seen)


def one_stream(port: int, rng: random.Random, messages: list, n: int) -> str:
    """One stream of up to ``n`` random messages, dropped without a close frame 3 times in 10: how it ended."""
    import httpx
    from websockets.sync.client import connect
    sid = httpx.post(f"http://127.0.0.1:{port}/v1/sessions").json()["session_id"] if rng.random() < 0.9 else "nope"
    last = b""
    try:
        with connect(f"ws://127.0.0.1:{port}/v1/sessions/{sid}/stream", max_size=None, open_timeout=10,
                     close_timeout=2) as ws:
            for _ in range(rng.randint(0, n)):
                ws.send(last := rng.choice(messages))
                if rng.random() < 0.7:
                    ws.recv(timeout=15)
            if rng.random() < 0.3:
                ws.socket.close()
                return "dropped by the client"
        return "closed by the client"
    except Exception as e:       # the server's close codes, as websockets reports them
        code = getattr(getattr(e, "rcvd", None), "code", None)
        if code:
            return f"closed by the server ({code})"
        # the server closes (1009) while the client still sends an oversized frame: no close frame read
        return "closed by the server during an oversized frame" if len(last) > OVERSIZED else f"ended: {e!r}"[:80]


def stream_messages(frames: list[bytes], seed: int) -> list:
    """What the streams send: real frames, broken images, text and an oversized frame (a 12 MP noise PNG)."""
    noise = np.random.default_rng(seed).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    return frames + [frames[0][:100], b"", b"\x00" * 10, "end", "hello", "", "x" * 100_000,
                     b"\x89PNG\r\n\x1a\n" + bytes(100), b"RIFF\x00\x00\x00\x00WEBPVP8 ",
                     cv2.imencode(".png", noise)[1].tobytes()]


def stream_phase(port: int, t: Traffic, messages: list, part: int = 0) -> Counter:
    """``t.streams`` streams of ``messages`` drawn at random: how they ended (``part``: which of several
    calls, each its own draw)."""
    rng = random.Random(t.seed + 1 + part)
    return Counter(one_stream(port, rng, messages, t.messages_per_stream) for _ in range(t.streams))


def resident_mb(pid: int) -> float:
    """Resident memory (MB) of process ``pid`` and of its children (``--workers`` processes)."""
    import glob
    total = 0
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in open(status) if ":" in line)
        except OSError:              # a process gone since the listing
            continue
        if status.startswith(f"/proc/{pid}/") or fields.get("PPid", "").strip() == str(pid):
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total / 1024


def log_problems(text: str) -> list[str]:
    """The server log's traceback and ERROR lines (the audit trail's JSON lines are not read)."""
    return [ln for ln in text.splitlines() if "Traceback" in ln or ln.startswith("ERROR")]


def serve_args(tmp: str, t: Traffic, redis_url: str | None) -> list[str]:
    """The service's options: limits raised so that every request reaches a route."""
    args = ["--gallery", f"{tmp}/gallery.db", "--admin-token", ADMIN, "--liveness-api", "public", "--rate", "100000",
            "--burst", "100000", "--max-sessions", "100000", "--max-sessions-per-client", "100000",
            "--max-failures", "1000000", "--max-fps", "1000"]
    return args + (["--workers", str(t.workers), "--redis", redis_url] if t.workers > 1 else [])


def attack(port: int, pid: int, t: Traffic, frames: list[bytes]) -> dict:
    """Send the traffic to the service on ``port`` (process ``pid``): every count the page reports."""
    import httpx
    png = cv2.imencode(".png", cv2.imdecode(np.frombuffer(frames[0], np.uint8), cv2.IMREAD_COLOR))[1].tobytes()
    rss, t0 = {"start": resident_mb(pid)}, time.monotonic()
    res = {"http": http_phase(port, t, frames[0], png), "raw": raw_phase(port, frames[0]), "slow": slow_phase(port)}
    rss["after the requests"] = resident_mb(pid)
    messages, ends = stream_messages(frames, t.seed), Counter()
    for part in range(PARTS):       # memory read after each part: rises, then flat?
        ends += stream_phase(port, dataclasses.replace(t, streams=t.streams // PARTS), messages, part)
        rss[f"after {(part + 1) * (t.streams // PARTS)} streams"] = resident_mb(pid)
    res["streams"] = dict(sorted(ends.items()))
    res["health_after"] = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code
    return {**res, "elapsed_s": time.monotonic() - t0, "resident_mb": rss}


def run(t: Traffic, frames: list[bytes]) -> dict:
    """Start the service (``t.workers`` processes; above 1 on a Redis of its own), attack it, stop it."""
    with tempfile.TemporaryDirectory() as tmp, open(f"{tmp}/serve.log", "w+b") as log:
        redis, url = start_redis(tmp) if t.workers > 1 else (None, None)
        try:
            server, port = start_serve(serve_args(tmp, t, url), log=log)
            try:
                time.sleep(3 if t.workers > 1 else 0)      # every worker up, not only the first
                res = attack(port, server.pid, t, frames)
            finally:
                server.terminate()
                server.wait(20)
        finally:
            if redis is not None:
                redis.terminate()
        log.seek(0)
        res["log_problems"] = log_problems(log.read().decode(errors="replace"))
    return {"traffic": dataclasses.asdict(t), **res}


def met(r: dict) -> bool:
    return (not r["http"]["failures"] and not r["log_problems"] and r["health_after"] == 200
            and r["slow"]["closed"] == r["slow"]["sockets"])


def section(r: dict) -> list[str]:
    t, http = r["traffic"], r["http"]
    where = "one process" if t["workers"] == 1 else f"{t['workers']} worker processes on one Redis"
    return [f"## {where}", "", f"**{'Met' if met(r) else 'Not met'}** ({r['elapsed_s'] / 60:.1f} min).", "",
            f"- {t['requests']} random HTTP requests: "
            + ", ".join(f"{v} x {k}" for k, v in http["status_codes"].items())
            + f"; answers of 500 or more and client failures: {len(http['failures'])}.",
            f"- {r['slow']['sockets']} sockets of one address sending nothing or half a request line: "
            f"{r['slow']['refused_at_once']} refused at once (over the connections one address may hold), "
            f"{r['slow']['closed']} closed by the server {r['slow']['after_s']:g} s after they opened.",
            f"- {t['streams']} random WebSocket streams, ended: "
            + ", ".join(f"{k} {v}" for k, v in r["streams"].items()) + ".",
            f"- Traceback and ERROR lines in the server's log: {len(r['log_problems'])}; "
            f"/health at the end: {r['health_after']}.", "",
            *markdown_table(["", "resident memory"], [[k, f"{v:.0f} MB"] for k, v in r["resident_mb"].items()]), ""]


def page(res: dict) -> str:
    runs = res["runs"]
    lines = ["# Hostile traffic", "",
             f"Written by `benchmarks/hostile_traffic.py` ({res['machine']}; seed {runs[0]['traffic']['seed']}). "
             "`marginlive serve` (shipped model) on loopback, its limits raised so that every request reaches a "
             "route; what the requests are: the script's docstring. Met: every answer below 500, no traceback or "
             "ERROR line in the server's log, /health answered at the end, every slow socket closed. Resident "
             "memory: the server's processes (the first sessions load the challenge's landmark models; `soak.md` "
             "follows it over 500 sessions).", ""]
    for r in runs:
        lines += section(r)
    lines += ["Malformed HTTP on a raw socket (each also sent again and dropped), as one process answered:", ""]
    return "\n".join(lines + [f"- `{ln}`" for ln in runs[0]["raw"]] + [""])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    d = Traffic()
    ap.add_argument("--requests", type=int, default=d.requests)
    ap.add_argument("--streams", type=int, default=d.streams)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="server processes, one run each (above 1: on one Redis, as replicas share it)")
    a = ap.parse_args()
    logging.getLogger("websockets").setLevel(logging.CRITICAL)   # the client's own tracebacks of closed streams
    frames = [cv2.imencode(".jpg", f)[1].tobytes() for f in live_frames(20)]
    runs = [run(Traffic(requests=a.requests, streams=a.streams, seed=a.seed, workers=w), frames) for w in a.workers]
    res = {"machine": machine(), "runs": runs}
    save_json("hostile_traffic", res)
    (DOCS / "hostile_traffic.md").write_text(page(res))
    print(page(res))
    return 0 if all(met(r) for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
