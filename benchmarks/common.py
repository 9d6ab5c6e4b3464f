"""Shared helpers for the benchmarks (run on demand, results written to docs/)."""
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DOCS = ROOT / "docs"


def live_frames(n=120, video="live-1.webm"):
    from marginlive.frames import read_video_frames
    p = SHARED / "data" / "videos" / video
    if not p.exists():
        raise SystemExit(f"needs {p} (../shared)")
    return [f.image for f in read_video_frames(p, max_frames=n)]


def grainy(frames) -> list:
    """``frames`` as a camera in a dim room films them: grain of 10 levels (noise blurred by 1.5 px), seeded."""
    from marginlive.evaluation.processing import grain
    rng = np.random.default_rng(0)
    return [grain(f, None, rng, sd=10.0, sigma=1.5) for f in frames]


def jpeg_round_trip(frame: np.ndarray, quality: int | None) -> np.ndarray:
    """The frame after JPEG encoding at ``quality`` and decoding (None: the frame itself)."""
    from marginlive.evaluation.shifts import jpeg
    return frame if quality is None else jpeg(frame, quality)


def video_faces(video: str, n: int = 460, every: int = 2) -> tuple[list, list]:
    """(frames, boxes): every ``every``-th of the first ``n`` frames of a ../shared video that has a
    face, with its best-scored BlazeFace box."""
    from marginlive.detect import create_detector
    det = create_detector()
    frames, boxes = [], []
    for f in live_frames(n, video)[::every]:
        faces = det.detect(f)
        if faces:
            frames.append(f)
            boxes.append(max(faces, key=lambda b: b.score))
    return frames, boxes


def video_contexts(video: str, n: int = 460, every: int = 2, quality: int | None = None) -> np.ndarray:
    """4x context crops (as `marginlive collect` stores them) of the faces of ``video_faces``; with
    ``quality``, cut from the frame after a JPEG round trip at that quality (face boxes always from
    the raw frame, so only the pixels change)."""
    from marginlive.margin import CONTEXT_MARGIN, CONTEXT_SIZE, crop_margin
    return np.stack([crop_margin(jpeg_round_trip(f, quality), b, CONTEXT_MARGIN, CONTEXT_SIZE)
                     for f, b in zip(*video_faces(video, n, every))])


def timeit(fn, items, warmup=5, repeat=1):
    for x in items[:warmup]:
        fn(x)
    ts = []
    for _ in range(repeat):
        for x in items:
            t = time.perf_counter()
            fn(x)
            ts.append(time.perf_counter() - t)
    ts = np.array(ts) * 1e3
    return {"mean_ms": float(ts.mean()), "p50_ms": float(np.median(ts)), "p95_ms": float(np.percentile(ts, 95))}


def passive_outcome(status) -> str | None:
    """How a session's passive step ended, from its ``Status``: "rejected", "more actions" (the model
    unsure: more actions drawn) or "passed" (the usual challenge drawn); None while it goes on."""
    from marginlive.challenge.session import CHALLENGE, REJECTED
    if status.state == REJECTED:
        return "rejected"
    if status.state == CHALLENGE:
        return "more actions" if status.more_actions else "passed"
    return None


def machine():
    import os
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(path, heading, text):
    """Replace one ``## heading`` section of a docs page where it stands (or add it at the end),
    keeping the others."""
    old = path.read_text() if path.exists() else "# Speed\n\nMeasured on demand by the scripts in benchmarks/.\n\n"
    parts = old.split("\n## ")
    new = text[len("## "):].rstrip() + "\n" if text.startswith("## ") else text
    at = [i for i, p in enumerate(parts) if i and ("## " + p).startswith(heading)]
    if at:
        parts[at[0]] = new
        parts = [p for i, p in enumerate(parts) if i not in at[1:]]
        path.write_text("\n## ".join(parts).rstrip() + "\n")
    else:
        path.write_text(old.rstrip() + "\n\n" + text)


