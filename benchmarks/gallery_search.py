"""How fast is 1:N search with a large gallery? SQLite, and PostgreSQL when given one.

Fills a fresh gallery with N synthetic identities of 3 embeddings each (random 128-d vectors at the
scale of dlib's), through the gallery's own `add`, then times `search` (the nearest 2 identities of
a probe): the first search after a change (it loads the embeddings into memory) and warm searches.
Writes docs/gallery.json and docs/gallery.md.

Run: .venv/bin/python benchmarks/gallery_search.py [--pg postgresql://USER@HOST:PORT/DB] [--sizes 10000 100000]
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import DOCS, machine, save_json


def fill(g, n, rng, per=3):
    t = time.perf_counter()
    for i in range(n):
        g.add(f"person-{i:06d}", list(rng.normal(0, 0.09, (per, 128)).astype(np.float32)), "bench")
    return time.perf_counter() - t


def measure(g, n, rng) -> dict:
    from marginlive.identity.gallery import GalleryBase
    assert isinstance(g, GalleryBase)
    add_s = fill(g, n, rng)
    q = rng.normal(0, 0.09, 128).astype(np.float32)
    t = time.perf_counter()
    g.search("bench", q)
    first = time.perf_counter() - t
    warm = []
    for _ in range(30):
        t = time.perf_counter()
        g.search("bench", rng.normal(0, 0.09, 128).astype(np.float32))
        warm.append(time.perf_counter() - t)
    return {"identities": n, "embeddings": 3 * n, "enrol_ms_per_identity": 1e3 * add_s / n,
            "first_search_s": first, "search_ms_p50": 1e3 * float(np.median(warm)),
            "search_ms_p95": 1e3 * float(np.percentile(warm, 95))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg", help="a PostgreSQL URL to measure beside SQLite (its tables are emptied first)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    a = ap.parse_args()
    from marginlive.identity.gallery import open_gallery
    rows = []
    for n in a.sizes:
        with tempfile.TemporaryDirectory() as d:
            with open_gallery(Path(d) / "g.db") as g:
                rows.append({"backend": "SQLite", **measure(g, n, np.random.default_rng(n))})
        if a.pg:
            with open_gallery(a.pg) as g:
                with g._tx() as cur:
                    cur.execute("TRUNCATE identities, embeddings")
                    cur.execute("UPDATE gallery_version SET version = version + 1")
                rows.append({"backend": "PostgreSQL", **measure(g, n, np.random.default_rng(n))})
        print(rows[-1], flush=True)
    save_json("gallery", {"machine": machine(), "rows": rows})
    lines = ["# Gallery: 1:N search at 10k and 100k identities", "",
             f"Written by `benchmarks/gallery_search.py` ({machine()}). Synthetic identities of 3 embeddings each, "
             "added one by one through `add` (one transaction each); `search` gives the 2 nearest identities. "
             "The first search after a change loads every embedding into memory (`gallery.VectorIndex`); later "
             "searches check the gallery's version (one query) and compute the distances with numpy.", "",
             "| backend | identities | enrol, ms per identity | first search, s | search p50, ms | search p95, ms |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['identities']:,} | {r['enrol_ms_per_identity']:.2f} | "
                     f"{r['first_search_s']:.2f} | {r['search_ms_p50']:.1f} | {r['search_ms_p95']:.1f} |")
    (DOCS / "gallery.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
