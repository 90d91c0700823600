"""The gradient-aware (GA) loss: Dice on the decision map plus (1 - soft Q_G) on the fused image.

References
----------
.. [1] C. S. Xydeas, V. Petrovic, "Objective image fusion performance measure", Electronics
   Letters 36(4) (2000) 308-309.
.. [2] B. Ma et al., "End-to-end learning for simultaneously generating decision map and
   multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.
"""

from __future__ import annotations

import math

import kornia
import torch

_EPS = 1e-5
#: Steepness of the differentiable min/max switch of the strength ratio.
SWITCH_SLOPE = 1e5


def dice_loss(decision: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice loss ``1 - (2 sum(DM) + 1) / (sum(D^2) + sum(M^2) + 1)`` over the whole batch."""
    d = decision.float()
    m = target.float()
    return 1.0 - (2.0 * (d * m).sum() + 1.0) / ((d * d).sum() + (m * m).sum() + 1.0)


def _sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    grads = kornia.filters.spatial_gradient(x, mode="sobel", normalized=False)
    return grads[:, :, 0], grads[:, :, 1]


def _strength_angle(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    gx, gy = _sobel(x)
    strength = torch.sqrt(gx * gx + gy * gy + _EPS * _EPS)
    gx_safe = torch.where(gx.abs() < _EPS, torch.full_like(gx, _EPS), gx)
    return strength, torch.atan(gy / gx_safe)


def _edge_preservation(g_src: torch.Tensor, a_src: torch.Tensor, g_f: torch.Tensor, a_f: torch.Tensor
                       ) -> torch.Tensor:
    switch = torch.sigmoid(SWITCH_SLOPE * (g_src - g_f))
    ratio = switch * g_f / g_src + (1.0 - switch) * g_src / g_f
    orient = torch.abs(torch.abs(a_src - a_f) - math.pi / 2) * (2.0 / math.pi)
    q_g = torch.sigmoid(10.0 * (ratio - 0.5))
    q_a = torch.sigmoid(20.0 * (orient - 0.75))
    return q_g * q_a


def soft_qg(a: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Differentiable Xydeas-Petrovic Q_G, the mean over pixels of the weighted edge preservation.

    Parameters
    ----------
    a, b, f : torch.Tensor
        Sources and fused image, (N, 1, H, W), any common intensity scale.

    Returns
    -------
    torch.Tensor
        Scalar in 0..1 (higher is better).
    """
    g_a, ang_a = _strength_angle(a.float())
    g_b, ang_b = _strength_angle(b.float())
    g_f, ang_f = _strength_angle(f.float())
    q_af = _edge_preservation(g_a, ang_a, g_f, ang_f)
    q_bf = _edge_preservation(g_b, ang_b, g_f, ang_f)
    return ((q_af * g_a + q_bf * g_b) / (g_a + g_b)).mean()


def ga_loss(raw_decision: torch.Tensor, target: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
            fused: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GA loss = Dice(raw map, target) + (1 - soft Q_G(a, b, fused)); returns (loss, dice, qg)."""
    dice = dice_loss(raw_decision, target)
    qg = soft_qg(a, b, fused)
    return dice + (1.0 - qg), dice, qg
