"""Decision-map accuracy and IoU on held-out synthetic pairs, for the network and the naive rule.

Pairs are made from the BSDS500 ``val`` photos (never trained on) with the training synthesiser:
the full training mix (method recipe + occlusion-correct defocus, Gaussian and disc blur up to 15 px,
JPEG, thin structures, focus breathing) and the method's recipe with the method's augmentations
(``--recipe reference`` of ``gacn train``: Gaussian sigma 2, softened mask, photos shrunk as by the
reference's resize to 256x256, rotations, flips, +-2 px offsets, noise up to 0.01, swaps: the
held-out set of the Core issue); and from photos that ship with scikit-image (not in BSDS500).

The network is scored with and without the boundary refinement (:mod:`gacn.fusion.refine`).

Accuracy is reported over all pixels and over the "decisive" pixels only, where the two sources
differ before noise is added (elsewhere, in flat areas or where the photo itself was out of focus,
both sources are the same picture, either choice gives the same fused pixel and the target cannot
be known: no method can beat a coin toss there, so ``1 - undecidable share / 2`` bounds the
all-pixel accuracy that a method without a lucky guess can reach). The noise-free twin of each pair
is made from the same random state with the noise switched off.

Usage: python benchmarks/eval_synthetic.py [--weights W] [--data ../shared/data] [--pairs 200] [--size 128]
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


def score(model: torch.nn.Module, photos: list[Photo], cfg: SynthesisConfig, n: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    clean = dataclasses.replace(cfg, noise_std=(0.0, 0.0))
    rows = []
    for _ in range(n):
        twin = np.random.default_rng()
        twin.bit_generator.state = rng.bit_generator.state
        a0, b0, m0 = make_pair(twin, photos, clean)
        a, b, m = make_pair(rng, photos, cfg)
        assert np.array_equal(m0, m), "the noise-free twin must be the same pair"
        d = fuse_pair(a, b, model=model).decision_map
        plain = fuse_pair(a, b, model=model, refine=False).decision_map
        naive = laplacian_energy_selection(a, b).decision_map
        keep = decisive_pixels(a0, b0)
        rows.append((map_accuracy(d, m), map_iou(d, m), map_accuracy(plain, m), map_accuracy(naive, m),
                     map_accuracy(d[keep], m[keep]), map_accuracy(naive[keep], m[keep]), keep.mean()))
    names = ("acc", "iou", "acc_no_refine", "naive_acc", "acc_decisive", "naive_acc_decisive", "decisive_share")
    return dict(zip(names, np.mean(rows, axis=0).tolist()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.weights)
    outside = [Photo(to_gray_float(getattr(skimage.data, name)()), None) for name in OUTSIDE]
    sets = {
        "BSDS val, training mix": (load_bsds(args.data, "val"), SynthesisConfig(size=args.size)),
        "BSDS val, method recipe (156 px)": (load_bsds(args.data, "val"), synthesis_config("reference", 156)),
        "scikit-image photos, training mix": (outside, SynthesisConfig(size=args.size)),
    }
    print(f"{'set':42} {'pairs':>5} {'acc':>7} {'IoU':>7} {'no ref.':>7} {'naive':>7} | "
          f"{'decisive share':>14} {'acc':>7} {'naive':>7} | {'bound':>7}")
    for name, (photos, cfg) in sets.items():
        s = score(model, photos, cfg, args.pairs, seed=2024)
        print(f"{name:42} {args.pairs:5d} {s['acc']:7.4f} {s['iou']:7.4f} {s['acc_no_refine']:7.4f} {s['naive_acc']:7.4f} | "
              f"{s['decisive_share']:14.3f} {s['acc_decisive']:7.4f} {s['naive_acc_decisive']:7.4f} | "
              f"{1.0 - (1.0 - s['decisive_share']) / 2.0:7.4f}")


if __name__ == "__main__":
    main()
