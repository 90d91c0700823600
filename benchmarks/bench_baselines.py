"""Time the classical fusion baselines on one Lytro pair (520x520 RGB) on this machine.

Prints, per method, the best of ``--repeats`` wall times and the ratio to pixel averaging
(:func:`gacn.baselines.average`) measured in the same process. Enfuse is timed only when its
program is installed; its time includes writing and reading the temporary TIFF files.

Usage: python benchmarks/bench_baselines.py [--data ../shared/data | --lytro DIR] [--pair 1]
       [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--lytro", default=None, help="folder of lytro_NN_1/2.png (default: DATA/pairs/lytro)")
    parser.add_argument("--pair", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV / OpenMP threads")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before numpy/OpenCV start their pools

    import cv2

    from gacn import baselines
    from gacn.io import read_image

    cv2.setNumThreads(args.threads)
    folder = Path(args.lytro) if args.lytro else Path(args.data) / "pairs" / "lytro"
    a, b = (read_image(folder / f"lytro_{args.pair:02d}_{k}.png") for k in (1, 2))
    methods = {
        "average": baselines.average,
        "naive-laplacian": baselines.laplacian_energy_selection,
        "laplacian-pyramid": baselines.laplacian_pyramid_fusion,
        "dwt": baselines.dwt_fusion,
        "gff": baselines.guided_filtering_fusion,
        "block-sf": baselines.block_spatial_frequency_fusion,
    }
    if baselines.enfuse_available():
        methods["enfuse"] = baselines.enfuse_fusion
    times = {}
    for name, fn in methods.items():
        fn(a, b)  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn(a, b)
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    print(f"lytro_{args.pair:02d}: {a.shape[1]}x{a.shape[0]} {a.dtype} {'RGB' if a.ndim == 3 else 'gray'}; "
          f"best of {args.repeats}; {args.threads} thread(s)")
    print(f"{'method':18} {'ms':>9} {'x average':>10}")
    for name, seconds in times.items():
        print(f"{name:18} {seconds * 1e3:9.1f} {seconds / times['average']:10.1f}")
    if not baselines.enfuse_available():
        print("enfuse: not installed, skipped")


if __name__ == "__main__":
    main()
