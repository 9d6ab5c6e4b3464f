"""Issue 8: which recipe generalises to groups it never saw?

Leave-groups-out cross-validation over webcam-replay (16 collector groups) and nuaa-print
(8 subjects) at once: 4 folds, each holding out whole groups of both, every held-out image
scored by a model that never saw its group (nor synthetic images made from it). celeba-spoof
always trains. Writes docs/generalisation.json and the table in docs/generalisation.md.

Run: .venv/bin/python benchmarks/generalise.py DATASET [--configs NAME ...] [--seeds 0 1 2]
(DATASET: `marginlive collect` of the three shared manifests.)

Texture rows also get an outside check: the branch fitted on all of DATASET scores the live and
the replay video in ../shared/data/videos (a person and camera in none of the sets; the live one
raw and after a JPEG round trip at quality 95, as the web page sends it). report_experiments.py
turns those scores into error rates at the row's calibrated threshold.
"""
import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import DOCS, SHARED, load_packed, video_contexts


def _register_ablations():
    """The research-only architecture of the cdcnet ablation (plain convolutions), not offered by the CLI."""
    from marginlive.liveness.networks import ARCHS, CDCNet
    ARCHS.setdefault("pixnet", lambda size=128: CDCNet(size, theta=0.0))


_register_ablations()

EPOCHS, BATCH = 12, 16   # network rows train this long unless their config says otherwise
# the outside check's videos: (key, video, JPEG quality of the frame or None)
OUTSIDE = [("live", "live-1.webm", None), ("live_jpeg95", "live-1.webm", 95), ("replay", "replay-1.webm", None)]


def outside_scores(base, hists, setting, contexts) -> dict:
    """P(real) of each outside video's frames from the texture branch ``setting`` fitted on all of ``base``."""
    from marginlive.training.texture import _regression, texture_features, texture_histograms
    model = _regression(setting.c).fit(texture_features(hists, setting.chi2), base.labels)
    return {k: model.predict_proba(texture_features(texture_histograms(c, setting), setting.chi2))[:, 1].tolist()
            for k, c in contexts.items()}


def texture_setting(spec: dict):
    """A texture row of CONFIGS as a ``TextureSetting`` (its view: the whole 4x context unless the row
    says ``margin``; LBP unless it says LPQ or HOG)."""
    from dataclasses import fields
    from marginlive.training.texture import TextureSetting
    return TextureSetting(**{f.name: spec[f.name] for f in fields(TextureSetting) if f.name in spec})


def load_saved(path: Path):
    """(network in eval mode, its training config) of a file written by --save-final."""
    import torch
    from marginlive.liveness.networks import build
    d = torch.load(path)
    net = build(d["config"]["arch"], d["config"]["size"])
    net.load_state_dict(d["state"])
    return net.eval(), d["config"]


def saved_outside_scores(path: Path, contexts) -> dict:
    """P(real) of each outside video's frames from a network saved by --save-final."""
    from marginlive.margin import crop_from_context
    from marginlive.training.train import predict_crops
    net, c = load_saved(path)
    return {k: predict_crops(net, np.stack([crop_from_context(x, c["margin"], c["size"]) for x in v])).tolist()
            for k, v in contexts.items()}


def network_config(spec: dict, **overrides):
    """The TrainConfig of a network row of CONFIGS (``synth`` aside), on ``overrides`` (device,
    threads, ...) and the table's epochs and batch where the row sets none."""
    from marginlive.training.train import TrainConfig
    return TrainConfig(**{"epochs": EPOCHS, "batch": BATCH, **overrides,
                          **{k: v for k, v in spec.items() if k != "synth"}})


