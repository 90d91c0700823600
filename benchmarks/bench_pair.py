"""Time two-image fusion on the Lytro pairs (520x520) on this machine.

Prints, per pair and on average: read time, GACN fusion time, write time, and the fusion time as a
ratio to the naive Laplacian-energy selection run in the same process.

Usage: python benchmarks/bench_pair.py [--data ../shared/data] [--pairs 20] [--threads 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import gacn
from gacn.baselines import laplacian_energy_selection
from gacn.io import read_image, write_image

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="keep the fused images here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lytro = Path(args.data) / "pairs" / "lytro"
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    gacn.fuse([np.zeros((32, 32), np.uint8)] * 2)  # load the model once, outside the timings
    rows = []
    print(f"{'pair':10} {'read s':>7} {'gacn s':>7} {'write s':>7} {'naive s':>8} {'ratio':>6}")
    for i in range(1, args.pairs + 1):
        t0 = time.perf_counter()
        a, b = (read_image(lytro / f"lytro_{i:02d}_{k}.png") for k in (1, 2))
        t1 = time.perf_counter()
        result = gacn.fuse([a, b])
        t2 = time.perf_counter()
        write_image(out / f"lytro_{i:02d}_gacn.png", result.image)
        t3 = time.perf_counter()
        laplacian_energy_selection(a, b)
        t4 = time.perf_counter()
        row = (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
        rows.append(row)
        print(f"lytro_{i:02d}  {row[0]:7.3f} {row[1]:7.3f} {row[2]:7.3f} {row[3]:8.3f} {row[1] / row[3]:6.1f}")
    mean = np.mean(rows, axis=0)
    print(f"{'mean':10} {mean[0]:7.3f} {mean[1]:7.3f} {mean[2]:7.3f} {mean[3]:8.3f} {mean[1] / mean[3]:6.1f}")
    print(f"threads {args.threads}; {a.shape[1]}x{a.shape[0]} pairs; fused images in {out}")


if __name__ == "__main__":
    main()
