"""Alignment: known synthetic shifts and scale changes (focus breathing) are recovered."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from gacn.fusion.align import common_box, estimate_transform, max_motion, warp_image
from gacn.fusion.synthetic import make_stack
from gacn.io import to_gray_float


def corner_error(a: np.ndarray, b: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest distance (pixels) between where two transforms send the image corners."""
    h, w = shape
    pts = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float)
    return float(np.linalg.norm(pts @ a.T - pts @ b.T, axis=1).max())


@pytest.mark.parametrize("max_blur", [0.0, 4.0])
def test_known_shift_and_scale_recovered_within_half_a_pixel(max_blur: float) -> None:
    s = make_stack(n_frames=5, size=(240, 320), max_blur=max_blur, breathing=0.015, shift=4.0, seed=3)
    ref = to_gray_float(s.frames[2])
    for k in (0, 1, 3, 4):
        found = estimate_transform(ref, to_gray_float(s.frames[k]))
        assert corner_error(found, s.matrices[k], ref.shape) < 0.5, k


def test_warp_undoes_the_motion() -> None:
    s = make_stack(n_frames=3, size=(128, 128), max_blur=0.0, breathing=0.02, shift=3.0, seed=1)
    aligned = warp_image(s.frames[0], s.matrices[0])
    inner = (slice(10, -10), slice(10, -10))
    err = np.abs(aligned[inner].astype(float) - s.sharp[inner]).mean()
    assert err < 0.3 * np.abs(s.frames[0][inner].astype(float) - s.sharp[inner]).mean()


def test_unrelated_images_give_the_identity() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((64, 64), dtype=np.float32), rng.random((64, 64), dtype=np.float32)
    m = estimate_transform(a, b)
    assert np.allclose(m, np.eye(2, 3)) or abs(np.linalg.det(m[:, :2]) - 1) < 0.2


def test_common_box_is_covered_by_every_frame() -> None:
    up = np.array([[1.02, 0, -1.0], [0, 1.02, 2.5]], np.float32)
    down = np.array([[0.98, 0, 3.0], [0, 0.98, -1.5]], np.float32)
    rows, cols = common_box([up, np.eye(2, 3, dtype=np.float32), down], (100, 120))
    ys, xs = np.mgrid[rows, cols]
    for m in (up, down):
        x = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        y = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        assert x.min() >= -1e-3 and y.min() >= -1e-3 and x.max() <= 119.001 and y.max() <= 99.001
    assert rows.stop - rows.start > 90 and cols.stop - cols.start > 110


def test_registered_frames_give_the_exact_identity_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    s = make_stack(n_frames=3, size=(120, 160), max_blur=2.0, seed=2)  # no shift, no breathing
    ref = to_gray_float(s.frames[1])
    with caplog.at_level(logging.INFO, logger="gacn.fusion.align"):
        found = estimate_transform(ref, to_gray_float(s.frames[0]))
    assert found.tolist() == np.eye(2, 3).tolist()
    assert "not warped" in caplog.text and "px" in caplog.text
    moved = estimate_transform(ref, to_gray_float(np.roll(s.frames[0], 1, axis=1)))
    assert max_motion(moved, ref.shape) > 0.5


def test_registered_stack_is_not_warped_or_cropped() -> None:
    """With alignment on, a pixel-registered stack fuses to exactly the no-alignment result."""
    import gacn

    s = make_stack(n_frames=3, size=(120, 160), max_blur=2.0, seed=4)
    aligned = gacn.fuse(s.frames, align=True)
    plain = gacn.fuse(s.frames, align=False)
    assert aligned.image.shape == s.frames[0].shape
    assert np.array_equal(aligned.image, plain.image)
    assert np.array_equal(aligned.index_map, plain.index_map)
