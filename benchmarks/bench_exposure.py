"""Blotches under exposure differences: the flat-area seam ratio and Q_M of several fusions, same run.

Every Lytro pair is fused after a photometric shift of one source (a gain, clipped and rounded
back to uint8 as in the ``exposure`` dataset, or per-channel gains: a colour cast), and scored
with the flat-area seam ratio (``SEAM``, :func:`gacn.metrics.seams.seam_ratio`: the fused
image's mean gradient where both sources are flat over the larger of the sources'; about 1
clean, higher with every blotch edge) and Q_M (the edge preservation of the fused image over
wavelet scales, :func:`gacn.metrics.q_m`; higher is better). Printed per shift and method: the
median seam ratio over the pairs, the worst value and its pair, how many pairs have a defined
ratio (at least 1 % flat), the mean Q_M and, with ``unmatched`` among the methods, the mean Q_M
difference to it (matching rescales pixels, which Q_M sees as lost edge strength where the
gain darkens them).

Methods:

* ``after``    ``gacn.fuse([a, b])``: the default (exposure matching and flat-area decisions on)
* ``before``   ``gacn.fuse([a, b], match_exposure=False, fill_flat=False)``: the default path as
  it was before them
* ``unmatched`` ``gacn.fuse([a, b], match_exposure=False)``: the default without matching
* ``first-plain`` the default matched to the first frame without the knee near white (the
  matching before issue 23)
* ``dominant`` the default matched to the frame that gives most of the detail
  (:meth:`gacn.fusion.frames.Frames.dominant_frame`), with the knee
* ``enfuse``   :func:`gacn.baselines.enfuse.enfuse_fusion` (hard mask, multi-resolution blend)
* ``faithful`` ``gacn.fuse([a, b], method="gacn")``: the published network's path (slow)

``first-plain`` and ``dominant`` force their reference whatever ``gacn.fuse`` passes to
:meth:`~gacn.fusion.frames.Frames.match_exposure`. A pair whose fusion under one of them is the
same as under the other (reference frame 0 and no knee: the correction does not darken, or
gains equal by channel) is fused once.

``--consistency`` prints instead how much each pair's flat pixels agree on one gain
(:func:`gacn.fusion.exposure.agreement`; gains under 8 % are applied only above
:data:`gacn.fusion.exposure.CONSISTENCY`): on the Lytro pairs under each shift, on the other
sets (every frame against the first), and on the frames of the two real stacks against their first.

``--crops PATH`` writes a figure: for the 2 pairs with the worst ratio under ``before`` at
source 1 gain 0.65, a crop around the blotchiest flat area (the window with the most fused
gradient above both sources' on flat pixels), side by side: before | after | enfuse.

Usage::

    python benchmarks/bench_exposure.py [--data ../shared/data] [--pairs N] [--shifts s1x0.65,...] \\
        [--methods before,after,enfuse] [--crops docs/exposure_crops.png] [--consistency]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from collections.abc import Callable, Hashable
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import torch

import gacn
from gacn import metrics
from gacn.baselines import enfuse_available, enfuse_fusion
from gacn.evaluation.datasets import apply_gain, load_dataset
from gacn.fusion import exposure
from gacn.fusion.exposure import CONSISTENCY, agreement, estimate_exposure, focus_shares, neutral_params, thumbnail
from gacn.fusion.frames import Frames
from gacn.io import read_image
from gacn.metrics.seams import flat_mask, gradient_magnitude

REPO = Path(__file__).resolve().parents[1]

#: name -> (index of the changed source, gain or per-channel gains); None: the pair as shot.
SHIFTS: dict[str, tuple[int, float | tuple[float, float, float]] | None] = {
    "none": None,
    "s1x0.65": (0, 0.65),
    "s2x1.4": (1, 1.4),
    "s1x0.8": (0, 0.8),
    "s1x0.92": (0, 0.92),
    "s1x0.95": (0, 0.95),
    "s2x1.05": (1, 1.05),
    "s2x1.2": (1, 1.2),
    "s2cast": (1, (1.1, 1.0, 0.85)),
    "s2x0.93": (1, 0.93),
    "s2x1.1": (1, 1.1),
    "s2x1.3": (1, 1.3),
    "s2x0.7": (1, 0.7),
    "s1x0.93": (0, 0.93),
    "s1x1.1": (0, 1.1),
    "s1x1.3": (0, 1.3),
    "s1x0.7": (0, 0.7),
}
#: The shifts run unless ``--shifts`` says otherwise: those of the seam table in the README.
DEFAULT_SHIFTS = ("none", "s1x0.65", "s2x1.4", "s1x0.8", "s1x0.92", "s1x0.95", "s2x1.05", "s2x1.2", "s2cast")

_match_exposure = Frames.match_exposure


def matched_to(dominant: bool, knee: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The default fusion, matched to the first frame or (``dominant``) to the frame sharpest on
    most pixels, with or without the knee near white."""
    def fuse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        force = mock.patch.object(Frames, "match_exposure",
                                  lambda frames, _=None: _match_exposure(frames, None if dominant else 0))
        plain = mock.patch.object(exposure, "neutral_params", lambda _: None) if not knee else nullcontext()
        with force, plain:
            return gacn.fuse([a, b]).image
    return fuse


