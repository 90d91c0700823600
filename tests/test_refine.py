"""Boundary refinement by the learned refiner: it moves a misplaced focus boundary to the true one,
touches nothing away from the boundary, and takes the foreground-focused source where a defocused
bright object glows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gacn.fusion.refine import refine_boundary
from gacn.io import InputError
from gacn.metrics import map_accuracy
from gacn.model.refiner import load_refiner
from gacn.training.synthesis import occlusion_pair


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


def test_refinement_removes_the_glow_of_a_bright_defocused_foreground() -> None:
    """Occlusion-correct scene: a bright textured disc in front of a dark textured background.
    A sharpness decision puts the boundary on the disc's edge and keeps the glow that the
    defocused disc spreads over the background; the refinement takes the foreground-focused
    source there instead."""
    rng = np.random.default_rng(1)
    fg = np.clip(0.8 + 0.1 * rng.standard_normal((96, 96)), 0, 1).astype(np.float32)
    bg = np.clip(0.1 + 0.05 * rng.standard_normal((96, 96)), 0, 1).astype(np.float32)
    yy, xx = np.mgrid[:96, :96]
    alpha = ((yy - 48) ** 2 + (xx - 48) ** 2 < 25**2).astype(np.float32)
    near, far, target, truth = occlusion_pair(fg, bg, alpha, "disc", 8.0)
    decision = alpha.copy()
    out = refine_boundary(_t(decision), _t(near), _t(far))[0, 0].numpy()
    ring = (np.abs(np.hypot(yy - 48, xx - 48) - 25) < 8)

    def ring_error(d: np.ndarray) -> float:
        return float(np.abs(d * near + (1 - d) * far - truth)[ring].mean())

    assert ring_error(out) < 0.5 * ring_error(decision)
    assert map_accuracy(out[ring], target[ring]) > map_accuracy(decision[ring], target[ring]) + 0.1


def assert_same_map(x: torch.Tensor, y: torch.Tensor) -> None:
    """Equal up to float rounding (convolutions sum in an order that depends on the width)."""
    assert torch.allclose(x, y, atol=1e-5, rtol=0)
    assert torch.equal(x > 0.5, y > 0.5)


def test_refinement_in_pieces_equals_the_whole_image() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random((2, 300, 260)).astype(np.float32)
    a[:, :130] = 0.5 + 0.4 * (a[:, :130] - 0.5)
    decision = (rng.random((30, 26)) > 0.5).astype(np.float32)
    decision = np.repeat(np.repeat(decision, 10, 0), 10, 1)
    whole = refine_boundary(_t(decision), _t(a), _t(b), strip=1000)
    pieces = refine_boundary(_t(decision), _t(a), _t(b), strip=64)  # 5 x 5 pieces
    assert not torch.equal(whole, _t(decision))
    assert_same_map(pieces, whole)


def test_refinement_cut_to_the_band_equals_the_refiner_on_the_whole_image() -> None:
    """Pieces are cut to the bounding box of their band and pieces without one are skipped:
    the result is the refiner's on the whole image all the same."""
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 300, 200)).astype(np.float32)
    decision = np.zeros((300, 200), np.float32)
    decision[200:240, 140:180] = 1.0
    whole = load_refiner()(_t(decision), _t(a), _t(b))
    for strip in (1000, 64):
        cut = refine_boundary(_t(decision), _t(a), _t(b), strip=strip)
        assert_same_map(cut, whole)
    assert not torch.equal(whole, _t(decision))


def test_the_shipped_refiner_loads_and_a_corrupt_file_is_refused(tmp_path) -> None:
    refiner = load_refiner()
    assert sum(p.numel() for p in refiner.parameters()) == 39_361
    bad = tmp_path / "refiner.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="corrupt"):
        load_refiner(bad)
    with pytest.raises(InputError, match="not found"):
        load_refiner(tmp_path / "missing.safetensors")