def block(text: str, name: str) -> str | None:
    """The content between ``<!-- name:begin -->`` and ``<!-- name:end -->`` of a page (None: no such block)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in text:
        return None
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def render_block(path, name: str, content: str) -> None:
    """Replace one generated block of a page (README, model card) with ``content``; pages without it are left."""
    text = path.read_text()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin in text:
        head, rest = text.split(begin, 1)
        path.write_text(head + begin + "\n" + content + "\n" + end + rest.split(end, 1)[1])


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(args: list[str], env: dict | None = None, timeout_s: float = 90.0, log=None):
    """``marginlive serve`` (this checkout's venv) on a free loopback port with ``args``, once its
    /health answers: (process, port). Its output goes to ``log`` (a binary file; default a temporary
    one: a pipe nobody reads would fill and stall a long run); exits with its end if the server does
    not start."""
    import os
    import subprocess
    import tempfile

    import httpx
    port = free_port()
    log = tempfile.TemporaryFile() if log is None else log
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "marginlive"), "serve", "--port", str(port), *args],
                            env={**os.environ, "ORT_DISABLE_TELEMETRY": "1", **(env or {})},
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + timeout_s
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            log.seek(0)
            raise SystemExit("the server did not start: " + log.read().decode(errors="replace")[-2000:])
        time.sleep(0.2)


def start_redis(tmp) -> tuple:
    """Debian's redis-server on a free loopback port, its files in folder ``tmp``: (process, its URL),
    what ``marginlive serve --workers`` above 1 shares; exits saying so where it is not installed."""
    import shutil
    import subprocess
    import sys
    exe = shutil.which("redis-server") or sys.exit("--workers above 1 needs redis-server (make system)")
    port = free_port()
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--save", ""],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p, f"redis://127.0.0.1:{port}/0"


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    """The lines of a markdown table: the ``header`` cells, the separator, one line per row of cells."""
    def line(cells):
        return "| " + " | ".join(map(str, cells)) + " |"
    return [line(header), "|" + "---|" * len(header)] + [line(cells) for cells in rows]


def save_json(name, data):
    DOCS.mkdir(exist_ok=True)
    (DOCS / f"{name}.json").write_text(json.dumps(data, indent=1))


def pack_dataset(ds, path, size: int = 128) -> None:
    """Write a collected dataset's 4x contexts at ``size`` px (lossless WebP) and its labels into
    one .npz, small enough to carry to another machine (a GPU) with the repository."""
    import cv2
    blobs = [cv2.imencode(".webp", cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA),
                          [cv2.IMWRITE_WEBP_QUALITY, 101])[1] for c in ds.contexts]  # quality > 100: lossless
    np.savez(path, webp=np.concatenate(blobs), ends=np.cumsum([len(b) for b in blobs]), labels=ds.labels,
             groups=np.array(ds.groups, str), attacks=np.array(ds.attacks, str),
             datasets=np.array(ds.datasets, str), paths=np.array(ds.paths, str))


def load_packed(path):
    """The Dataset of ``pack_dataset``: each context blown back up to 256 px by repeating pixels.
    A view pooled by exactly 256 / size (at size 128: the 4x view at 128 px, the 2x view at 64 px)
    has the very pixels of the full dataset; coarser views differ by rounding (+-1 level); finer
    views (the 1x view at 64 px) are coarser than the full dataset's."""
    import cv2
    from marginlive.training.dataset import Dataset
    z = np.load(path)
    webp, ends = z["webp"], z["ends"]  # (each z[key] reads the file again)
    small = [cv2.imdecode(webp[s:e], cv2.IMREAD_COLOR) for s, e in zip(np.concatenate([[0], ends[:-1]]), ends)]
    k = 256 // small[0].shape[0]
    return Dataset(np.stack([c.repeat(k, 0).repeat(k, 1) for c in small]), z["labels"].astype(np.int64),
                   z["groups"].astype(object), z["attacks"].astype(object), z["datasets"].astype(object),
                   z["paths"].tolist())
