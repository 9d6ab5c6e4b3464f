"""Presentation attack detection metrics.

Convention: ``scores`` are P(real) (bona fide), ``labels`` 1 for bona fide and 0 for an
attack; a presentation is accepted as bona fide when score >= threshold.

ISO/IEC 30107-3 terms:
- APCER (per attack species): share of attack presentations accepted as bona fide;
  the reported APCER is the maximum over species (the standard's worst case).
- BPCER: share of bona fide presentations rejected as attacks.
- ACER = (max APCER + BPCER) / 2 (deprecated by the 2023 edition, still the field's headline).
- BPCER20 / BPCER100: BPCER at the threshold where max APCER <= 5% / 1%.
- EER: where APCER (attacks pooled) equals BPCER. HTER: (APCER + BPCER) / 2 at a threshold
  fixed beforehand on a development set.
- ``*_interval``: the 95% Wilson score interval of a rate. It counts presentations as independent;
  frames of one person, room or video are not, so the real uncertainty is wider.
The paper's view treats *real* as the positive class: precision, recall, F1, confusion matrix.
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np


def error_interval(errors: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """(low, high): the Wilson score interval of an error rate, ``errors`` of ``n`` presentations
    wrong, at ``confidence`` (0.95). Unlike the normal approximation it stays inside [0, 1] and
    is not empty at 0 errors: 0 of 30 gives (0, 0.114), so a row of 30 live frames all passed
    cannot show that a camera's users meet a 5% goal. ValueError for n < 1, errors outside 0..n,
    or a confidence outside (0, 1)."""
    if n < 1 or not 0 <= errors <= n:
        raise ValueError(f"an error rate needs 0 <= errors <= n and n >= 1, got {errors} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = errors / n, z * z / n
    centre = (p + z2 / 2) / (1 + z2)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n)) / (1 + z2)
    # exact at the ends: rounding must not put 0 errors above 0 or n errors below 1
    return (0.0 if errors == 0 else float(centre - half), 1.0 if errors == n else float(centre + half))


def _check(scores, labels):
    s = np.asarray(scores, np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(int)
    if s.shape != y.shape:
        raise ValueError("scores and labels differ in length")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError("labels must be 1 (real) or 0 (attack)")
    return s, y


def apcer_bpcer(scores, labels, threshold, attacks=None) -> dict:
    """APCER per species (and max), BPCER, ACER at ``threshold``. Undefined parts are None."""
    s, y = _check(scores, labels)
    acc = s >= threshold
    species = np.asarray(attacks, dtype=object) if attacks is not None else np.array(["attack"] * len(y), object)
    per, counts = {}, {}
    for sp in sorted({str(a) for a in species[y == 0]}):
        m = (y == 0) & (species.astype(str) == sp)
        per[sp or "attack"] = float(acc[m].mean())
        counts[sp or "attack"] = (int(acc[m].sum()), int(m.sum()))
    apcer = max(per.values()) if per else None
    live = y == 1
    bpcer = float((~acc[live]).mean()) if live.any() else None
    acer = (apcer + bpcer) / 2 if apcer is not None and bpcer is not None else None
    pooled = float(acc[y == 0].mean()) if (y == 0).any() else None
    worst = max(per, key=per.get) if per else None    # the species the reported APCER is
    return {"threshold": float(threshold), "apcer": apcer, "apcer_pooled": pooled,
            "apcer_per_attack": per, "bpcer": bpcer, "acer": acer,
            "apcer_interval": error_interval(*counts[worst]) if worst else None,
            "bpcer_interval": error_interval(int((~acc[live]).sum()), int(live.sum())) if live.any() else None}


def eer(scores, labels) -> tuple[float, float]:
    """(EER, threshold at the EER) with attacks pooled, interpolated on the ROC."""
    from sklearn.metrics import roc_curve
    s, y = _check(scores, labels)
    fpr, tpr, thr = roc_curve(y, s)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    # linear interpolation between i and its neighbour where the sign flips
    d = fnr - fpr
    j = i + 1 if i + 1 < len(d) and np.sign(d[i]) != np.sign(d[i + 1]) else (i - 1 if i > 0 and np.sign(d[i]) != np.sign(d[i - 1]) else i)
    if j != i and d[i] != d[j]:
        w = d[i] / (d[i] - d[j])
        e = fpr[i] + w * (fpr[j] - fpr[i])
        t = thr[i] + w * (thr[j] - thr[i]) if np.isfinite(thr[i]) and np.isfinite(thr[j]) else thr[i]
    else:
        e, t = (fpr[i] + fnr[i]) / 2, thr[i]
    return float(e), float(min(t, 1.0))


def bpcer_at_apcer(scores, labels, target: float, attacks=None) -> tuple[float | None, float | None]:
    """(BPCER, threshold) at the lowest threshold whose max APCER is <= target."""
    s, y = _check(scores, labels)
    if not (y == 0).any() or not (y == 1).any():
        return None, None
    species = np.asarray(attacks, dtype=object).astype(str) if attacks is not None else np.array(["a"] * len(y))
    cands = np.unique(np.concatenate([s, [np.inf]]))
    for t in cands:  # ascending: the first that satisfies every species gives the lowest BPCER
        worst = max(float((s[(y == 0) & (species == sp)] >= t).mean()) for sp in set(species[y == 0]))
        if worst <= target:
            return float((s[y == 1] < t).mean()), float(min(t, 1.0 + 1e-9))
    return 1.0, None


def paper_metrics(scores, labels, threshold) -> dict:
    """Accuracy, confusion matrix and precision/recall/F1 with *real* as the positive class."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
    s, y = _check(scores, labels)
    pred = (s >= threshold).astype(int)
    cm = confusion_matrix(y, pred, labels=[0, 1])
    p, r, f, _ = precision_recall_fscore_support(y, pred, labels=[1], average=None, zero_division=0)
    return {"accuracy": float((pred == y).mean()) if len(y) else None,
            "confusion_matrix": {"labels": ["fake", "real"], "rows_true_cols_pred": cm.tolist()},
            "precision": float(p[0]), "recall": float(r[0]), "f1": float(f[0])}


def all_metrics(scores, labels, threshold: float, attacks=None, dev_threshold: float | None = None) -> dict:
    """Every metric computable on this score set; the undefined ones are None with a note."""
    s, y = _check(scores, labels)
    out = {"n": int(len(y)), "n_real": int((y == 1).sum()), "n_attack": int((y == 0).sum()), "notes": []}
    out.update(apcer_bpcer(s, y, threshold, attacks))
    out.update(paper_metrics(s, y, threshold))
    if (y == 0).any() and (y == 1).any():
        from sklearn.metrics import roc_auc_score
        out["auc"] = float(roc_auc_score(y, s))
        out["eer"], out["eer_threshold"] = eer(s, y)
        out["bpcer20"], out["bpcer20_threshold"] = bpcer_at_apcer(s, y, 0.05, attacks)
        out["bpcer100"], out["bpcer100_threshold"] = bpcer_at_apcer(s, y, 0.01, attacks)
    else:
        only = "real" if (y == 1).any() else "attack"
        out["notes"].append(f"only {only} samples: AUC, EER and BPCER@APCER cannot be computed")
        out.update(auc=None, eer=None, eer_threshold=None, bpcer20=None, bpcer100=None)
    if dev_threshold is not None:
        d = apcer_bpcer(s, y, dev_threshold, attacks)
        out["hter"] = ((d["apcer_pooled"] + d["bpcer"]) / 2
                       if d["apcer_pooled"] is not None and d["bpcer"] is not None else None)
        out["hter_threshold"] = float(dev_threshold)
    return out
