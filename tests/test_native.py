"""The native-detail benchmark generators: pairs of two depth layers and continuous-depth stacks.

Small frames only; the BSDS photos of the shared data are used where present (those tests skip
without them), scikit-image's photos everywhere else.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from gacn.evaluation import native
from gacn.fusion.measure import focus_measure
from gacn.fusion.synthetic import make_surface_stack, psnr, surface_depth, texture_mask
from gacn.training.synthesis import disc_kernel


def high_frequency(image: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean squared Laplacian of the luma (over ``region``, bool, if given): the finest detail's energy."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    energy = cv2.Laplacian(gray, cv2.CV_32F) ** 2
    return float(energy.mean() if region is None else energy[region].mean())


@pytest.fixture
def layers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Foreground and background tilings of scikit-image photos and a blob mask, 200x300."""
    rng = np.random.default_rng(3)
    size = (200, 300)
    fg = native.tile([skimage.data.astronaut()[:150, :180], skimage.data.coffee()[:150, :200]], size, rng)
    bg = native.tile([skimage.data.chelsea()[:150], skimage.data.rocket()[:150, :220]], size, rng)
    return fg, bg, native.blob_mask(size, rng)


def interior(mask: np.ndarray, distance: int) -> np.ndarray:
    """Pixels of ``mask`` farther than ``distance`` px from its outside."""
    side = 2 * distance + 1
    return cv2.erode(mask.astype(np.uint8), np.ones((side, side), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0


def test_tile_keeps_native_pixels() -> None:
    photo = skimage.data.coffee()
    image = native.tile([photo], (500, 700), np.random.default_rng(0), flip=False)
    # Every 8x8 block of the frame is a block of the photo (pixels copied, never resampled).
    block = image[200:208, 300:308]
    match = cv2.matchTemplate(photo, block, cv2.TM_SQDIFF)
    assert match.min() == 0


@pytest.mark.parametrize("seed", range(6))
def test_blob_mask_share_and_shape(seed: int) -> None:
    mask = native.blob_mask((240, 320), np.random.default_rng(seed))
    assert 0.28 <= mask.mean() <= 0.72
    # Large smooth shapes: few parts, none tiny.
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    assert count - 1 <= 6
    assert stats[1:, cv2.CC_STAT_AREA].min() >= 0.002 * mask.size


def test_pair_layers_are_exact_away_from_the_boundary(layers) -> None:
    fg, bg, mask = layers
    radius = 6
    pair = native.make_pair(fg, bg, mask, radius)
    inside = interior(mask, 1)
    outside = interior(~mask, radius + 1)
    assert np.array_equal(pair.near[mask], fg[mask])
    assert np.array_equal(pair.far[outside], bg[outside])
    assert np.array_equal(pair.truth[mask], fg[mask]) and np.array_equal(pair.truth[~mask], bg[~mask])
    # The out-of-focus layer of each frame is blurred.
    assert high_frequency(pair.far, inside) < 0.2 * high_frequency(pair.near, inside)
    assert high_frequency(pair.near, outside) < 0.2 * high_frequency(pair.far, outside)


def test_pair_far_frame_spills_the_blurred_foreground(layers) -> None:
    fg, bg, mask = layers
    pair = native.make_pair(fg, bg, mask, 6)
    band = ~mask & ~interior(~mask, 6)  # background within the blur's reach of the foreground
    assert not np.array_equal(pair.far[band], bg[band])


def test_disc_blur_removes_high_frequencies() -> None:
    photo = skimage.data.astronaut()
    energies = [high_frequency(photo)] + [high_frequency(native._to_uint8(native.disc_blur(photo, r)))
                                          for r in (2, 5, 10)]
    assert energies == sorted(energies, reverse=True)
    assert energies[-1] < 0.02 * energies[0]
    assert np.isclose(disc_kernel(10).sum(), 1.0)


def test_oracle_is_finite_and_below_the_truth(layers) -> None:
    fg, bg, mask = layers
    pair = native.make_pair(fg, bg, mask, 8)
    score = psnr(pair.oracle, pair.truth)
    assert 20 < score < psnr(pair.truth, pair.truth)
    # Each frame alone is worse than the oracle.
    assert psnr(pair.near, pair.truth) < score and psnr(pair.far, pair.truth) < score


def test_surface_depth_equal_area_per_frame() -> None:
    for n in (3, 6, 10):
        depth = surface_depth((90, 120), n, seed=n)
        counts = np.bincount(np.clip(np.rint(depth * (n - 1)), 0, n - 1).astype(int).ravel(), minlength=n)
        assert counts.min() >= 0.95 * counts.max()
        # Smooth: neighbouring pixels differ by far less than a frame spacing.
        assert np.abs(np.diff(depth, axis=1)).max() * (n - 1) < 0.5


def test_surface_stack_frame_k_is_sharpest_where_truth_is_k() -> None:
    stack = make_surface_stack(n_frames=6, size=(427, 640))
    assert stack.frames[0].shape == (427, 640, 3)
    assert np.array_equal(stack.sharp, skimage.data.rocket())  # the photo as it is: never resized
    counts = np.bincount(stack.truth.ravel(), minlength=6)
    assert counts.min() >= 0.95 * counts.max()
    textured = texture_mask(stack.sharp)
    grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255 for f in stack.frames]
    energy = np.stack([focus_measure(g) for g in grays])
    for k in range(6):
        region = (stack.truth == k) & textured
        assert int(np.argmax(energy[:, region].mean(axis=1))) == k
    # The sharp photo is the truth; every frame alone falls short of it.
    assert max(psnr(f, stack.sharp) for f in stack.frames) < 40


def test_surface_stack_pads_a_small_photo_by_mirroring() -> None:
    photo = skimage.data.chelsea()[:100, :120]
    stack = make_surface_stack(photo, n_frames=3, size=(150, 200))
    assert np.array_equal(stack.sharp[:100, :120], photo)
    assert np.array_equal(stack.sharp[100:150, :120], photo[::-1][:50])


def test_frame_size_names() -> None:
    assert native.frame_size("12") == (2832, 4256)
    assert native.frame_size("1600x1200") == (1200, 1600)


@pytest.mark.usefixtures("data_dir")
def test_native_pair_from_bsds_is_cached(data_dir: Path, tmp_path: Path) -> None:
    pair = native.native_pair((160, 240), 5, seed=1, root=data_dir, cache=tmp_path)
    assert pair.near.shape == (160, 240, 3) and 0.28 <= pair.mask.mean() <= 0.72
    assert all(f.is_file() for f in pair.files.values())
    again = native.native_pair((160, 240), 5, seed=1, root=data_dir, cache=tmp_path)
    assert np.array_equal(again.far, pair.far) and np.array_equal(again.mask, pair.mask)
    # Another radius: the same layers and mask, another blur.
    wider = native.native_pair((160, 240), 9, seed=1, root=data_dir, cache=tmp_path)
    assert np.array_equal(wider.mask, pair.mask) and np.array_equal(wider.truth, pair.truth)
    assert not np.array_equal(wider.far, pair.far)


@pytest.mark.usefixtures("data_dir")
def test_native_surface_stack_from_bsds(data_dir: Path, tmp_path: Path) -> None:
    stack, files = native.native_surface_stack((120, 160), n_frames=4, root=data_dir, cache=tmp_path)
    assert len(files) == 4 and all(f.is_file() for f in files)
    assert stack.frames[0].shape == (120, 160, 3)
    assert np.bincount(stack.truth.ravel()).min() >= 0.95 * np.bincount(stack.truth.ravel()).max()
    again, _ = native.native_surface_stack((120, 160), n_frames=4, root=data_dir, cache=tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(again.frames, stack.frames))
