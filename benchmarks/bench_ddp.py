"""Training on several processes (torchrun) against one, on this machine.

Trains the same setting (LivenessNet at margin 2, 64 px, batch 32, no augmentation) for `--epochs`
epochs on a collected dataset, once in one process and once under `torchrun --standalone
--nproc_per_node N` (each process one thread), and reports the wall time and images per second of
each, and how far apart the two models' P(real) are on the dataset. Writes the "Several processes"
section of docs/training.md and docs/bench_ddp.json.

Run: .venv/bin/python benchmarks/bench_ddp.py DATASET [--nproc 2] [--epochs 2]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import DOCS, machine, save_json, write_section


def run(cmd, env) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stderr[-2000:])
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    from marginlive.liveness.runtime import LivenessModel
    from marginlive.training.dataset import load_dataset
    ds = load_dataset(a.dataset)
    train = ["-m", "marginlive", "train", a.dataset, "--arch", "livenessnet", "--margin", "2", "--size", "64",
             "--batch", "32", "--epochs", str(a.epochs), "--aug", "none", "--val-frac", "0", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as d:
        one, many = Path(d) / "one.onnx", Path(d) / "many.onnx"
        t_one = run([sys.executable, *train, "--out", str(one)], {**os.environ})
        t_many = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                      str(a.nproc), *train, "--out", str(many)], env)
        crops = ds.crops(2.0, 64)
        diff = np.abs(LivenessModel(one).predict(crops) - LivenessModel(many).predict(crops))
    n = len(ds) * a.epochs
    res = {"machine": machine(), "images": len(ds), "epochs": a.epochs, "nproc": a.nproc,
           "one_process_s": t_one, "torchrun_s": t_many, "one_images_per_s": n / t_one, "torchrun_images_per_s": n / t_many,
           "p_real_max_diff": float(diff.max()), "p_real_mean_diff": float(diff.mean())}
    save_json("bench_ddp", res)
    text = "\n".join([
        "## Several processes (torchrun)", "",
        f"Machine: {res['machine']}. LivenessNet, margin 2 at 64 px, batch 32, no augmentation, {a.epochs} epochs "
        f"on {len(ds)} crops; wall time including start-up. `benchmarks/bench_ddp.py`.", "",
        "| run | wall time | images/s |", "|---|---|---|",
        f"| one process (2 threads) | {t_one:.0f} s | {res['one_images_per_s']:.0f} |",
        f"| torchrun, {a.nproc} processes (1 thread each, gloo) | {t_many:.0f} s | {res['torchrun_images_per_s']:.0f} |", "",
        f"The two models' P(real) on the dataset differ by {res['p_real_mean_diff']:.3f} on average, at most "
        f"{res['p_real_max_diff']:.3f} (each process normalises batch statistics over its share of the batch). "
        "On two cores the processes share the cores the single process already used, so the gain is "
        "not the point here; on a GPU machine each process drives its own GPU (nccl).", ""])
    write_section(DOCS / "training.md", "## Several processes", text)
    print(text)


if __name__ == "__main__":
    main()
