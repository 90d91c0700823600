"""What each choice of the coarse-to-fine path buys on native-detail pairs, in one run.

The fast path decides frames over :data:`gacn.fusion.coarse.COARSE_FROM` pixels at a working
shape of about :data:`gacn.fusion.coarse.WORK_PIXELS` and settles the focus-boundary band at full
size (:mod:`gacn.fusion.coarse`). For each native-detail pair (:func:`gacn.evaluation.native.native_pair`,
BSDS500 ``test`` photos tiled at their own resolution, occlusion-correct disc defocus) this prints
the PSNR against the all-in-focus truth and the seconds of ``gacn.fuse`` (in process) of:

* ``full size``: the fast path at full size with its network budget (the default before);
* ``W MP, no band``: decided at a working shape of W MP, the weight map enlarged, no band;
* ``W MP``: the same with the band settled from the full-size frames (the default at 0.15 MP);
* ``W MP + network``: with the network and the refiner at the working shape (0.6 MP of work);

and the oracle (the truth's map).

Usage: python benchmarks/bench_coarse.py [--pairs 12:20,12:80,6:40,1600x1200:40] [--work 0.3,0.15]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import gacn
from gacn.evaluation.native import native_pair
from gacn.fusion import coarse
from gacn.fusion.synthetic import psnr


def run(frames: list, truth, **patches: float) -> str:
    """PSNR and seconds of the default fusion of ``frames`` with the attributes of
    :mod:`gacn.fusion.coarse` set to ``patches``."""
    with mock.patch.multiple(coarse, **patches):
        start = time.perf_counter()
        image = gacn.fuse(frames, crop=False).image
        seconds = time.perf_counter() - start
    return f"{psnr(image, truth):6.2f} dB {seconds:5.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="12:20,12:80,6:40,1600x1200:40", help="size:radius, comma-separated")
    parser.add_argument("--work", default="0.3,0.15", help="working shapes (MP)")
    args = parser.parse_args()
    works = [float(w) for w in args.work.split(",")]
    gacn.fuse(native_pair("1600x1200", 20).frames)  # warm-up: imports and the model
    for spec in args.pairs.split(","):
        size, radius = spec.split(":")
        pair = native_pair(size, int(radius))
        frames = pair.frames
        print(f"\npair {size} MP, disc radius {radius}: oracle {psnr(pair.oracle, pair.truth):.2f} dB", flush=True)
        print(f"  {'full size':22} {run(frames, pair.truth, COARSE_FROM=10**12)}", flush=True)
        for w in works:
            pixels = int(w * 1e6)
            print(f"  {f'{w} MP, no band':22} {run(frames, pair.truth, WORK_PIXELS=pixels, BAND_MEASURE_WEIGHT=0.0)}",
                  flush=True)
            print(f"  {f'{w} MP':22} {run(frames, pair.truth, WORK_PIXELS=pixels)}", flush=True)
            print(f"  {f'{w} MP + network':22} {run(frames, pair.truth, WORK_PIXELS=pixels, COARSE_BUDGET=600_000)}",
                  flush=True)


if __name__ == "__main__":
    main()
