"""How much Q_G, Q_M or Q_CB a decision map can buy on the Lytro pairs: the metric optimised directly.

The Quality issue asks for Lytro-20 means of Q_G 0.735, Q_M 2.66 and Q_CB 0.815. Every good
decision map scores close to each other there (Q_G: the original GACN 0.7268, the naive rule
0.7262, ours 0.7276), so this script asks what the best blend of the two sources *could* score,
by letting an optimiser that sees the metric choose the per-pixel weight. Starting from the
shipped ``gacn.fuse`` map, Adam maximises a differentiable copy of the ``--metric``
(``gacn.metrics``: Q_G with its Sobel gradients and sigmoids; Q_M with its Haar bands; Q_CB with
its CSF and local contrasts, its rounding passed straight through) over the logits of the
weight map, minus ``lam`` times the map's total variation:

* ``lam = 0``: any per-pixel weight. The optimum is speckle: pixel-level mixing of the two
  sources inside the regions, which no photographer would call a better fusion. This bounds
  what a blend of the two sources can score at all.
* ``lam > 0``: the map must stay clean; then binarised and given a 9x9 median, like the
  decision maps of real methods. This is a ceiling for clean maps chosen with the metric's help,
  which no real method has.

Each map blends the colour sources into an 8-bit image, scored with the exact metrics (Q_G, Q_M,
Q_CB) as the benchmark scores a saved fusion. The optimisation is a local one from our map, so
the figures are lower bounds on the ceilings, not the ceilings.

Usage: python benchmarks/headroom.py [--metric Q_G] [--data ../shared/data] [--pairs 20] [--lam 0,3] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as tf
from scipy import ndimage

import gacn
from gacn.io import read_image
from gacn.metrics import q_cb, q_g, q_m, to_gray
from gacn.metrics.perception import _csf_half

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


def soft_q_g(a: torch.Tensor, b: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Differentiable Q_G of a fusion of gray ``a`` and ``b`` (0..255), as a function of it."""
    g_a, o_a = _gradient(a)
    g_b, o_b = _gradient(b)
    w_a, w_b = g_a.clamp_min(1e-5), g_b.clamp_min(1e-5)

    def value(f: torch.Tensor) -> torch.Tensor:
        g_f, o_f = _gradient(f)
        return ((_preservation(g_a, o_a, g_f, o_f) * w_a + _preservation(g_b, o_b, g_f, o_f) * w_b) / (w_a + w_b)).mean()

    return value