def _texture_name(tolerance: int, chi2_steps: int, grid: int, stride: int, sigma_step: float = 0.0,
                  size: int = 128) -> str:
    tol = (f" tolerance max({tolerance}, ceil(sigma/{sigma_step:g}))" if sigma_step else
           f" tolerance {tolerance}" if tolerance else "")
    return (f"colour texture: YCrCb LBP{tol}"
            f"{', chi2 map' if chi2_steps else ''}{f', {grid}x{grid} grid' if grid > 1 else ''}, 4x context at {size} px, "
            f"every {'2nd ' if stride == 2 else ''}pixel")


HOG_ROW = "gradient histogram: Y HOG, 8x8 cells, 9 bins, black padding masked, 4x context at 256 px"
# the face's own texture: the face box alone (1x) at 64 px, no context
FACE_LPQ_ROW = "phase texture: YCrCb LPQ tolerance 20, chi2 map, 2x2 grid, the face box (1x) at 64 px, every pixel"
FACE_ROWS = {FACE_LPQ_ROW: dict(kind="lpq", window=7, tolerance=20.0),
             "colour texture: YCrCb LBP tolerance 2, chi2 map, 2x2 grid, the face box (1x) at 64 px, every pixel":
             dict(tolerance=2),
             "gradient histogram: Y HOG, 8x8 cells, 9 bins, black padding masked, the face box (1x) at 64 px":
             dict(kind="hog", tolerance=None, chi2_steps=0, grid=1)}
CONFIGS = {
    "paper: livenessnet, m2.0, paper aug": dict(arch="livenessnet", margin=2.0, aug="paper"),
    "livenessnet, m2.0, paper aug + synthetic screens": dict(arch="livenessnet", margin=2.0, aug="paper", synth=1.0),
    "livenessnet, m4.0, paper aug": dict(arch="livenessnet", margin=4.0, aug="paper"),
    **{_texture_name(tol, chi2, grid, stride, sig): dict(texture=True, stride=stride, tolerance=tol, chi2_steps=chi2,
                                                          c=3e-4 if chi2 else 1e-3, grid=grid, sigma_step=sig,
                                                          size=128)
       for tol, chi2, grid, sig in ((0, 0, 1, 0), (2, 0, 1, 0), (2, 2, 1, 0), (2, 2, 2, 0), (1, 2, 2, 24.0))
       for stride in (1, 2)},
    # the same grid texture at a coarser scale (64 px): fused with the 128 px one, see report_experiments.py
    _texture_name(2, 2, 2, 1, size=64): dict(texture=True, stride=1, tolerance=2, chi2_steps=2, c=3e-4, grid=2,
                                             sigma_step=0.0, size=64),
    # local phase quantisation instead of LBP codes (window 7, a part must exceed 20 levels)
    **{f"phase texture: YCrCb LPQ tolerance 20, chi2 map, 2x2 grid, 4x context at 128 px, every {e}pixel":
       dict(texture=True, kind="lpq", window=7, stride=stride, tolerance=20.0, chi2_steps=2, c=3e-4, grid=2,
            sigma_step=0.0, size=128) for stride, e in ((1, ""), (2, "2nd "))},
    # histograms of oriented gradients (Y, 8x8 cells, 9 unsigned bins, blocks of 2x2 cells), full resolution
    **{HOG_ROW.replace("256 px", f"{size} px"): dict(texture=True, kind="hog", stride=1, tolerance=None, chi2_steps=0,
                                                     c=3e-4, grid=1, sigma_step=0.0, size=size) for size in (256, 128)},
    **{name: {**dict(texture=True, stride=1, chi2_steps=2, c=3e-4, grid=2, sigma_step=0.0, size=64, margin=1.0), **kw}
       for name, kw in FACE_ROWS.items()},
    # central difference + pixel-wise supervision at the texture branch's view (trained on a GPU:
    # --device cuda; about 35 min a seed on this CPU)
    **{f"{arch}, m4.0 at {size} px, {aug} aug, {epochs} epochs": dict(arch=arch, margin=4.0, size=size, aug=aug,
                                                                      epochs=epochs, batch=32, lr=1e-3)
       for arch, size, aug, epochs in (("cdcnet", 128, "strong", 30), ("pixnet", 128, "strong", 30),
                                       ("cdcnet", 128, "paper", 30), ("cdcnet", 64, "strong", 30),
                                       ("cdcnet", 128, "strong", 60))},
    "minires, m2.0, strong aug, balanced": dict(arch="minires", margin=2.0, aug="strong", balance=True),
    "minires, m2.0, strong aug, balanced + synthetic screens": dict(arch="minires", margin=2.0, aug="strong",
                                                                    balance=True, synth=1.0),
    "minires, m1.5, strong aug, balanced + synthetic screens": dict(arch="minires", margin=1.5, aug="strong",
                                                                    balance=True, synth=1.0),
}


