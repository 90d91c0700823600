"""Alignment of a stack that did not move: no frame is warped, though the frames differ in defocus.

On weakly textured photos ECC explains part of the defocus difference between two frames by
a small motion (up to about a pixel on the rocket photo); such a frame must not be resampled.
A stack that did move (focus breathing) must still be registered.
"""

from __future__ import annotations

import numpy as np

from gacn.fusion.align import estimate_transform, max_motion
from gacn.fusion.synthetic import make_stack, make_surface_stack
from gacn.io import to_gray_float


def corner_error(a: np.ndarray, b: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest distance (pixels) between where two transforms send the image corners."""
    h, w = shape
    pts = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float)
    return float(np.linalg.norm(pts @ a.T - pts @ b.T, axis=1).max())


def test_still_surface_stack_gets_identity_transforms() -> None:
    """The rocket surface stack (registered by construction, 29 % textured) is not warped."""
    s = make_surface_stack()
    gray = [to_gray_float(f) for f in s.frames]
    ref = gray[3]
    motions = [max_motion(estimate_transform(ref, gray[k]), ref.shape) for k in (0, 1, 2, 4, 5)]
    assert max(motions) < 0.05, motions


def test_breathing_stack_is_still_registered() -> None:
    """Focus breathing and small shifts (0.2 % scale per frame, up to 0.5 px) are recovered."""
    s = make_stack(n_frames=5, size=(240, 320), max_blur=4.0, breathing=0.002, shift=0.5, seed=3)
    ref = to_gray_float(s.frames[2])
    for k in (0, 1, 3, 4):
        found = estimate_transform(ref, to_gray_float(s.frames[k]))
        assert max_motion(found, ref.shape) > 0.2, k
        assert corner_error(found, s.matrices[k], ref.shape) < 0.5, k
