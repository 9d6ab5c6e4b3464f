"""Training throughput on this CPU, and the time of the paper's full recipe on the shared data.

Measures one epoch of each setting on the whole collected dataset (decode and crop once,
uint8 tensors in memory, batch augmentation on tensors, both cores), then either runs the
full paper recipe (--full: LivenessNet, margin 2.0, batch 8, 50 epochs) or reports the time
it takes at the measured rate. Writes docs/bench_training.json and the head of docs/training.md.

Run: .venv/bin/python benchmarks/bench_training.py DATASET [--full]
"""
import argparse
import sys
import time

from common import DOCS, machine, save_json

SETTINGS = (("livenessnet", 8, "paper", 2.0, 64), ("livenessnet", 16, "paper", 2.0, 64),
            ("minires", 16, "strong", 2.0, 64), ("cdcnet", 32, "strong", 4.0, 128))


def measure(dataset: str, full: bool) -> dict:
    """Seconds to load, crop and render synthetic screens once; images/s of one epoch per setting;
    with ``full``, the paper's whole recipe timed."""
    from marginlive.training.dataset import load_dataset
    from marginlive.training.synth import add_synthetic_screens
    from marginlive.training.train import TrainConfig, train
    t = time.perf_counter()
    ds = load_dataset(dataset)
    res = {"machine": machine(), "crops": len(ds), "load_s": time.perf_counter() - t}
    t = time.perf_counter()
    crops, (wide, _) = ds.crops(2.0), ds.wide(2.0, 128)
    res.update(crop_s=time.perf_counter() - t, margin_crops=len(crops), wide_crops=len(wide))
    t = time.perf_counter()
    res.update(synthetic=len(add_synthetic_screens(ds, 1.0, 0)) - len(ds), synthetic_s=time.perf_counter() - t)
    res["settings"] = []
    for arch, batch, aug, margin, size in SETTINGS:
        r = train(ds, TrainConfig(arch=arch, batch=batch, aug=aug, margin=margin, size=size, epochs=1, lr=1e-3),
                  show_progress=False)
        res["settings"].append({"arch": arch, "batch": batch, "aug": aug, "margin": margin, "size": size,
                                "images_per_s": r.images_per_s})
        print(res["settings"][-1], flush=True)
    if full:
        r = train(ds, TrainConfig(), show_progress=False)
        res["paper_full"] = {"seconds": r.seconds, "images_per_s": r.images_per_s}
    return res


def page(r: dict) -> list[str]:
    """The head of docs/training.md (its other sections belong to other benchmarks)."""
    n = r["crops"]
    lines = ["# Training speed", "", f"Machine: {r['machine']} (both cores for training). Dataset: all three shared "
             f"sets collected ({n} context crops). `benchmarks/bench_training.py`.", "",
             f"- Loading the dataset (JPEG decode of every context crop, once): {r['load_s']:.1f} s.",
             f"- Cutting the margin-2.0 crops and the 2x-wide crops for augmentation, once: {r['crop_s']:.1f} s "
             f"({r['margin_crops']} + {r['wide_crops']} crops).",
             f"- Rendering one synthetic screen attack per live image: {r['synthetic_s']:.1f} s "
             f"({r['synthetic']} images).", "",
             "| architecture | batch | augmentation | view | images/s (forward + backward + augmentation) |",
             "|---|---|---|---|---|"]
    lines += [f"| {x['arch']} | {x['batch']} | {x['aug']} | {x['margin']:g}x at {x['size']} px | {x['images_per_s']:.0f} |"
              for x in r["settings"]]
    cdc = r["settings"][-1]["images_per_s"]
    lines += ["", f"The `cdcnet` setting (30 epochs, batch 32) takes about {30 * n / cdc / 60:.0f} min on this CPU "
              "at that rate. Its leave-groups-out runs were trained on an NVIDIA H200 (`generalise.py --device "
              "cuda`: 1.5-3 min per seed of 4 folds, with five trainings sharing the GPU); the shipped default's "
              "is trained by `make model` on this CPU (`training.recipes.train_network`, batch 16)."]
    if "paper_full" in r:
        f = r["paper_full"]
        lines += ["", f"The paper's full recipe (LivenessNet, margin 2.0, batch 8, 50 epochs, {n} images, "
                  f"no validation split) took **{f['seconds'] / 60:.1f} min** ({f['images_per_s']:.0f} images/s)."]
    else:
        est = 50 * n / r["settings"][0]["images_per_s"]
        lines += ["", f"At the measured rate the paper's full recipe (LivenessNet, batch 8, 50 epochs on "
                  f"{n} images) takes about **{est / 60:.0f} min** on this CPU (computed from the one-epoch "
                  "rate above; run with --full to time it end to end)."]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--full", action="store_true")
    a = ap.parse_args()
    r = measure(a.dataset, a.full)
    save_json("bench_training", r)
    path = DOCS / "training.md"
    others = path.read_text().split("\n## ")[1:] if path.exists() else []   # bench_ddp's section
    path.write_text("\n## ".join(["\n".join(page(r)) + "\n"] + others))
    print("\n".join(page(r)))


if __name__ == "__main__":
    sys.exit(main())
