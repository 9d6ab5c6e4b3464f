"""Is the right person recognised on the first try? Identity per session, as the system decides.

People: the NUAA subjects and the webcam-replay collectors of ../shared/data (live frames only;
SoorajOfficial2023 left out: its live frames show several people under one name). Per person:
- enrolment: NUAA session 01 (subjects filmed in one session: the first half of their frames); a
  webcam collector's first half of frames, in recording order; of its best faces by quality
  (`marginlive.identity.quality`, `select.CANDIDATES` of them) `--enrol` are kept, the most typical
  first (`select.representative`), as `marginlive enroll` does with a video;
- probe sessions: the other NUAA sessions (or the second half), cut into runs of `--run` frames;
  each session embeds its best `--probes` usable faces (none: it names nobody) and decides on the
  distance of their mean embedding (`Recognizer.decide`), as an authentication session does.
  Enrolment and probe never share a frame.
Reports, over thresholds: FNMR (a person's session not accepted as that person, 1:N against the
whole gallery) and FMR (a session accepted as someone else: each session against every other
identity, 1:1), per session and per single probe image (today's per-image figure), and the time a
decision takes. Writes docs/identity_sessions.json and docs/identity_sessions.md.

Run: .venv/bin/python benchmarks/identity_sessions.py
"""
import argparse
import csv
import time

import numpy as np
from common import DOCS, SHARED, machine, save_json

MULTI_PERSON = ("SoorajOfficial2023",)
THRESHOLDS = (0.36, 0.38, 0.39, 0.40, 0.405, 0.41, 0.415, 0.42, 0.43, 0.45, 0.50, 0.55)


