"""The boundary refinement (gacn.fusion.refine) on and off, on the benchmark's datasets.

For each dataset, the means over its items of the scores the report uses: map accuracy on the
synthetic pairs (ground-truth masks), band PSNR around bright defocused foregrounds on the halo
scenes, and Q_G / Q_CB / Q_M on the Lytro pairs. The naive Laplacian-energy rule is scored beside
them as the floor.

``--sharpness 1,3,inf`` also scores the refined map at other factors on the refiner's logit
(:data:`gacn.model.refiner.SHARPNESS`; ``inf``: a hard map).

Usage: python benchmarks/bench_refine.py [--weights W] [--refiner R] [--sharpness S,...] [--data ../shared/data]
       [--datasets synthetic,halo,lytro]
"""

from __future__ import annotations

import argparse
import os
from functools import partial
from pathlib import Path

import numpy as np
import torch

from gacn.baselines import laplacian_energy_selection
from gacn.evaluation.datasets import load_dataset
from gacn.evaluation.scoring import score
from gacn.fusion.pair import fuse_pair
from gacn.model import load_model
from gacn.model.refiner import load_refiner

REPO = Path(__file__).resolve().parents[1]
COLUMNS = {"synthetic": ["map_acc", "PSNR", "Q_G"], "halo": ["band_PSNR", "map_acc", "PSNR"],
           "lytro": ["Q_G", "Q_CB", "Q_M"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--refiner", default=None, help="refiner weights (the shipped ones by default)")
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--datasets", default="synthetic,halo,lytro")
    parser.add_argument("--sharpness", default="", help="comma-separated factors to score besides the shipped one")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.weights)
    refiner = load_refiner(args.refiner)
    methods = {
        "gacn (refined)": lambda a, b: fuse_pair(a, b, model=model, refiner=refiner),
        "gacn (no refinement)": lambda a, b: fuse_pair(a, b, model=model, refine=False),
        "naive-laplacian": laplacian_energy_selection,
    }
    for text in filter(None, args.sharpness.split(",")):
        variant = load_refiner(args.refiner)
        variant.sharpness = float(text)
        methods[f"gacn (sharpness {text})"] = partial(fuse_pair, model=model, refiner=variant)
    for name in args.datasets.split(","):
        data = load_dataset(name, args.data)
        columns = COLUMNS[name]
        print(f"\n{name} ({len(data.items)} items)")
        print(f"{'method':24}" + "".join(f"{c:>11}" for c in columns))
        for method, fn in methods.items():
            rows = []
            for item in data.items:
                result = fn(*item.sources)
                rows.append(score(item, result.image, result.decision_map, columns))
            print(f"{method:24}" + "".join(f"{np.mean([r[c] for r in rows]):11.4f}" for c in columns), flush=True)


if __name__ == "__main__":
    main()