def _reusable(paths, cfg) -> dict | None:
    """A run from an earlier experiment JSON with exactly this training config (threads aside)."""
    want = {k: v for k, v in cfg.__dict__.items() if k != "threads"}
    for p in paths:
        for r in json.loads(Path(p).read_text())["results"].values():
            for run in r["runs"]:
                if {k: v for k, v in run["config"].items() if k != "threads"} == want:
                    return run
    return None


def safe_name(name: str) -> str:
    """A row name as a file name (letters, digits, '.', '_' and '-')."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name).strip("_")


def _args():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", help="a `marginlive collect` folder, or its pack_dataset .npz (benchmarks/common.py)")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, help=f"for every network config (default: the config's, else {EPOCHS})")
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="where networks train (cuda: a GPU)")
    ap.add_argument("--outside-from", metavar="DIR",
                    help="train nothing: add the outside check to network rows from their --save-final weights")
    ap.add_argument("--save-final", metavar="DIR",
                    help="first train each network config on all of DATASET (first seed) and save its weights here")
    ap.add_argument("--out", default=str(DOCS / "generalisation.json"))
    ap.add_argument("--reuse", nargs="*", default=[],
                    help="experiment JSONs (e.g. the margin experiment's) whose runs with the same config and "
                         "seed are taken instead of trained again")
    return ap.parse_args()


def log(m):
    print(m, file=sys.stderr, flush=True)


class Grid:
    """The rows measured so far (``done``, from ``--out`` if it exists), the dataset, and the
    outside videos' contexts (cut once, on first use)."""

    def __init__(self, a):
        from marginlive.training.dataset import load_dataset
        self.a = a
        self.base = load_packed(a.dataset) if a.dataset.endswith(".npz") else load_dataset(a.dataset)
        self.out = Path(a.out)
        self.done = json.loads(self.out.read_text())["results"] if self.out.exists() else {}
        self.meta = {"folds": 4, "epochs": EPOCHS, "batch": a.batch, "eval": ["webcam-replay", "nuaa-print"]}
        self.mask = np.isin(self.base.datasets, self.meta["eval"])
        self.texture_hists, self._outside = {}, None

    def save(self, name):
        """Merge this setting into the file as it is now (another run may have added rows)."""
        from marginlive._util import atomic_path
        now = json.loads(self.out.read_text())["results"] if self.out.exists() else {}
        now[name] = self.done[name]
        with atomic_path(self.out) as tmp:
            Path(tmp).write_text(json.dumps({"meta": self.meta, "results": now}, indent=1))

    def outside(self) -> dict:
        """The outside videos' 4x contexts ({} without ../shared/data/videos)."""
        if self._outside is None:
            have = (SHARED / "data" / "videos").is_dir()
            self._outside = {k: video_contexts(v, quality=q) for k, v, q in OUTSIDE} if have else {}
            if not have:
                log("no ../shared/data/videos: no outside check")
        return self._outside

    def texture_row(self, name, spec):
        """A texture setting cross-validated for every seed (a logistic regression: seconds, so
        never reused), its histograms computed once per view."""
        from marginlive.training.experiment import format_summary, summarise
        from marginlive.training.texture import cross_validate_texture, texture_histograms
        setting = texture_setting(spec)
        key = replace(setting, chi2_steps=None, c=None)     # what the histograms depend on
        if key not in self.texture_hists:
            self.texture_hists[key] = texture_histograms(self.base.contexts, setting)
        runs = []
        for seed in self.a.seeds:
            t = time.perf_counter()
            runs.append(cross_validate_texture(self.base, setting, 4, seed, self.mask, hists=self.texture_hists[key]))
            runs[-1]["seconds"] = time.perf_counter() - t
        self.done[name] = {"config": runs[0]["config"], "runs": runs, "summary": summarise(runs)}
        if self.outside():
            self.done[name]["outside"] = outside_scores(self.base, self.texture_hists[key], setting, self.outside())
        log(f"{name}: " + format_summary(self.done[name]["summary"]))
        self.save(name)

    def outside_only(self, name):
        """--outside-from: no training, the outside check of weights saved by --save-final."""
        if name not in self.done:
            raise SystemExit(f"{name}: no cross-validation runs in {self.out} to add an outside check to")
        if not self.outside():
            raise SystemExit("--outside-from needs ../shared/data/videos")
        self.done[name]["outside"] = saved_outside_scores(Path(self.a.outside_from) / (safe_name(name) + ".pt"),
                                                          self.outside())
        self.save(name)
        log(f"{name}: outside check of {self.a.outside_from}")

    def save_final(self, name, cfg):
        """--save-final: the network config trained on all of the dataset (first seed), saved."""
        import torch
        from marginlive.training.train import train
        final = Path(self.a.save_final) / (safe_name(name) + ".pt")
        final.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        net = train(self.base, replace(cfg, seed=self.a.seeds[0]), show_progress=False).net
        torch.save({"config": dict(cfg.__dict__, seed=self.a.seeds[0]), "state": net.state_dict()}, final)
        log(f"{name}: trained on all data in {time.perf_counter() - t:.0f} s -> {final}")

    def network_row(self, name, cfg, synth: float):
        """Every seed not measured yet: reused from --reuse or cross-validated, saved after each
        (a stopped run keeps what it measured)."""
        from marginlive.training.experiment import run_grid, summarise
        from marginlive.training.synth import add_synthetic_screens
        for seed in self.a.seeds:
            if seed in {r["seed"] for r in self.done.get(name, {}).get("runs", [])}:
                log(f"{name}: seed {seed} already measured")
                continue
            run = _reusable(self.a.reuse, replace(cfg, seed=seed)) if not synth else None
            if run:
                log(f"{name}: seed {seed} reused from an earlier experiment with the same config")
            else:
                ds = add_synthetic_screens(self.base, synth, seed) if synth else self.base
                run = run_grid(ds, {name: replace(cfg, seed=seed)}, 4, [seed], ["webcam-replay", "nuaa-print"],
                               log=log)[name]["runs"][0]
            runs = sorted(self.done.get(name, {}).get("runs", []) + [run], key=lambda r: r["seed"])
            self.done[name] = {"config": dict(cfg.__dict__), "runs": runs, "summary": summarise(runs),
                               "synthetic_per_live": synth}
            self.save(name)
            log(f"saved {name} seed {seed}")


def main():
    a = _args()
    grid = Grid(a)
    for name in a.configs:
        spec = dict(CONFIGS[name])
        synth = spec.pop("synth", 0.0)
        if spec.pop("texture", False):
            grid.texture_row(name, spec)
            continue
        cfg = network_config(spec, batch=a.batch, threads=a.threads, device=a.device)
        cfg = replace(cfg, epochs=a.epochs or cfg.epochs)
        if a.outside_from:
            grid.outside_only(name)
            continue
        if a.save_final and not synth:
            grid.save_final(name, cfg)
        grid.network_row(name, cfg, synth)


if __name__ == "__main__":
    sys.exit(main())