def configuration(method: str, a: np.ndarray, b: np.ndarray) -> Hashable:
    """What decides ``method``'s fusion of ``a, b`` among ``first-plain`` and ``dominant``: the
    reference frame and whether the knee acts on the other; a key of its own for other methods."""
    if method not in ("first-plain", "dominant"):
        return method
    reference = int(np.argmax(focus_shares(thumbnail(x) for x in (a, b)))) if method == "dominant" else 0
    reference_image, other = (a, b) if reference == 0 else (b, a)
    knee = method == "dominant" and neutral_params(estimate_exposure(reference_image, other, offset=False)) is not None
    return reference, knee


#: name -> fusion of two uint8 RGB sources.
METHODS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "after": lambda a, b: gacn.fuse([a, b]).image,
    "before": lambda a, b: gacn.fuse([a, b], match_exposure=False, fill_flat=False).image,
    "unmatched": lambda a, b: gacn.fuse([a, b], match_exposure=False).image,
    "first-plain": matched_to(dominant=False, knee=False),
    "dominant": matched_to(dominant=True, knee=True),
    "enfuse": lambda a, b: enfuse_fusion(a, b).image,
    "faithful": lambda a, b: gacn.fuse([a, b], method="gacn").image,
}

#: The real focus stacks of the shared data whose frames ``--consistency`` compares.
STACKS = ("microscope_v4", "pcb")

#: The shift and method whose worst pairs the crops show, and the panels' methods.
CROP_SHIFT, CROP_RANK_BY, CROP_PANELS = "s1x0.65", "before", ("before", "after", "enfuse")


def shifted(sources: list[np.ndarray], shift: str) -> list[np.ndarray]:
    """The pair with the shift ``shift`` of :data:`SHIFTS` applied."""
    spec = SHIFTS[shift]
    if spec is None:
        return sources
    out = list(sources)
    out[spec[0]] = apply_gain(out[spec[0]], spec[1])
    return out


