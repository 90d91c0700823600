"""Decision-map accuracy and IoU on held-out synthetic pairs, for the network and the naive rule.

Pairs are made from the BSDS500 ``val`` photos (never trained on) with the training synthesiser:
the full training mix (method recipe + occlusion-correct defocus, Gaussian and disc blur up to 15 px,
JPEG, thin structures, focus breathing) and the method's recipe with the method's augmentations
(``--recipe reference`` of ``gacn train``: Gaussian sigma 2, softened mask, photos shrunk as by the
reference's resize to 256x256, rotations, flips, +-2 px offsets, noise up to 0.01, swaps: the
held-out set of the Core issue), also with an exposure difference between the sources (half the
pairs, up to 15 % in log gain, as between the frames of a real stack); and from photos that ship
with scikit-image (not in BSDS500).

The network is scored with and without the boundary refinement (:mod:`gacn.fusion.refine`).

Accuracy is reported over all pixels and over the "decisive" pixels only, where the two sources
differ before noise is added (elsewhere, in flat areas or where the photo itself was out of focus,
both sources are the same picture, either choice gives the same fused pixel and the target cannot
be known: no method can beat a coin toss there, so ``1 - undecidable share / 2`` bounds the
all-pixel accuracy that a method without a lucky guess can reach). The noise-free twin of each pair
is made from the same random state with the noise switched off.

``--by-distance`` also prints the error rate of the network (with and without the refinement) by
distance to the true focus boundary: where the wrong pixels are.

Usage: python benchmarks/eval_synthetic.py [--weights W] [--refiner R] [--data ../shared/data] [--pairs 200] [--size 128]
       [--by-distance] [--sets mix,method,exposure,outside]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np
import skimage.data
import torch

from gacn.baselines import laplacian_energy_selection
from gacn.fusion.pair import fuse_pair
from gacn.io import to_gray_float
from gacn.metrics import map_accuracy, map_iou
from gacn.model import load_model
from gacn.model.refiner import BoundaryRefiner, load_refiner
from gacn.training.synthesis import Photo, SynthesisConfig, load_bsds, make_pair
from gacn.training.train import synthesis_config

REPO = Path(__file__).resolve().parents[1]
OUTSIDE = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera")


#: A pixel is "decisive" where the noise-free sources differ by more than this (7x7 mean absolute
#: difference, 0..1 scale, half a gray level): elsewhere either choice gives the same fused pixel.
DECISIVE = 0.5 / 255.0


def decisive_pixels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels where choosing the wrong noise-free source changes the fused image."""
    return cv2.blur(np.abs(a - b), (7, 7)) > DECISIVE


#: Distance bins (pixels from the true focus boundary) of ``--by-distance``.
BINS = (0, 1, 2, 3, 4, 6, 8, 12, 10**6)


def boundary_distance(mask: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the nearest pixel on the other side of the mask's boundary."""
    m = (mask > 0.5).astype(np.uint8)
    return np.where(m > 0, cv2.distanceTransform(m, cv2.DIST_L2, 3), cv2.distanceTransform(1 - m, cv2.DIST_L2, 3))


def score(model: torch.nn.Module, refiner: BoundaryRefiner, photos: list[Photo], cfg: SynthesisConfig, n: int,
          seed: int) -> tuple[dict[str, float], np.ndarray]:
    """Mean scores over ``n`` pairs, and per distance bin: pixel count, errors refined, errors not."""
    rng = np.random.default_rng(seed)
    by_distance = np.zeros((3, len(BINS) - 1))
    clean = dataclasses.replace(cfg, noise_std=(0.0, 0.0))
    rows = []
    for _ in range(n):
        twin = np.random.default_rng()
        twin.bit_generator.state = rng.bit_generator.state
        a0, b0, m0 = make_pair(twin, photos, clean)
        a, b, m = make_pair(rng, photos, cfg)
        assert np.array_equal(m0, m), "the noise-free twin must be the same pair"
        d = fuse_pair(a, b, model=model, refiner=refiner).decision_map
        plain = fuse_pair(a, b, model=model, refine=False).decision_map
        naive = laplacian_energy_selection(a, b).decision_map
        keep = decisive_pixels(a0, b0)
        rows.append((map_accuracy(d, m), map_iou(d, m), map_accuracy(plain, m), map_accuracy(naive, m),
                     map_accuracy(d[keep], m[keep]), map_accuracy(naive[keep], m[keep]), keep.mean()))
        bins = np.digitize(boundary_distance(m), BINS[1:-1]).ravel()
        for row, weight in enumerate((None, (d > 0.5) != (m > 0.5), (plain > 0.5) != (m > 0.5))):
            by_distance[row] += np.bincount(bins, None if weight is None else weight.ravel(), len(BINS) - 1)
    names = ("acc", "iou", "acc_no_refine", "naive_acc", "acc_decisive", "naive_acc_decisive", "decisive_share")
    return dict(zip(names, np.mean(rows, axis=0).tolist())), by_distance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--refiner", default=None, help="refiner weights (the shipped ones by default)")
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--by-distance", action="store_true", help="error rates by distance to the boundary")
    parser.add_argument("--sets", default="mix,method,exposure,outside",
                        help="comma-separated subset of: mix, method, exposure, outside")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.weights)
    refiner = load_refiner(args.refiner)
    outside = [Photo(to_gray_float(getattr(skimage.data, name)()), None) for name in OUTSIDE]
    val = load_bsds(args.data, "val")
    every = {
        "mix": ("BSDS val, training mix", val, SynthesisConfig(size=args.size)),
        "method": ("BSDS val, method recipe (156 px)", val, synthesis_config("reference", 156)),
        "exposure": ("BSDS val, method recipe, exposure differs", val,
                     dataclasses.replace(synthesis_config("reference", 156), exposure=0.15)),
        "outside": ("scikit-image photos, training mix", outside, SynthesisConfig(size=args.size)),
    }
    sets = {every[key][0]: every[key][1:] for key in args.sets.split(",")}
    print(f"{'set':42} {'pairs':>5} {'acc':>7} {'IoU':>7} {'no ref.':>7} {'naive':>7} | "
          f"{'decisive share':>14} {'acc':>7} {'naive':>7} | {'bound':>7}")
    tables = {}
    for name, (photos, cfg) in sets.items():
        s, tables[name] = score(model, refiner, photos, cfg, args.pairs, seed=2024)
        print(f"{name:42} {args.pairs:5d} {s['acc']:7.4f} {s['iou']:7.4f} {s['acc_no_refine']:7.4f} {s['naive_acc']:7.4f} | "
              f"{s['decisive_share']:14.3f} {s['acc_decisive']:7.4f} {s['naive_acc_decisive']:7.4f} | "
              f"{1.0 - (1.0 - s['decisive_share']) / 2.0:7.4f}")
    if args.by_distance:
        for name, (count, wrong, wrong_plain) in tables.items():
            print(f"\n{name}: error rate by distance to the true boundary (share of all wrong pixels)")
            print(f"{'distance px':>12} {'pixels':>7} {'refined':>16} {'no refinement':>16}")
            for k in range(len(BINS) - 1):
                top = f"{BINS[k + 1]}" if BINS[k + 1] < 10**6 else "inf"
                print(f"{f'[{BINS[k]}, {top})':>12} {count[k] / count.sum():7.3f} "
                      f"{wrong[k] / count[k]:8.3f} ({wrong[k] / wrong.sum():5.3f}) "
                      f"{wrong_plain[k] / count[k]:8.3f} ({wrong_plain[k] / wrong_plain.sum():5.3f})")


if __name__ == "__main__":
    main()
