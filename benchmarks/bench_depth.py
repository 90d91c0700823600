"""Depth maps as height maps: speckle of the index map of the real stacks, before and after.

For each stack of the shared data (``microscope_v4``, 65 frames; ``pcb``, 7 frames) the fast
path runs twice in one process: ``fill_flat=False`` (before: every pixel decided by its own
focus measure) and the default (after: flat areas decided from their surroundings, then the
depth map regularised by :func:`gacn.fusion.depth.regularise_depth` and rid of small islands by
:func:`gacn.fusion.depth.remove_speckles`). Printed per run, for the
depth map (``depth_map``): the share of pixels whose index differs from the 9x9 median of the
index (isolated speckle)

* over the whole map,
* over the low-texture background (``low tex``): the quarter of the pixels with the lowest
  texture of the *before* run's fused image, texture being the 9x9 local standard deviation
  of its luma averaged over 31x31 pixels. It does not depend on the algorithm judged,
* over the flat background of the previous benchmark (``conf 0``: the pixels the default
  decided from their surroundings, confidence 0),

the share of both backgrounds, the seconds of the whole fusion, of the regularisation alone
(``reg s``, :func:`gacn.fusion.depth.regularise_depth`) and of the speckle removal (``spk s``,
:func:`gacn.fusion.depth.remove_speckles`).
With ``--figure``, the colourised depth maps (before | after, one row per stack) are written there.

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
from gacn.fusion import cascade
from gacn.fusion.blend import clean_index, index_preview
from gacn.io import to_gray_float, write_image

REPO = Path(__file__).resolve().parents[1]
STACKS = ("microscope_v4", "pcb")
#: Side of the median the speckle is measured against.
MEDIAN = 9
#: Share of the pixels, the least textured, that is the low-texture background.
BACKGROUND_SHARE = 0.25
#: Sides of the local standard deviation of luma, and of the mean it is smoothed with.
TEXTURE_SIDE, SMOOTH_SIDE = 9, 31


def speckle(index: np.ndarray, where: np.ndarray | None = None) -> float:
    """Share of the pixels (of ``where``) whose index differs from the 9x9 median of the index."""
    differs = index != clean_index(index, MEDIAN)
    return float(differs.mean() if where is None else differs[where].mean())


def low_texture(image: np.ndarray) -> np.ndarray:
    """The :data:`BACKGROUND_SHARE` of the pixels of least texture of a fused image."""
    gray = to_gray_float(image)
    mean = cv2.blur(gray, (TEXTURE_SIDE,) * 2)
    std = np.sqrt(np.maximum(cv2.blur(gray * gray, (TEXTURE_SIDE,) * 2) - mean * mean, 0.0))
    texture = cv2.blur(std, (SMOOTH_SIDE,) * 2)
    return texture < np.quantile(texture, BACKGROUND_SHARE)


def timed(name: str, seconds: list[float]):
    """``cascade``'s function ``name``, appending the seconds of each call to ``seconds``."""
    function = getattr(cascade, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = function(*args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return out

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--figure", type=Path, help="write the before | after depth maps there (PNG or JPEG)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    seconds: list[float] = []
    speckle_seconds: list[float] = []
    cascade.regularise_depth = timed("regularise_depth", seconds)
    cascade.remove_speckles = timed("remove_speckles", speckle_seconds)
    rows = []
    print(f"{'stack':15}{'run':8}{'speckle':>9}{'low tex':>9}{'conf 0':>9}{'low':>6}{'c0':>7}{'s':>7}{'reg s':>7}{'spk s':>7}")
    for name in STACKS:
        folder = Path(args.data) / "stacks" / name
        files = sorted(p for p in folder.glob("*.jpg") if p.stem != "expected")
        if not files:
            print(f"{name}: no frames in {folder}, skipped")
            continue
        results, took = {}, {}
        for run, options in (("before", {"fill_flat": False}), ("after", {})):
            start = time.perf_counter()
            results[run] = gacn.fuse(files, **options)
            took[run] = time.perf_counter() - start
        low, flat = low_texture(results["before"].image), results["after"].confidence == 0
        maps = {run: result.depth_map for run, result in results.items()}
        for run, index in maps.items():
            reg = f"{seconds[-1]:7.2f}{speckle_seconds[-1]:7.2f}" if run == "after" else ""
            print(f"{name:15}{run:8}{speckle(index):9.4f}{speckle(index, low):9.4f}{speckle(index, flat):9.4f}"
                  f"{low.mean():6.2f}{flat.mean():7.3f}{took[run]:7.1f}{reg}", flush=True)
        rows.append(np.hstack([index_preview(index, len(files)) for index in maps.values()]))
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
