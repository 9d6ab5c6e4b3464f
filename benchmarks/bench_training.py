"""Training throughput on this CPU, and the time of the paper's full recipe on the shared data.

Measures one epoch of each setting on the whole collected dataset (decode and crop once,
uint8 tensors in memory, batch augmentation on tensors, both cores), then either runs the
full paper recipe (--full: LivenessNet, margin 2.0, batch 8, 50 epochs) or reports the time
it takes at the measured rate. Writes docs/training.md.

Run: .venv/bin/python benchmarks/bench_training.py DATASET [--full]
"""
import argparse
import sys
import time

from common import DOCS, machine


def main():
    from marginlive.training.dataset import load_dataset
    from marginlive.training.synth import add_synthetic_screens
    from marginlive.training.train import TrainConfig, train
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--full", action="store_true")
    a = ap.parse_args()
    t = time.perf_counter()
    ds = load_dataset(a.dataset)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    crops = ds.crops(2.0)
    wide, _ = ds.wide(2.0, 128)
    t_crop = time.perf_counter() - t
    t = time.perf_counter()
    syn = add_synthetic_screens(ds, 1.0, 0)
    t_syn = time.perf_counter() - t
    rows = []
    for arch, batch, aug, margin, size in (("livenessnet", 8, "paper", 2.0, 64), ("livenessnet", 16, "paper", 2.0, 64),
                                           ("minires", 16, "strong", 2.0, 64), ("cdcnet", 32, "strong", 4.0, 128)):
        r = train(ds, TrainConfig(arch=arch, batch=batch, aug=aug, margin=margin, size=size, epochs=1, lr=1e-3),
                  show_progress=False)
        rows.append((arch, batch, aug, f"{margin:g}x at {size} px", r.images_per_s))
        print(rows[-1], flush=True)
    paper_rate = rows[0][-1]
    est = 50 * len(ds) / paper_rate
    lines = ["# Training speed", "", f"Machine: {machine()} (both cores for training). Dataset: all three shared "
             f"sets collected ({len(ds)} context crops). `benchmarks/bench_training.py`.", "",
             f"- Loading the dataset (JPEG decode of every context crop, once): {t_load:.1f} s.",
             f"- Cutting the margin-2.0 crops and the 2x-wide crops for augmentation, once: {t_crop:.1f} s "
             f"({len(crops)} + {len(wide)} crops).",
             f"- Rendering one synthetic screen attack per live image: {t_syn:.1f} s ({len(syn) - len(ds)} images).", "",
             "| architecture | batch | augmentation | view | images/s (forward + backward + augmentation) |",
             "|---|---|---|---|---|"]
    lines += [f"| {a_} | {b} | {g} | {v} | {ips:.0f} |" for a_, b, g, v, ips in rows]
    cdc = rows[-1][-1]
    lines += ["", f"The shipped `cdcnet` recipe (30 epochs, batch 32) takes about {30 * len(ds) / cdc / 60:.0f} min "
              "on this CPU at that rate. Its leave-groups-out runs were trained on an NVIDIA H200 (`generalise.py "
              "--device cuda`: 1.5-3 min per seed of 4 folds, with five trainings sharing the GPU); the shipped "
              "default's is trained by `make model` on this CPU (`training.recipes.train_network`, batch 16: 7 min "
              "for 3,659 crops)."]
    if a.full:
        r = train(ds, TrainConfig(), show_progress=False)
        lines += ["", f"The paper's full recipe (LivenessNet, margin 2.0, batch 8, 50 epochs, {len(ds)} images, "
                  f"no validation split) took **{r.seconds / 60:.1f} min** ({r.images_per_s:.0f} images/s)."]
    else:
        lines += ["", f"At the measured rate the paper's full recipe (LivenessNet, batch 8, 50 epochs on "
                  f"{len(ds)} images) takes about **{est / 60:.0f} min** on this CPU (computed from the one-epoch "
                  "rate above; run with --full to time it end to end)."]
    (DOCS / "training.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
