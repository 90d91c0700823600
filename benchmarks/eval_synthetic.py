"""Decision-map accuracy and IoU on held-out synthetic pairs, for the network and the naive rule.

Pairs are made from the BSDS500 ``val`` photos (never trained on) with the training synthesiser:
the full mix (method recipe + occlusion-correct defocus, Gaussian and disc blur) and the reference
recipe alone (Gaussian sigma 2, photos shrunk as by the reference's resize to 256x256); and from photos that ship with scikit-image (not in BSDS500).

Usage: python benchmarks/eval_synthetic.py [--weights W] [--data ../shared/data] [--pairs 200] [--size 128]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import skimage.data
import torch

from gacn.baselines import laplacian_energy_selection
from gacn.fusion.pair import fuse_pair
from gacn.io import to_gray_float
from gacn.metrics import map_accuracy, map_iou
from gacn.model import load_model
from gacn.training.synthesis import Photo, SynthesisConfig, load_bsds, make_pair

REPO = Path(__file__).resolve().parents[1]
OUTSIDE = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera")


def score(model: torch.nn.Module, photos: list[Photo], cfg: SynthesisConfig, n: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    acc, iou, naive = [], [], []
    for _ in range(n):
        a, b, m = make_pair(rng, photos, cfg)
        d = fuse_pair(a, b, model=model).decision_map
        acc.append(map_accuracy(d, m))
        iou.append(map_iou(d, m))
        naive.append(map_accuracy(laplacian_energy_selection(a, b).decision_map, m))
    return {"acc": float(np.mean(acc)), "iou": float(np.mean(iou)), "naive_acc": float(np.mean(naive))}


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
        "BSDS val, reference recipe": (
            load_bsds(args.data, "val"),
            SynthesisConfig(size=args.size, occlusion_prob=0.0, disc_prob=0.0, gauss_sigma=(2.0, 2.0),
                            scale=(256 / 481, 256 / 321))),
        "scikit-image photos, training mix": (outside, SynthesisConfig(size=args.size)),
    }
    print(f"{'set':42} {'pairs':>5} {'acc':>7} {'IoU':>7} {'naive acc':>9}")
    for name, (photos, cfg) in sets.items():
        s = score(model, photos, cfg, args.pairs, seed=2024)
        print(f"{name:42} {args.pairs:5d} {s['acc']:7.4f} {s['iou']:7.4f} {s['naive_acc']:9.4f}")


if __name__ == "__main__":
    main()