def blotch_window(a: np.ndarray, b: np.ndarray, fused: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left corner of the ``side`` x ``side`` window with the most fused gradient above both
    sources' on the pixels flat in both (where blotch edges show)."""
    ga, gb, gf = (metrics.to_gray(x) for x in (a, b, fused))
    excess = np.maximum(gradient_magnitude(gf) - np.maximum(gradient_magnitude(ga), gradient_magnitude(gb)), 0.0)
    excess = (excess * flat_mask(ga, gb)).astype(np.float32)
    total = cv2.boxFilter(excess, -1, (side, side), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    h, w = excess.shape
    y, x = np.unravel_index(int(np.argmax(total[: h - side + 1, : w - side + 1])), (h - side + 1, w - side + 1))
    return int(y), int(x)


def labelled(image: np.ndarray, text: str, scale: int) -> np.ndarray:
    """An RGB crop enlarged ``scale`` times (nearest neighbour, pixels stay visible) under a white
    label bar."""
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    bar = np.full((24, big.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, big])


def crops_figure(worst: list[str], pairs: dict[str, list[np.ndarray]], fused: dict[tuple[str, str], np.ndarray],
                 seams: dict[tuple[str, str], float], path: Path, side: int = 160, scale: int = 2) -> None:
    """One row per pair of ``worst``: its blotchiest window under :data:`CROP_RANK_BY`, as fused
    by each method of :data:`CROP_PANELS`, labelled with the method and its seam ratio."""
    rows = []
    for name in worst:
        a, b = pairs[name]
        y, x = blotch_window(a, b, fused[(CROP_RANK_BY, name)], side)
        window = (slice(y, y + side), slice(x, x + side))
        panels = [labelled(fused[(m, name)][window], f"{name} {CROP_SHIFT} {m}: SEAM {seams[(m, name)]:.2f}", scale)
                  for m in CROP_PANELS]
        gap = np.full((panels[0].shape[0], 8, 3), 255, np.uint8)
        rows.append(np.hstack([p for panel in panels for p in (panel, gap)][:-1]))
        rows.append(np.full((8, rows[-1].shape[1], 3), 255, np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows[:-1]), cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"error: could not write {path}")


def summary(values: dict[str, float]) -> tuple[float, float, str, int]:
    """Median and worst (largest) defined ratio, the worst pair's name and the count defined."""
    defined = {k: v for k, v in values.items() if not math.isnan(v)}
    if not defined:
        return math.nan, math.nan, "-", 0
    worst = max(defined, key=defined.__getitem__)
    return statistics.median(defined.values()), defined[worst], worst, len(defined)


def print_consistency(data: str, items: list, shifts: list[str]) -> None:
    """Per set (every frame against the first; the real stacks' frames against their first) and
    per shift of the Lytro pairs: the largest, the median and the smallest gain agreement, and
    how many frames exceed :data:`CONSISTENCY`."""
    sets = {name: [(it.sources[0], s) for it in load_dataset(name, data).items for s in it.sources[1:]]
            for name in ("triples", "halo", "defocus", "classic")}
    for stack in STACKS:
        files = sorted(p for p in (Path(data) / "stacks" / stack).glob("*.jpg") if p.stem != "expected")
        if files:
            first = read_image(files[0])
            sets[f"stack {stack}"] = [(first, read_image(f)) for f in files[1:]]
    rows = {f"lytro {shift}": [tuple(shifted(it.sources, shift)) for it in items] for shift in shifts}
    print(f"Gain agreement of the flat pixels (applied under 8 % only above {CONSISTENCY})\n")
    print(f"{'frames':20} {'count':>5} {'largest':>8} {'median':>8} {'smallest':>8} {'above':>6}")
    for name, pairs in {**rows, **sets}.items():
        values = [agreement(a, b) for a, b in pairs]
        print(f"{name:20} {len(values):5d} {max(values):8.2f} {statistics.median(values):8.2f} {min(values):8.2f} "
              f"{sum(v > CONSISTENCY for v in values):6d}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=None, help="only the first N Lytro pairs")
    parser.add_argument("--shifts", default=",".join(DEFAULT_SHIFTS), help=f"comma-separated, of {', '.join(SHIFTS)}")
    parser.add_argument("--methods", default="before,after,enfuse", help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--crops", type=Path, default=None, help="write the figure of crops here (PNG)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--consistency", action="store_true", help="print the gain agreement instead (no fusion)")
    args = parser.parse_args()
    shifts, methods = args.shifts.split(","), args.methods.split(",")
    unknown = [s for s in shifts if s not in SHIFTS] + [m for m in methods if m not in METHODS]
    if unknown:
        sys.exit(f"error: unknown shift(s) or method(s): {', '.join(unknown)}")
    if "enfuse" in methods and not enfuse_available():
        sys.exit("error: enfuse is not installed (apt-get install enfuse); leave it out of --methods")
    if args.crops is not None and (CROP_SHIFT not in shifts or not set(CROP_PANELS) <= set(methods)):
        sys.exit(f"error: --crops needs the shift {CROP_SHIFT} and the methods {', '.join(CROP_PANELS)}")
    if args.pairs is not None and args.pairs < 1:
        sys.exit("error: --pairs must be at least 1")
    torch.set_num_threads(args.threads)
    try:
        items = load_dataset("lytro", args.data).items[: args.pairs]
    except gacn.InputError as exc:
        sys.exit(f"error: {exc}")

    if args.consistency:
        print_consistency(args.data, items, shifts)
        return
    print(f"Flat-area seam ratio (lower is better, about 1 clean) and Q_M over {len(items)} Lytro pairs\n")
    print(f"{'shift':9} {'method':11} {'median':>8} {'worst':>8}  {'worst pair':11} {'defined':>7} {'Q_M':>7} "
          f"{'dQ_M':>7}")
    crop_pairs: dict[str, list[np.ndarray]] = {}
    crop_fused: dict[tuple[str, str], np.ndarray] = {}
    crop_seams: dict[tuple[str, str], float] = {}
    for shift in shifts:
        unmatched: dict[str, float] = {}
        scored: dict[tuple[str, Hashable], dict[str, float]] = {}  # fusions already scored, by pair and configuration
        for method in methods:
            seams: dict[str, float] = {}
            q_m: dict[str, float] = {}
            for item in items:
                a, b = shifted(item.sources, shift)
                key = (item.name, configuration(method, a, b))
                if key not in scored:
                    fused = METHODS[method](a, b)
                    scored[key] = metrics.compute(a, b, fused, ["SEAM", "Q_M"])
                    if args.crops is not None and shift == CROP_SHIFT and method in CROP_PANELS:
                        crop_pairs[item.name] = [a, b]
                        crop_fused[(method, item.name)] = fused
                        crop_seams[(method, item.name)] = scored[key]["SEAM"]
                seams[item.name], q_m[item.name] = scored[key]["SEAM"], scored[key]["Q_M"]
            if method == "unmatched":
                unmatched = q_m
            median, worst, worst_name, defined = summary(seams)
            mean_q_m = statistics.fmean(q_m.values())
            delta = statistics.fmean(q_m[k] - unmatched[k] for k in q_m) if unmatched else math.nan
            print(f"{shift:9} {method:11} {median:8.3f} {worst:8.3f}  {worst_name:11} {defined:4d}/{len(items)} "
                  f"{mean_q_m:7.3f} {delta:+7.3f}", flush=True)
    if args.crops is not None:
        ranked = sorted((v, k) for (m, k), v in crop_seams.items() if m == CROP_RANK_BY and not math.isnan(v))
        worst_two = [k for _, k in ranked[::-1][:2]]
        crops_figure(worst_two, crop_pairs, crop_fused, crop_seams, args.crops)
        print(f"\nwrote {args.crops}: {', '.join(worst_two)} at {CROP_SHIFT}, {' | '.join(CROP_PANELS)}")


if __name__ == "__main__":
    main()