def _haar(x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    h, w = x.shape
    x = x[: h - h % 2, : w - w % 2]
    p, q, r, t = x[0::2, 0::2], x[0::2, 1::2], x[1::2, 0::2], x[1::2, 1::2]
    return (p + q + r + t) / 2, ((p - q + r - t) / 2, (p + q - r - t) / 2, (p - q - r + t) / 2)


def soft_q_m(a: torch.Tensor, b: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Differentiable Q_M (``gacn.metrics.q_m``: two Haar levels, exp(-|difference|))."""

    def value(f: torch.Tensor) -> torch.Tensor:
        x, y, qs = a, b, []
        for _ in range(2):
            x, bands_a = _haar(x)
            y, bands_b = _haar(y)
            f, bands_f = _haar(f)
            w_a = sum(t * t for t in bands_a)
            w_b = sum(t * t for t in bands_b)
            ep_a = sum(torch.exp(-(s - t).abs()) for s, t in zip(bands_a, bands_f))
            ep_b = sum(torch.exp(-(s - t).abs()) for s, t in zip(bands_b, bands_f))
            qs.append((ep_a * w_a + ep_b * w_b).sum() / (w_a + w_b).sum())
        return qs[0] ** (2 / 3) * qs[1] ** (1 / 3)

    return value


def _gauss31(x: torch.Tensor, sigma: float) -> torch.Tensor:
    k = torch.exp(-torch.arange(-15.0, 16.0, dtype=torch.float64) ** 2 / (2 * sigma * sigma))
    x = tf.conv2d(x[None, None], k.view(1, 1, 31, 1), padding=(15, 0))
    return tf.conv2d(x, k.view(1, 1, 1, 31), padding=(0, 15))[0, 0] / (2 * np.pi * sigma * sigma)


def _masked_contrast(x: torch.Tensor) -> torch.Tensor:
    x = (x - x.min()) / (x.max() - x.min()) * 255.0
    x = x + (torch.floor(x + 0.5) - x).detach()  # the stretch rounds; gradients pass straight through
    csf = torch.from_numpy(_csf_half(*x.shape, "dog").copy())
    filtered = torch.fft.irfft2(torch.fft.rfft2(x) * csf, s=x.shape)
    wide = _gauss31(filtered, 4.0)
    wide = torch.where(wide.abs() < 1e-6, torch.full_like(wide, 1e-6), wide)
    c = (_gauss31(filtered, 2.0) / wide - 1.0).abs()
    return c**3 / (c**2 + 1e-4)


def soft_q_cb(a: torch.Tensor, b: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Differentiable Q_CB (``gacn.metrics.q_cb``; the rounding of the stretch passes gradients straight through)."""
    c_a, c_b = _masked_contrast(a), _masked_contrast(b)
    den = (c_a * c_a + c_b * c_b).clamp_min(1e-12)

    def value(f: torch.Tensor) -> torch.Tensor:
        c_f = _masked_contrast(f)
        ratio = lambda x: torch.minimum(x, c_f) / torch.maximum(x, c_f).clamp_min(1e-12)
        return ((c_a * c_a * ratio(c_a) + c_b * c_b * ratio(c_b)) / den).mean()

    return value


#: The metrics this script can optimise: differentiable copy, exact metric, nominal range.
METRICS = {"Q_G": (soft_q_g, q_g, 1.0), "Q_M": (soft_q_m, q_m, 3.0), "Q_CB": (soft_q_cb, q_cb, 1.0)}


def optimise(a: np.ndarray, b: np.ndarray, start: np.ndarray, metric: str, lam: float, steps: int) -> np.ndarray:
    """The weight map (of ``a``) that maximises the differentiable ``metric`` (divided by its
    nominal range) minus ``lam`` x total variation."""
    make, _, scale = METRICS[metric]
    at, bt = torch.from_numpy(a), torch.from_numpy(b)
    soft = make(at, bt)
    start = np.clip(start.astype(np.float64), 1e-3, 1 - 1e-3)
    logit = torch.tensor(np.log(start / (1 - start)), requires_grad=True)
    opt = torch.optim.Adam([logit], lr=0.3)
    for _ in range(steps):
        w = torch.sigmoid(logit)
        tv = (w[1:] - w[:-1]).abs().mean() + (w[:, 1:] - w[:, :-1]).abs().mean()
        loss = -soft(w * at + (1 - w) * bt) / scale + lam * tv
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
    parser.add_argument("--metric", default="Q_G", choices=sorted(METRICS))
    parser.add_argument("--lam", default="0,3", help="comma-separated total-variation weights")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lams = [float(x) for x in args.lam.split(",")]
    exact = {name: METRICS[name][1] for name in ("Q_G", "Q_M", "Q_CB")}
    folder = Path(args.data) / "pairs" / "lytro"
    rows = []
    cells = " ".join(f"{name:>6}" for name in exact)
    print(f"optimised metric: {args.metric}")
    print(f"{'pair':8} ours: {cells} | " + " | ".join(f"lam {lam:g}: {cells}  soft%" for lam in lams))
    line = lambda label, r: (f"{label:8} " + " ".join(f"{x:6.4f}" for x in r[:3]) + " | "
                             + " | ".join(" ".join(f"{x:6.4f}" for x in r[3 + 4 * k: 6 + 4 * k]) + f" {100 * r[6 + 4 * k]:5.1f}"
                                          for k in range(len(lams))))
    for i in range(1, args.pairs + 1):
        src_a = read_image(folder / f"lytro_{i:02d}_1.png")
        src_b = read_image(folder / f"lytro_{i:02d}_2.png")
        a, b = to_gray(src_a), to_gray(src_b)
        ours = gacn.fuse([src_a, src_b]).decision_map
        f = fused_gray(src_a, src_b, ours)
        row = [fn(a, b, f) for fn in exact.values()]
        for lam in lams:
            w = optimise(a, b, ours, args.metric, lam, args.steps)
            soft = float(np.mean((w > 0.05) & (w < 0.95)))
            if lam > 0:
                w = ndimage.median_filter((w > 0.5).astype(np.float64), 9)
            f = fused_gray(src_a, src_b, w)
            row += [fn(a, b, f) for fn in exact.values()] + [soft]
        rows.append(row)
        print(line(f"lytro_{i:02d}", row), flush=True)
    print(line("mean", np.mean(rows, axis=0)))


if __name__ == "__main__":
    main()
