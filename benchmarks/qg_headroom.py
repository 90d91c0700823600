"""How much Q_G a decision map can buy on the Lytro pairs: the metric optimised directly.

The Quality issue asks for a Lytro-20 mean Q_G of 0.735. Every good decision map scores close
to 0.727 there (the original GACN 0.7268, the naive rule 0.7262, ours 0.7276), so this script
asks what the best blend of the two sources *could* score, by letting an optimiser that sees the
metric choose the per-pixel weight. Starting from the shipped ``gacn.fuse`` map, Adam maximises
a differentiable copy of Q_G (``gacn.metrics.q_g``: Sobel, sigmoids, per-pixel normalised mean)
over the logits of the weight map, minus ``lam`` times the map's total variation:

* ``lam = 0``: any per-pixel weight. The optimum is speckle: pixel-level mixing of the two
  sources inside the regions, which no photographer would call a better fusion. This bounds
  what a blend of the two sources can score at all.
* ``lam > 0``: the map must stay clean; then binarised and given a 9x9 median, like the
  decision maps of real methods. This is a ceiling for clean maps chosen with the metric's help,
  which no real method has.

Each map blends the colour sources into an 8-bit image, scored with the exact metrics
(``gacn.metrics``: Q_G and Q_CB) as the benchmark scores a saved fusion. The optimisation is
a local one from our map, so the figures are lower bounds on the ceilings, not the ceilings.

Usage: python benchmarks/qg_headroom.py [--data ../shared/data] [--pairs 20] [--lam 0,3] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as tf
from scipy import ndimage

import gacn
from gacn.io import read_image
from gacn.metrics import q_cb, q_g, to_gray

REPO = Path(__file__).resolve().parents[1]
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=torch.float64)


def _gradient(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel magnitude and atan(gy/gx) orientation, zero padding, as ``gacn.metrics.features``."""
    x = x[None, None]
    gx = tf.conv2d(x, SOBEL_X[None, None], padding=1)[0, 0]
    gy = tf.conv2d(x, SOBEL_X.T[None, None], padding=1)[0, 0]
    magnitude = torch.sqrt(gx * gx + gy * gy + 1e-12)
    gx = torch.where(gx.abs() < 1e-5, torch.full_like(gx, 1e-5), gx)
    return magnitude, torch.atan(gy / gx)


def _preservation(g_src: torch.Tensor, a_src: torch.Tensor, g_f: torch.Tensor, a_f: torch.Tensor) -> torch.Tensor:
    ratio = torch.where(g_src > g_f, g_f / g_src.clamp_min(1e-5), g_src.clamp_min(1e-5) / g_f.clamp_min(1e-5))
    angle = torch.abs(torch.abs(a_src - a_f) - np.pi / 2) * 2 / np.pi
    return torch.sigmoid(10.0 * (ratio - 0.5)) * torch.sigmoid(20.0 * (angle - 0.75))


def soft_q_g(a: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Differentiable Q_G of ``f`` fusing gray ``a`` and ``b`` (0..255)."""
    g_a, o_a = _gradient(a)
    g_b, o_b = _gradient(b)
    g_f, o_f = _gradient(f)
    w_a, w_b = g_a.clamp_min(1e-5), g_b.clamp_min(1e-5)
    return ((_preservation(g_a, o_a, g_f, o_f) * w_a + _preservation(g_b, o_b, g_f, o_f) * w_b) / (w_a + w_b)).mean()


def optimise(a: np.ndarray, b: np.ndarray, start: np.ndarray, lam: float, steps: int) -> np.ndarray:
    """The weight map (of ``a``) that maximises soft Q_G minus ``lam`` x total variation."""
    at, bt = torch.from_numpy(a), torch.from_numpy(b)
    start = np.clip(start.astype(np.float64), 1e-3, 1 - 1e-3)
    logit = torch.tensor(np.log(start / (1 - start)), requires_grad=True)
    opt = torch.optim.Adam([logit], lr=0.3)
    for _ in range(steps):
        w = torch.sigmoid(logit)
        tv = (w[1:] - w[:-1]).abs().mean() + (w[:, 1:] - w[:, :-1]).abs().mean()
        loss = -soft_q_g(at, bt, w * at + (1 - w) * bt) + lam * tv
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.sigmoid(logit).detach().numpy()


def fused_gray(src_a: np.ndarray, src_b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The gray of the 8-bit colour blend with ``weight`` on ``src_a``, as the benchmark scores
    a saved fusion (Q_G reacts to float rounding in flat areas: scoring unrounded blends would
    move it by about 0.001)."""
    w = weight[..., None]
    return to_gray(np.clip(np.round(w * src_a + (1 - w) * src_b), 0, 255).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--lam", default="0,3", help="comma-separated total-variation weights")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lams = [float(x) for x in args.lam.split(",")]
    folder = Path(args.data) / "pairs" / "lytro"
    rows = []
    print(f"{'pair':8} {'gacn Q_G':>9} {'Q_CB':>7} | " + " | ".join(f"lam {lam:g}: Q_G  Q_CB  soft%" for lam in lams))
    for i in range(1, args.pairs + 1):
        src_a = read_image(folder / f"lytro_{i:02d}_1.png")
        src_b = read_image(folder / f"lytro_{i:02d}_2.png")
        a, b = to_gray(src_a), to_gray(src_b)
        ours = gacn.fuse([src_a, src_b]).decision_map
        row = [q_g(a, b, fused_gray(src_a, src_b, ours)), q_cb(a, b, fused_gray(src_a, src_b, ours))]
        for lam in lams:
            w = optimise(a, b, ours, lam, args.steps)
            soft = float(np.mean((w > 0.05) & (w < 0.95)))
            if lam > 0:
                w = ndimage.median_filter((w > 0.5).astype(np.float64), 9)
            f = fused_gray(src_a, src_b, w)
            row += [q_g(a, b, f), q_cb(a, b, f), soft]
        rows.append(row)
        print(f"lytro_{i:02d} {row[0]:9.4f} {row[1]:7.4f} | "
              + " | ".join(f"{row[2 + 3 * k]:.4f} {row[3 + 3 * k]:.4f} {100 * row[4 + 3 * k]:4.1f}" for k in range(len(lams))),
              flush=True)
    mean = np.mean(rows, axis=0)
    print(f"{'mean':8} {mean[0]:9.4f} {mean[1]:7.4f} | "
          + " | ".join(f"{mean[2 + 3 * k]:.4f} {mean[3 + 3 * k]:.4f} {100 * mean[4 + 3 * k]:4.1f}" for k in range(len(lams))))


if __name__ == "__main__":
    main()
