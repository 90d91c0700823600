"""The GA loss: finite values and gradients, and soft Q_G close to the metric it imitates."""

from __future__ import annotations

import numpy as np
import torch

from gacn.metrics import compute
from gacn.model import GACN
from gacn.training.loss import dice_loss, ga_loss, soft_qg


def test_dice_known_values() -> None:
    m = torch.zeros(1, 1, 10, 10)
    m[..., :5] = 1
    assert dice_loss(m, m).item() < 1e-6 + 1 / 101
    assert abs(dice_loss(1 - m, m).item() - 1.0 + 1 / 101) < 1e-6


def test_loss_and_gradients_are_finite() -> None:
    torch.manual_seed(0)
    net = GACN().train()
    a, b = torch.rand(2, 1, 40, 44), torch.rand(2, 1, 40, 44)
    a[:, :, :5] = 0.5  # flat strip: zero gradients must not give NaN
    m = (torch.rand(2, 1, 40, 44) > 0.5).float()
    out = net(a, b)
    loss, dice, qg = ga_loss(out.raw_decision, m, a, b, out.fused)
    loss.backward()
    assert torch.isfinite(loss) and 0.0 <= qg.item() <= 1.0
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_soft_qg_matches_metric(photo_rgb: np.ndarray) -> None:
    gray = photo_rgb.mean(axis=2)
    rng = np.random.default_rng(0)
    a = gray
    b = np.clip(gray + rng.normal(0, 8, gray.shape), 0, 255)
    f = 0.5 * (a + b)
    hard = compute(a.astype(np.uint8), b.astype(np.uint8), f.astype(np.uint8), ["Q_G"])["Q_G"]
    t = lambda x: torch.from_numpy(x.astype(np.uint8).astype(np.float32) / 255)[None, None]  # noqa: E731
    soft = soft_qg(t(a), t(b), t(f)).item()
    assert abs(soft - hard) < 0.02
