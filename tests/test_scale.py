"""Learned decisions at every scale: big frames decided coarse to fine (:mod:`gacn.fusion.coarse`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

import gacn
from gacn.fusion import coarse
from gacn.fusion.synthetic import make_spill_stack, make_surface_stack, psnr, texture_mask


def _pair(shape: tuple[int, int], sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two frames of a photo at its own resolution (mirrored to fill ``shape``) whose focus changes
    along a smooth closed curve, each blurred by ``sigma`` where the other is sharp, and the truth
    (True where frame 0 is sharp)."""
    h, w = shape
    photo = skimage.data.rocket()
    sharp = np.pad(photo, ((0, h - photo.shape[0]), (0, w - photo.shape[1]), (0, 0)), mode="symmetric")[:h, :w]
    y, x = np.mgrid[0:h, 0:w]
    truth = (x - 0.45 * w) ** 2 / (0.3 * w) ** 2 + (y - 0.5 * h) ** 2 / (0.35 * h) ** 2 < 1 + 0.1 * np.sin(x / 40.0)
    soft = cv2.GaussianBlur(sharp, (0, 0), sigma)
    near = np.where(truth[..., None], sharp, soft)
    far = np.where(truth[..., None], soft, sharp)
    return near, far, truth


def test_coarse_to_fine_agrees_with_the_full_size_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    near, far, truth = _pair((1000, 1100), 5.0)
    assert coarse.working_shape(*truth.shape) is not None  # this pair is decided coarse to fine
    fine = gacn.fuse([near, far])
    monkeypatch.setattr(coarse, "COARSE_FROM", 10**9)  # the same pair decided at full size
    full = gacn.fuse([near, far])
    far_from_edge = cv2.distanceTransform((truth == cv2.erode(truth.view(np.uint8), np.ones((3, 3)))
                                           .view(bool)).view(np.uint8), cv2.DIST_L2, 5) > 12
    agree = fine.index_map == full.index_map
    assert agree.mean() >= 0.98
    assert agree[far_from_edge].mean() >= 0.995
    accuracy = [((r.index_map == 0) == truth).mean() for r in (fine, full)]
    assert accuracy[0] >= accuracy[1] - 0.005, accuracy


@pytest.mark.parametrize("size", [256, 1100])
def test_no_spill_of_a_defocused_bright_line_is_taken_for_focus(size: int) -> None:
    """A dark surface with bright lines that no frame has in focus: everywhere on it the fused
    image is the least blurred frame, not the wide glows of the others (at full size for 256 px,
    coarse to fine for 1100 px)."""
    stack = make_spill_stack(size=size)
    fused = gacn.fuse(stack.frames, align=False).image.astype(np.float32)
    last = stack.frames[-1].astype(np.float32)
    surface = np.zeros((size, size), bool)
    surface[:, size // 3 + 10:] = True  # clear of the photo's blurred edge
    error = np.abs(fused - last).mean(axis=2)[surface]
    assert error.mean() < 0.5
    assert np.percentile(error, 99) < 3.0


def test_continuous_surface_index_near_plane_changes() -> None:
    """A stack of one smooth depth surface (every frame the truth over the same area): next to
    the changes of plane, where a cheap window straddles two planes, the default picks the right
    frame as often as the faithful path, and its image is as close to the oracle's."""
    stack = make_surface_stack(n_frames=6)
    change = cv2.dilate(stack.truth.astype(np.uint8), np.ones((3, 3), np.uint8)) != cv2.erode(
        stack.truth.astype(np.uint8), np.ones((3, 3), np.uint8))
    near = cv2.dilate(change.view(np.uint8), np.ones((7, 7), np.uint8)).view(bool) & texture_mask(stack.sharp)
    oracle = np.take_along_axis(np.stack(stack.frames), stack.truth[None, ..., None].astype(np.intp), 0)[0]
    results = {m: gacn.fuse(stack.frames, method=m, crop=False) for m in ("fast", "gacn")}
    best = np.abs(stack.depth - stack.focus[stack.truth])
    spacing = float(stack.focus[1])

    def right_near(index: np.ndarray) -> float:
        """Share of the pixels near a change whose frame is (nearly) the sharpest (as index_accuracy)."""
        return float((np.abs(stack.depth - stack.focus[index.astype(int)]) <= best + 0.25 * spacing)[near].mean())

    right = {m: right_near(r.index_map) for m, r in results.items()}
    assert right["fast"] >= 0.99 and right["fast"] >= right["gacn"] - 0.002, right
    loss = {m: psnr(oracle, stack.sharp) - psnr(r.image, stack.sharp) for m, r in results.items()}
    assert loss["fast"] < 0.1 and loss["fast"] <= loss["gacn"] + 0.05, loss
