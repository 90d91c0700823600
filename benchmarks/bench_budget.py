"""What the fast path's network budget buys at each image size: pairs with a known truth, upscaled.

The fast path (:mod:`gacn.fusion.cascade`) lets the cheap focus measure decide where it is clear
and spends the network on the uncertain pixels, at most :func:`gacn.fusion.cascade.network_budget`
per fusion (margins included; a pair spends it on its densest tiles). Whether that cap should
shrink with the image size depends on what the network still buys on a big photo, which this
benchmark measures.

A big photo is modelled as the same scene on a finer pixel grid: each pair is generated at the
base size (the ``synthetic`` and ``halo`` sets of :mod:`gacn.evaluation.datasets`, two synthetic
pairs to one halo scene) and its sources, all-in-focus truth and truth map are upscaled by the
same factor (bicubic for the images; bilinear and a 0.5 threshold for the map), so that blur
widths, object sizes and focus boundaries grow with the resolution. The same scenes are used at
every size, so the sizes differ only by the grid.

For each size and budget (MP of network work; ``all`` lifts the cap) the means over the pairs of:
the decision map's accuracy against the truth map over all pixels and within a band of
``--band`` times the image side around the true focus boundary; the fused image's PSNR against
the truth, over all pixels and in that band; the change of PSNR against the first budget of the
list (measured in the same run, pair by pair; ``0``, the cheap measure alone, by default); the MP
the network actually computed (its share of the image times the image's pixels); and the median
seconds of one fusion (in process, indicative only on a loaded machine).

With ``--coarse MP``, one more row per size larger than that: the fast path with the default
budget on the pair shrunk to about ``MP`` (area interpolation), its map enlarged back (bilinear)
and the full-size sources blended with it: what deciding at a fixed working resolution buys
instead of a budget of tiles. (On these pairs shrinking undoes part of the upscaling, which
favours it; the ``--coarse`` size is best kept off the base size.)

With ``--native R``, the pairs are native-detail pairs instead (:mod:`gacn.evaluation.native`:
BSDS500 ``test`` photos tiled at their own resolution in two depth layers, occlusion-correct disc
defocus of radius R px, one seed per pair, cached on disk): square frames of each size whose
every pixel is real detail, with blur widths in pixels that do not grow with the size.

Usage: python benchmarks/bench_budget.py [--sizes 0.3,1.5,6,24] [--budgets 0,0.1,0.25,0.5,1,1.5]
       [--pairs 6,6,6,3] [--base 548] [--band 0.02] [--coarse 1.5] [--native 20]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from unittest import mock

import cv2
import numpy as np
from eval_synthetic import boundary_distance

import gacn
from gacn.evaluation.datasets import Item, halo_set, synthetic_set
from gacn.evaluation.native import native_pair
from gacn.fusion import cascade, coarse
from gacn.fusion.pair import mix
from gacn.metrics import map_accuracy, psnr


@dataclass
class Score:
    """One fusion's figures (see the module docstring)."""

    accuracy: float
    band_accuracy: float
    psnr: float
    band_psnr: float
    network_mp: float
    seconds: float


def scenes(count: int, base: int) -> list[Item]:
    """``count`` pairs of side ``base`` with their truth: synthetic pairs and halo scenes
    interleaved (every third a halo scene), so that any first few hold both kinds."""
    n_halo = count // 3
    synthetic = synthetic_set(count - n_halo, base).items
    halo = halo_set(n_halo, base).items
    return [halo.pop(0) if i % 3 == 1 and halo else synthetic.pop(0) for i in range(count)]


def upscale(item: Item, side: int) -> Item:
    """``item`` on a grid of ``side`` x ``side`` pixels: the same scene, finer pixels."""
    if item.sources[0].shape[0] == side:
        return item
    size = (side, side)
    sources = [cv2.resize(s, size, interpolation=cv2.INTER_CUBIC) for s in item.sources]
    truth = cv2.resize(item.truth, size, interpolation=cv2.INTER_CUBIC)
    mask = (cv2.resize(item.truth_mask, size, interpolation=cv2.INTER_LINEAR) >= 0.5).astype(np.float32)
    return Item(item.name, sources, truth, mask)


def native_items(side: int, count: int, radius: float) -> Iterator[Item]:
    """``count`` native-detail pairs of ``side`` x ``side`` px and disc radius ``radius``, one at a time."""
    for seed in range(count):
        pair = native_pair((side, side), radius, seed)
        yield Item(f"native{side}-r{radius:g}-s{seed}", pair.frames, pair.truth, pair.mask.astype(np.float32))


def fuse_scored(item: Item, budget: float, band: np.ndarray) -> Score:
    """Fuse ``item`` on the fast path with a network budget of ``budget`` pixels and score it."""
    result, network_mp, seconds = _fast(item.sources, budget)
    return scored(item, band, result.decision_map, result.image, network_mp, seconds)


def _fast(sources: list[np.ndarray], budget: float) -> tuple[gacn.FusionResult, float, float]:
    """The fast path's fusion of ``sources`` with a network budget of ``budget`` pixels, the MP
    the network computed, and its seconds."""
    decide, returned = coarse.decide_stack, []
    spy = mock.Mock(side_effect=lambda *a, **k: returned.append(decide(*a, **k)) or returned[-1])
    with (mock.patch.object(coarse, "decide_stack", spy), mock.patch.object(coarse, "COARSE_FROM", 10**12),
          mock.patch.object(cascade, "network_budget", lambda pixels: budget)):
        start = time.perf_counter()
        result = gacn.fuse(sources, method="fast")
        seconds = time.perf_counter() - start
    share = float(returned[0]["share"])
    return result, share * sources[0].shape[0] * sources[0].shape[1] / 1e6, seconds


