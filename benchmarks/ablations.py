"""The ablation table: runs trained with the same budget, scored on synthetic and real pairs.

Each run folder (from ``gacn train``) holds ``best.safetensors``; a run trained ``--no-se`` is
recognised from its weights. Every variant is scored with the plain ``GACN.forward`` (the lean
path needs the SE blocks), with the boundary guided filter, and the full-method run once more
without it (BGF off is an inference-time switch). Columns:

* decision-map accuracy on held-out synthetic pairs (256x256, fixed seed): BSDS ``val`` photos
  with the training mix, and photos that ship with scikit-image (not in BSDS500);
* Q_G, Q_CB, Q_M means on the Lytro pairs.

Usage: python benchmarks/ablations.py NAME=RUN_DIR [NAME=RUN_DIR ...] [--data ../shared/data] [--pairs 30]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import skimage.data
import torch
from safetensors.torch import load_file

from gacn import metrics
from gacn.io import from_float, read_image, to_float, to_gray_float
from gacn.metrics import map_accuracy
from gacn.model.network import GACN
from gacn.training.synthesis import Photo, SynthesisConfig, load_bsds, make_pair

REPO = Path(__file__).resolve().parents[1]
OUTSIDE = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera")
LYTRO_METRICS = ("Q_G", "Q_CB", "Q_M")


def load_run(path: Path) -> GACN:
    """The best weights of a run, in a model with or without SE blocks as they were trained."""
    state = load_file(str(path / "best.safetensors"))
    model = GACN(se=any(".fc1." in k for k in state))
    model.load_state_dict(state)
    return model.eval()


def decision(model: GACN, a: np.ndarray, b: np.ndarray, bgf: bool) -> np.ndarray:
    """Decision map of a gray or colour pair with the plain forward pass."""
    ga = torch.from_numpy(to_gray_float(a))[None, None]
    gb = torch.from_numpy(to_gray_float(b))[None, None]
    with torch.inference_mode():
        out = model(ga, gb, bgf=bgf)
    return out.decision[0, 0].numpy()


def synthetic_accuracy(model: GACN, photos: list[Photo], n: int, bgf: bool) -> float:
    """Mean decision accuracy on ``n`` fixed pairs."""
    rng = np.random.default_rng(2024)
    cfg = SynthesisConfig(size=256, scale=(1.0, 1.0))
    scores = []
    for _ in range(n):
        a, b, m = make_pair(rng, photos, cfg)
        scores.append(map_accuracy(decision(model, a, b, bgf), m))
    return float(np.mean(scores))


def lytro_scores(model: GACN, pairs: list[tuple[np.ndarray, np.ndarray]], bgf: bool) -> dict[str, float]:
    """Mean Q_G, Q_CB, Q_M over the Lytro pairs."""
    rows = []
    for a, b in pairs:
        d = decision(model, a, b, bgf)[..., None]
        fused = from_float(d * to_float(a) + (1.0 - d) * to_float(b), a.dtype)
        s = metrics.compute(a, b, fused, LYTRO_METRICS)
        rows.append([s[k] for k in LYTRO_METRICS])
    return dict(zip(LYTRO_METRICS, np.mean(rows, axis=0).tolist()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR; the first is the full method")
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    val = load_bsds(args.data, "val")
    outside = [Photo(to_gray_float(getattr(skimage.data, name)()), None) for name in OUTSIDE]
    lytro_dir = Path(args.data) / "pairs" / "lytro"
    pairs = [(read_image(p), read_image(p.with_name(p.name.replace("_1.", "_2."))))
             for p in sorted(lytro_dir.glob("*_1.*"))]
    variants = []
    for i, spec in enumerate(args.runs):
        name, run = spec.split("=", 1)
        variants.append((name, Path(run), True))
        if i == 0:
            variants.append((f"{name}, BGF off", Path(run), False))
    print("| variant | steps | BSDS val acc | outside acc | Q_G | Q_CB | Q_M |\n|---|---|---|---|---|---|---|")
    for name, run, bgf in variants:
        model = load_run(run)
        best = json.loads((run / "best.json").read_text())
        acc_val = synthetic_accuracy(model, val, args.pairs, bgf)
        acc_out = synthetic_accuracy(model, outside, args.pairs, bgf)
        q = lytro_scores(model, pairs, bgf)
        print(f"| {name} | {best['step']} | {acc_val:.4f} | {acc_out:.4f} | {q['Q_G']:.4f} | {q['Q_CB']:.4f} | "
              f"{q['Q_M']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
