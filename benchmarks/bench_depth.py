"""Depth maps as height maps: speckle of the index map of the real stacks, before and after.

For each stack of the shared data (``microscope_v4``, 65 frames; ``pcb``, 7 frames) the fast
path runs twice in one process: ``fill_flat=False`` (before: every pixel decided by its own
focus measure, as the fast path did until flat areas were decided from their surroundings) and
the default. Printed per run: the share of pixels whose index differs from the 9x9 median of the
index (isolated speckle), over the whole map and over the flat background (the pixels the
default decided from their surroundings, confidence 0), the share of that background, and the
seconds. With ``--figure``, the colourised index maps (before | after, one row per stack) are
written there.

Usage: python benchmarks/bench_depth.py [--data ../shared/data] [--figure docs/depth_maps.jpg]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

import gacn
from gacn.fusion.blend import index_preview
from gacn.io import write_image

REPO = Path(__file__).resolve().parents[1]
STACKS = ("microscope_v4", "pcb")
#: Side of the median the speckle is measured against.
MEDIAN = 9


def speckle(index: np.ndarray, where: np.ndarray | None = None) -> float:
    """Share of the pixels (of ``where``) whose index differs from the 9x9 median of the index."""
    median = cv2.medianBlur(index.astype(np.uint8), MEDIAN)
    differs = index != median
    return float(differs.mean() if where is None else differs[where].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--figure", type=Path, help="write the before | after index maps there (PNG or JPEG)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    print(f"{'stack':15}{'run':8}{'speckle':>9}{'in flat':>9}{'flat':>7}{'s':>7}")
    for name in STACKS:
        folder = Path(args.data) / "stacks" / name
        files = sorted(p for p in folder.glob("*.jpg") if p.stem != "expected")
        if not files:
            print(f"{name}: no frames in {folder}, skipped")
            continue
        previews = []
        results = {}
        for run, options in (("before", {"fill_flat": False}), ("after", {})):
            start = time.perf_counter()
            results[run] = gacn.fuse(files, **options)
            results[run].timings["total"] = time.perf_counter() - start
        flat = results["after"].confidence == 0
        for run, result in results.items():
            print(f"{name:15}{run:8}{speckle(result.index_map):9.4f}{speckle(result.index_map, flat):9.4f}"
                  f"{flat.mean():7.3f}{result.timings['total']:7.1f}", flush=True)
            previews.append(index_preview(result.index_map, len(files)))
        rows.append(np.hstack(previews))
    if args.figure and rows:
        width = min(r.shape[1] for r in rows)
        scaled = [cv2.resize(r, (width, round(r.shape[0] * width / r.shape[1])), interpolation=cv2.INTER_AREA)
                  for r in rows]
        figure = np.vstack(scaled)
        figure = cv2.resize(figure, (1200, round(figure.shape[0] * 1200 / figure.shape[1])),
                            interpolation=cv2.INTER_AREA)
        write_image(args.figure, figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
