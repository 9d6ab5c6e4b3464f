"""Soak: does `marginlive serve` give back what a session takes?

Starts the real server (the CLI, the shipped model) on a free loopback port and runs N
authentication sessions in a row, each streaming the live webcam video of ../shared until the
server draws a challenge, then two challenge frames (so the pose or face-mesh graph runs), then
"end"; every 2nd session the video under grain of 10 levels (a dim room's camera, whose frames the
session's stream averages over time: ``marginlive.denoise`` holds its buffers). After each session
it reads the server's resident memory and thread count from /proc.
Goal (issue 20): after the first 20 sessions, RSS stays within 50 MB and the thread count at its
level. Writes docs/soak.json, docs/soak.md and docs/img/soak.png.

Run: .venv/bin/python benchmarks/soak_sessions.py [--sessions 500]
"""
import argparse
import json
import sys

import cv2
import httpx
from common import DOCS, grainy, live_frames, machine, save_json, start_serve


def proc_status(pid: int) -> tuple[float, int]:
    """(resident memory in MB, threads) of a process."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def one_session(port: int, frames: list[bytes]) -> str:
    """Stream until the challenge, two frames more, then end; the furthest state reached."""
    from websockets.sync.client import connect
    sid = httpx.post(f"http://127.0.0.1:{port}/v1/sessions").json()["session_id"]
    reached, extra = "waiting", 0
    with connect(f"ws://127.0.0.1:{port}/v1/sessions/{sid}/stream", max_size=None) as ws:
        for i in range(200):
            ws.send(frames[i % len(frames)])
            m = json.loads(ws.recv())
            if m.get("state") == "challenge":
                reached, extra = "challenge", extra + 1
                if extra > 2:
                    break
            if "verdict" in m:
                return m["state"] if reached != "challenge" else reached
        ws.send("end")
        json.loads(ws.recv())
    return reached


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot([r["session"] for r in rows], [r["rss_mb"] for r in rows], label="resident memory (MB)")
    ax.set_xlabel("sessions run")
    ax.set_ylabel("MB")
    ax2 = ax.twinx()
    ax2.plot([r["session"] for r in rows], [r["threads"] for r in rows], color="tab:orange", label="threads")
    ax2.set_ylabel("threads")
    fig.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=500)
    a = ap.parse_args()
    clean = live_frames(60)
    videos = [[cv2.imencode(".jpg", f)[1].tobytes() for f in frames] for frames in (clean, grainy(clean))]
    server, port = start_serve(["--challenges", "1", "--rate", "1000", "--burst", "1000", "--max-failures", "1000000",
                                "--gallery", "/nonexistent/g.db"])
    rss0, threads0 = proc_status(server.pid)
    rows, reached = [], {}
    try:
        for k in range(1, a.sessions + 1):
            state = one_session(port, videos[k % 2])
            kind = "grainy" if k % 2 else "clean"
            reached[f"{kind}: {state}"] = reached.get(f"{kind}: {state}", 0) + 1
            rss, threads = proc_status(server.pid)
            rows.append({"session": k, "grainy": bool(k % 2), "rss_mb": round(rss, 1), "threads": threads})
            if k % 50 == 0:
                print(k, rows[-1], reached, file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait(10)
    after20 = rows[min(19, len(rows) - 1)]
    later = rows[19:] or rows[-1:]
    res = {"machine": machine(), "sessions": a.sessions, "reached": reached,
           "start": {"rss_mb": round(rss0, 1), "threads": threads0}, "after_20": after20, "last": rows[-1],
           "max_after_20": {"rss_mb": max(r["rss_mb"] for r in later), "threads": max(r["threads"] for r in later)},
           "rows": rows}
    res["rss_growth_after_20_mb"] = round(res["last"]["rss_mb"] - after20["rss_mb"], 1)
    res["goal_met"] = bool(res["max_after_20"]["rss_mb"] - after20["rss_mb"] <= 50
                           and res["last"]["threads"] <= after20["threads"])
    save_json("soak", res)
    plot(rows, DOCS / "img" / "soak.png")
    (DOCS / "soak.md").write_text(
        "# Soak: memory and threads over many sessions\n\n"
        f"Written by `benchmarks/soak_sessions.py` ({res['machine']}). {a.sessions} sessions in a row against "
        "`marginlive serve` (shipped model, one challenge), each streaming a live webcam video until the "
        "challenge and two frames into it, then ending; every 2nd the video under grain of 10 levels, which the "
        f"session's stream averages over time. Furthest state reached: {reached}.\n\n"
        "| | resident memory | threads |\n|---|---|---|\n"
        f"| at start | {rss0:.0f} MB | {threads0} |\n"
        f"| after 20 sessions | {after20['rss_mb']:.0f} MB | {after20['threads']} |\n"
        f"| most after that | {res['max_after_20']['rss_mb']:.0f} MB | {res['max_after_20']['threads']} |\n"
        f"| after {a.sessions} | {rows[-1]['rss_mb']:.0f} MB | {rows[-1]['threads']} |\n\n"
        f"Goal (within 50 MB of the level after 20 sessions, threads back to it): "
        f"{'met' if res['goal_met'] else 'not met'}.\n\n![memory and threads](img/soak.png)\n")
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}))


if __name__ == "__main__":
    main()
