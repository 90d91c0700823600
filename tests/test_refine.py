"""Boundary refinement: it moves a misplaced focus boundary to the true one, touches nothing away
from the boundary, and leaves glow zones to the network."""

from __future__ import annotations

import numpy as np
import torch

from gacn.fusion.refine import refine_boundary
from gacn.metrics import map_accuracy


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]


def _pair(shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sharp texture in ``a`` left of column 40, in ``b`` right of it; a map whose boundary is
    ``shift`` columns to the left of the truth."""
    rng = np.random.default_rng(0)
    sharp = 0.5 + 0.2 * rng.standard_normal((80, 80)).astype(np.float32)
    flat = np.full_like(sharp, 0.5)
    truth = np.zeros((80, 80), np.float32)
    truth[:, :40] = 1.0
    a = np.where(truth > 0, sharp, flat)
    b = np.where(truth > 0, flat, sharp)
    decision = np.zeros_like(truth)
    decision[:, : 40 - shift] = 1.0
    return a, b, decision, truth


def test_refinement_moves_a_misplaced_boundary_to_the_true_one() -> None:
    a, b, decision, truth = _pair(shift=4)
    out = refine_boundary(_t(decision), _t(a), _t(b))[0, 0].numpy()
    assert map_accuracy(decision, truth) == 0.95
    assert map_accuracy(out, truth) > 0.99


def test_refinement_leaves_pixels_away_from_the_boundary_alone() -> None:
    a, b, decision, truth = _pair(shift=4)
    decision[:, 70:] = 1.0
    decision[40:44, 10:14] = 0.0
    out = refine_boundary(_t(decision), _t(a), _t(b))[0, 0].numpy()
    far = np.abs(np.arange(80)[None, :] - 36).repeat(80, 0) > 12
    far &= np.abs(np.arange(80)[None, :] - 70).repeat(80, 0) > 12
    far[30:54, 0:24] = False
    assert np.array_equal(out[far], decision[far])


def test_refinement_keeps_the_network_decision_where_one_source_is_brighter() -> None:
    a, b, decision, truth = _pair(shift=4)
    glow = np.where(truth > 0, a, b) + 0.15
    out = refine_boundary(_t(decision), _t(glow), _t(b))[0, 0].numpy()
    assert np.array_equal(out, decision)