def people(run: int) -> dict:
    """{person: (enrolment paths, [probe session paths])}."""
    out = {}
    d = SHARED / "data" / "nuaa-print"
    rows = [r for r in csv.DictReader(open(d / "manifest.csv")) if r["label"] == "real"]
    for s in sorted({r["subject"] for r in rows}):
        mine = sorted((r for r in rows if r["subject"] == s), key=lambda r: (r["session"], r["path"]))
        sessions = sorted({r["session"] for r in mine})
        if len(sessions) > 1:
            enrol = [r for r in mine if r["session"] == sessions[0]]
            rest = [r for r in mine if r["session"] != sessions[0]]
        else:
            enrol, rest = mine[: len(mine) // 2], mine[len(mine) // 2:]
        out[f"nuaa/{s}"] = ([d / r["path"] for r in enrol], _runs([d / r["path"] for r in rest], run))
    d = SHARED / "data" / "webcam-replay"
    rows = [r for r in csv.DictReader(open(d / "manifest.csv")) if r["label"] == "real"]
    for g in sorted({r["group"] for r in rows}):
        if g.split("__")[0] in MULTI_PERSON:
            continue
        mine = sorted(d / r["path"] for r in rows if r["group"] == g)
        if len(mine) >= 10:
            out[f"webcam/{g.split('__')[0]}"] = (mine[: len(mine) // 2], _runs(mine[len(mine) // 2:], run))
    return out


def _runs(paths, run):
    return [paths[i:i + run] for i in range(0, len(paths) - run // 2, run)]


def faces(paths, det):
    """[(frame, box, quality)] of the images with exactly one face."""
    from marginlive.frames import read_image
    from marginlive.identity.quality import face_quality
    out = []
    for p in paths:
        img = read_image(p)
        boxes = det.detect(img)
        if len(boxes) == 1:
            out.append((img, boxes[0], face_quality(img, boxes[0])))
    return out


def enrolled(got, emb, k: int):
    """A person's enrolment as `marginlive enroll` keeps it from a video: of ``got``'s best faces by quality
    ([(frame, box, quality)], ``select.CANDIDATES`` of them) ``k`` embeddings (k, 128), the most typical
    first (``select.representative``: the first j of them are its choice of j), and the sharpest face's
    (1, 128); (None, None) without a usable face."""
    from marginlive.identity.quality import best
    from marginlive.identity.select import CANDIDATES, representative
    chosen = best(got, [q for *_, q in got], max(k, CANDIDATES))
    if not chosen:
        return None, None
    vecs = np.stack([emb.embed(f, b) for f, b, _ in chosen])
    return vecs[representative(vecs, k)], vecs[:1]


def rates(genuine_ok, impostor_d, t) -> dict:
    return {"threshold": t, "fnmr": float(np.mean([not ok(t) for ok in genuine_ok])),
            "fmr": float(np.mean(np.asarray(impostor_d) <= t))}


def _args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--enrol", type=int, default=10, help="faces kept per enrolment (the most typical first)")
    ap.add_argument("--probes", type=int, default=5, help="faces a session embeds (its best)")
    ap.add_argument("--run", type=int, default=8, help="frames per probe session")
    ap.add_argument("--sessions", type=int, default=8, help="probe sessions per person at most")
    ap.add_argument("--dump", help="also write the embeddings (a pickle) here, to study other decision rules")
    return ap.parse_args()


def embed_people(a):
    """(gallery {person: (E, 128) enrolled embeddings, in the order chosen}, each person's sharpest face
    {person: (1, 128)} (a single photo's stand-in), sessions [(person, [probe embedding])], seconds each
    session's decision took: ranking its frames and embedding its best)."""
    from marginlive.detect import create_detector
    from marginlive.identity.embed import DlibEmbedder
    from marginlive.identity.quality import best
    det, emb = create_detector(), DlibEmbedder()
    gallery, sharpest, sessions, decide_s = {}, {}, [], []
    for person, (enrol, runs) in people(a.run).items():
        vecs, one = enrolled(faces(enrol, det), emb, a.enrol)
        if vecs is None:
            continue
        gallery[person], sharpest[person] = vecs, one
        for run in runs[: a.sessions]:
            got = faces(run, det)
            if not got:
                continue
            t0 = time.perf_counter()
            # as a login: its best usable faces; with none it names nobody (``Session._identify_step``)
            top = best(got, [q for *_, q in got], a.probes)
            vecs = [emb.embed(f, b) for f, b, _ in top]
            decide_s.append(time.perf_counter() - t0)
            sessions.append((person, vecs))
    return gallery, sharpest, sessions, decide_s


def trials(gallery, sessions) -> tuple[dict, dict]:
    """Per session (the probes' mean embedding, as ``Recognizer.decide``) and per image: genuine
    trials (a function of the threshold: accepted as the right person?) and impostor distances."""
    from marginlive.identity.embed import distance
    names = sorted(gallery)

    def dist(vecs, who):      # the probes' mean embedding to the nearest enrolled face of ``who``
        return float(distance(gallery[who], np.mean(vecs, axis=0)).min())
    per_session, per_image = {"genuine": [], "impostor": []}, {"genuine": [], "impostor": []}
    for person, vecs in sessions:
        if not vecs:           # no clear view of the face: not recognised, at any threshold
            per_session["genuine"].append(lambda t: False)
            continue
        for mode, groups in ((per_session, [vecs]), (per_image, [[v] for v in vecs])):
            for vs in groups:
                d = {n: dist(vs, n) for n in names}
                top = min(d, key=d.get)
                mode["genuine"].append(lambda t, d=d, top=top, p=person: top == p and d[p] <= t)
                mode["impostor"] += [d[n] for n in names if n != person]
    return per_session, per_image


ENROLLED = (1, 2, 3, 5, 10)


def by_enrolled(gallery, sharpest, sessions, scored: dict) -> list[dict]:
    """Per session FNMR and FMR at the shipped threshold with each identity's first k enrolled faces
    (``ENROLLED``; as `marginlive enroll --frames k` keeps them from a video; an identity with fewer
    keeps all). ``scored``: the whole gallery's per-session trials, reused where k keeps every face."""
    from marginlive.identity.recognise import DEFAULT_THRESHOLD
    rows = []
    for k in ENROLLED:
        whole = all(len(g) <= k for g in gallery.values())
        per_session = scored if whole else trials({n: g[:k] for n, g in gallery.items()}, sessions)[0]
        rows.append({"enrolled": k, **rates(per_session["genuine"], per_session["impostor"], DEFAULT_THRESHOLD)})
    one = trials(sharpest, sessions)[0]
    rows.append({"enrolled": "1, the sharpest", **rates(one["genuine"], one["impostor"], DEFAULT_THRESHOLD)})
    return rows


def page(res: dict, a) -> list[str]:
    """docs/identity_sessions.md's lines: the rates over thresholds and the threshold they pick."""
    from marginlive.identity.recognise import DEFAULT_THRESHOLD
    lines = ["# Identity per session: the best frames of a session against the gallery", "",
             f"Written by `benchmarks/identity_sessions.py` ({res['machine']}). {res['people']} people, "
             f"{res['sessions']} probe sessions of {a.run} frames; enrolment: {a.enrol} faces of another session or "
             f"half of the frames, the most typical of its best first (`identity/select.py`); a session decides "
             f"on its best {a.probes} faces (their mean embedding); per image: each of those faces alone. FNMR: a "
             f"person's session not accepted as them (1:N); FMR: a session or image within the threshold of another identity "
             f"({res['impostor_trials']['session']} and {res['impostor_trials']['image']} trials).", "",
             "| threshold | per session FNMR | per session FMR | per image FNMR | per image FMR |", "|---|---|---|---|---|"]
    for s, i in zip(res["per_session"], res["per_image"]):
        lines.append(f"| {s['threshold']:.3f} | {100 * s['fnmr']:.1f}% | {100 * s['fmr']:.2f}% | "
                     f"{100 * i['fnmr']:.1f}% | {100 * i['fmr']:.2f}% |")
    ok = [r for r in res["per_session"] if r["fmr"] <= 0.001]
    if ok:
        pick = max(ok, key=lambda r: r["threshold"])
        lines += ["", f"Highest threshold with a per-session false match rate at or below 0.1%: **{pick['threshold']:g}** "
                  f"(FNMR {100 * pick['fnmr']:.1f}%, FMR {100 * pick['fmr']:.2f}%); the shipped threshold is "
                  f"{DEFAULT_THRESHOLD:g} (`marginlive.identity.recognise.DEFAULT_THRESHOLD`). A false match admits "
                  "someone as another person, so the false match goal sets it; the false non-matches it costs are "
                  "a second try. Few people and sessions: one session is about 1% of FNMR, three impostor trials 0.1% of FMR."]
    lines += ["", f"How many enrolled faces a person needs, at the shipped threshold (each identity's first k of its "
              f"{a.enrol}, as `marginlive enroll --frames k` keeps them from a video, the most typical first; a "
              "single photo is one face, whatever it shows: the sharpest of a video's faces stands in for it):", "",
              "| enrolled faces | per session FNMR | per session FMR |", "|---|---|---|"]
    lines += [f"| {r['enrolled']} | {100 * r['fnmr']:.1f}% | {100 * r['fmr']:.2f}% |" for r in res["by_enrolled"]]
    lines += ["", f"A decision (ranking the session's frames, embedding its best {a.probes}): median "
              f"{res['decision_s']['median']:.2f} s, p95 {res['decision_s']['p95']:.2f} s on one core.", ""]
    return lines


def main():
    a = _args()
    gallery, sharpest, sessions, decide_s = embed_people(a)
    if a.dump:
        import pickle
        pickle.dump((gallery, sessions), open(a.dump, "wb"))
    per_session, per_image = trials(gallery, sessions)
    res = {"machine": machine(), "people": len(gallery), "sessions": len(sessions), "enrol": a.enrol,
           "probes": a.probes, "run": a.run,
           "per_session": [rates(per_session["genuine"], per_session["impostor"], t) for t in THRESHOLDS],
           "per_image": [rates(per_image["genuine"], per_image["impostor"], t) for t in THRESHOLDS],
           "by_enrolled": by_enrolled(gallery, sharpest, sessions, per_session),
           "impostor_trials": {"session": len(per_session["impostor"]), "image": len(per_image["impostor"])},
           "decision_s": {"median": float(np.median(decide_s)), "p95": float(np.percentile(decide_s, 95))}}
    save_json("identity_sessions", res)
    lines = page(res, a)
    (DOCS / "identity_sessions.md").write_text("\n".join(lines))
    print("\n".join(lines))

if __name__ == "__main__":
    main()