def coarse_scored(item: Item, mp: float, band: np.ndarray) -> Score:
    """Decide ``item`` on the fast path (default budget) shrunk to about ``mp`` MP, blend the
    full-size sources with the enlarged map, and score it."""
    side = item.truth_mask.shape[0]
    small = round(math.sqrt(mp * 1e6))
    start = time.perf_counter()
    result, network_mp, _ = _fast([cv2.resize(s, (small, small), interpolation=cv2.INTER_AREA)
                                   for s in item.sources], cascade.network_budget(small * small))
    weight = cv2.resize(result.decision_map, (side, side), interpolation=cv2.INTER_LINEAR)
    image = mix(item.sources[0], item.sources[1], weight)
    return scored(item, band, weight, image, network_mp, time.perf_counter() - start)


def scored(item: Item, band: np.ndarray, decision: np.ndarray, image: np.ndarray, network_mp: float,
           seconds: float) -> Score:
    """The figures of one fused ``image`` with its ``decision`` map (weight of source 1)."""
    return Score(accuracy=map_accuracy(decision, item.truth_mask),
                 band_accuracy=map_accuracy(decision[band], item.truth_mask[band]),
                 psnr=psnr(image, item.truth), band_psnr=psnr(image[band], item.truth[band]),
                 network_mp=network_mp, seconds=seconds)


def parse_budget(text: str) -> float:
    """A budget in MP (``all``: no cap) as pixels."""
    return math.inf if text == "all" else float(text) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0.3,1.5,6,24", help="image sizes in MP (square pairs)")
    parser.add_argument("--budgets", default="0,0.1,0.25,0.5,1,1.5",
                        help="network budgets in MP ('all': no cap); the first is the baseline of dPSNR")
    parser.add_argument("--pairs", default="6,6,6,3", help="pairs per size (one number for all sizes)")
    parser.add_argument("--base", type=int, default=548, help="side of the generated pairs before upscaling")
    parser.add_argument("--band", type=float, default=0.02,
                        help="half-width of the boundary band, as a share of the image side")
    parser.add_argument("--coarse", type=float, default=0.0,
                        help="also decide on the pair shrunk to this many MP (0: not)")
    parser.add_argument("--native", type=float, default=0.0,
                        help="native-detail pairs with this disc radius (px) instead of upscaled ones (0: not)")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    budgets = args.budgets.split(",")
    counts = [int(p) for p in args.pairs.split(",")]
    counts = counts * len(sizes) if len(counts) == 1 else counts
    if len(counts) != len(sizes):
        parser.error("--pairs: one number, or one per size")
    items = [] if args.native else scenes(max(counts), args.base)
    warm = items[0].sources if items else native_pair((256, 256), args.native, 0).frames
    gacn.fuse(warm, method="fast")  # warm-up: the model loaded once
    print(f"default budget {cascade.network_budget(0) / 1e6:g} MP up to "
          f"{cascade.FULL_BUDGET_FRAME / 1e6:g} MP frames, {cascade.network_budget(10**9) / 1e6:g} MP from "
          f"{cascade.LARGE_FRAME / 1e6:g} MP; "
          f"{f'native pairs, disc radius {args.native:g} px' if args.native else f'base {args.base} px'}; "
          f"band +-{args.band:g} x side around the true focus boundary")
    print(f"{'size':>12}{'pairs':>6}{'budget':>8}{'acc':>9}{'acc band':>9}{'PSNR':>8}{'PSNR bd':>8}"
          f"{'dPSNR':>8}{'dPSNR bd':>9}{'net MP':>8}{'s':>7}", flush=True)
    for mp, count in zip(sizes, counts):
        side = round(math.sqrt(mp * 1e6))
        scores: dict[str, list[Score]] = {b: [] for b in budgets}
        pairs = native_items(side, count, args.native) if args.native else (upscale(i, side) for i in items[:count])
        for big in pairs:
            band = boundary_distance(big.truth_mask) <= args.band * side
            for b in budgets:
                scores[b].append(fuse_scored(big, parse_budget(b), band))
            if 0 < args.coarse < mp:
                scores.setdefault(f"c{args.coarse:g}", []).append(coarse_scored(big, args.coarse, band))
            del big, band
        base = scores[budgets[0]]
        for b, rows in scores.items():
            mean = lambda f: statistics.fmean(f(r) for r in rows)  # noqa: E731
            gain = statistics.fmean(r.psnr - r0.psnr for r, r0 in zip(rows, base))
            band_gain = statistics.fmean(r.band_psnr - r0.band_psnr for r, r0 in zip(rows, base))
            print(f"{side:>5}x{side:<5} {count:>5}{b:>8}{mean(lambda r: r.accuracy):9.4f}"
                  f"{mean(lambda r: r.band_accuracy):9.4f}{mean(lambda r: r.psnr):8.2f}"
                  f"{mean(lambda r: r.band_psnr):8.2f}{gain:8.2f}{band_gain:9.2f}"
                  f"{mean(lambda r: r.network_mp):8.3f}{statistics.median(r.seconds for r in rows):7.1f}", flush=True)


if __name__ == "__main__":
    main()
