"""Exposure differences, flat areas and depth maps (issue: no blotches)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import gacn
from gacn import metrics
from gacn.fusion.exposure import CONSISTENCY, _flat_samples, agreement, apply_exposure, estimate_exposure
from gacn.fusion.flat import fill_from, noise_sigma
from gacn.fusion.synthetic import index_accuracy, make_stack
from gacn.metrics.seams import flat_mask


def scene(size: int = 256, seed: int = 0) -> np.ndarray:
    """A float RGB scene in 0..1 like a photo: smooth shading over the whole range of values
    (on a scale of an eighth of the image), fine texture over the left half (which an exposure
    estimate must not be fooled by), flat elsewhere."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((size, size, 3)), (0, 0), size / 8)
    base = (base - base.min()) / (base.max() - base.min())
    detail = cv2.GaussianBlur(rng.random((size, size, 3)), (0, 0), 0.7) - 0.5
    detail[:, size // 2:] = 0
    return np.clip(0.1 + 0.8 * base + 0.4 * detail, 0.02, 0.98)


@pytest.mark.parametrize(("gain", "offset"), [((0.65, 0.65, 0.65), (0.0, 0.0, 0.0)),
                                              ((1.3, 1.0, 0.8), (0.02, -0.01, 0.03))])
def test_exposure_recovers_known_gain_and_offset_despite_defocus(gain: tuple, offset: tuple) -> None:
    """A defocused frame with a known gain and offset per channel: the estimate maps it back."""
    reference = scene()
    blurred = cv2.GaussianBlur(reference, (0, 0), 4.0)
    other = np.clip((blurred - offset) / np.asarray(gain), 0, 1)  # reference = gain * other + offset
    params = estimate_exposure((reference * 255).round().astype(np.uint8), (other * 255).round().astype(np.uint8))
    assert np.allclose(params[:, 0], gain, atol=0.02)
    assert np.allclose(params[:, 1], offset, atol=0.01)


def test_exposure_ignores_clipped_highlights() -> None:
    """A frame 2.0 times brighter and clipped at white: the gain comes from the unclipped pixels."""
    reference = scene(seed=1)
    bright = np.clip(reference * 2.0, 0, 1)
    assert (bright >= 1).mean() > 0.1
    params = estimate_exposure(reference, bright)
    assert np.allclose(params[:, 0], 1 / 2.0, atol=0.01) and np.allclose(params[:, 1], 0, atol=0.005)


def test_small_gain_is_applied_only_when_the_flat_pixels_agree() -> None:
    """Under 8 %: a defocused frame 5 % darker is matched (its flat pixels all move by one ratio);
    a frame whose flat values differ from the reference's by a smooth scatter around +3 % (what
    light spilled by a defocused object, or noise, gives) is left as it is, though the means of
    its flat pixels differ by over 1 %."""
    reference = scene(seed=2)
    darker = np.clip(cv2.GaussianBlur(reference, (0, 0), 4.0) * 0.95, 0, 1)
    assert np.allclose(estimate_exposure(reference, darker, offset=False)[:, 0], 1 / 0.95, atol=0.01)
    assert agreement(reference, darker) > CONSISTENCY
    rng = np.random.default_rng(5)
    scatter = cv2.GaussianBlur(rng.standard_normal(reference.shape[:2]), (0, 0), 6.0)
    scattered = np.clip(reference * (1.03 + 0.12 * scatter / scatter.std())[..., None], 0, 1)
    samples = [s for s in _flat_samples(reference, scattered) if s is not None]
    assert abs(float(samples[0][1].sum() / samples[0][0].sum()) - 1.0) > 0.01  # the means are off
    assert agreement(reference, scattered) <= CONSISTENCY
    assert np.array_equal(estimate_exposure(reference, scattered, offset=False), [[1.0, 0.0]] * 3)


def test_apply_exposure_keeps_dtype_and_identity() -> None:
    """A 16-bit frame is corrected in 16 bits; the identity returns the frame itself."""
    img = np.full((4, 4, 3), 30000, np.uint16)
    out = apply_exposure(img, np.array([[2.0, 0.0], [1.0, 0.0], [0.5, 0.1]]))
    assert out.dtype == np.uint16
    assert out[0, 0].tolist() == [60000, 30000, round((0.5 * 30000 / 65535 + 0.1) * 65535)]
    assert apply_exposure(img, np.array([[1.0, 0.0]] * 3)) is img


def test_noise_sigma_is_blind_to_texture() -> None:
    """Known noise on a textured photo-like image is recovered within 15 %."""
    rng = np.random.default_rng(2)
    gray = scene()[..., 0].astype(np.float32)
    noisy = gray + rng.normal(0, 0.02, gray.shape).astype(np.float32)
    assert abs(noise_sigma(noisy) - 0.02) < 0.003


def test_fill_is_smooth_and_meets_the_rim() -> None:
    """A hole between a region at 0 and one at 1 is filled by a ramp, without steps."""
    values = np.zeros((128, 128), np.float32)
    values[:, 96:] = 1.0
    known = np.ones_like(values, bool)
    known[:, 32:96] = False
    filled = fill_from(values, known)
    row = filled[64]
    assert row[31] == 0 and row[96] == 1
    assert np.all(np.diff(row) >= -1e-4) and np.abs(np.diff(row)).max() < 0.1
    assert 0.3 < row[64] < 0.7


def flat_pair(gain: float) -> tuple[np.ndarray, np.ndarray]:
    """Two 8-bit frames: a textured left half in focus in the first, a textured right band in
    focus in the second, and a wide smooth, flat middle; the second frame darker by ``gain``."""
    rng = np.random.default_rng(3)
    h, w = 192, 320
    texture = cv2.GaussianBlur(rng.random((h, w)), (0, 0), 1.0)
    sharp = np.full((h, w), 0.6)
    sharp[:, :96] = 0.3 + 0.8 * (texture[:, :96] - 0.5) * 2
    sharp[:, 256:] = 0.4 + 0.8 * (texture[:, 256:] - 0.5) * 2
    sharp += np.linspace(-0.05, 0.05, w)[None]  # a gentle shading: flat, not constant
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    a, b = sharp.copy(), blurred.copy()
    a[:, 200:], b[:, 200:] = blurred[:, 200:], sharp[:, 200:]
    noise = lambda: rng.normal(0, 1.5 / 255, (h, w))  # noqa: E731
    to8 = lambda x: np.clip(np.rint(np.repeat(x[..., None], 3, 2) * 255), 0, 255).astype(np.uint8)  # noqa: E731
    return to8(a + noise()), to8((b + noise()) * gain)


def seam_ratio(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """The flat-area seam ratio (:func:`gacn.metrics.seams.seam_ratio`), where over a fifth of the
    image is flat in both sources."""
    gray = [metrics.to_gray(x) for x in (a, b)]
    assert flat_mask(*gray).mean() > 0.2
    return metrics.compute(a, b, f, ["SEAM"])["SEAM"]


@pytest.mark.parametrize(("gain", "blotchy"), [(0.7, 1.3), (0.94, 1.2)])
def test_flat_area_with_exposure_step_has_no_seams(gain: float, blotchy: float) -> None:
    """An exposure step between the frames, large or under 8 %: with matching and flat filling
    the flat middle is as smooth as the sources (seam ratio near 1), and the first frame's
    exposure is kept; without them the flat middle is a patchwork (ratio well above 1)."""
    a, b = flat_pair(gain)
    after = gacn.fuse([a, b])
    before = gacn.fuse([a, b], match_exposure=False, fill_flat=False)
    assert after.exposure is not None and abs(float(after.exposure[1][0, 0]) - 1 / gain) < 0.01
    assert seam_ratio(a, b, after.image) < 1.1
    assert seam_ratio(a, b, before.image) > blotchy
    middle = (slice(40, 150), slice(120, 180))
    assert abs(float(after.image[middle].mean()) - float(a[middle].mean())) < 2.0
    assert float(after.confidence[middle].max()) == 0.0  # not decided by focus
    assert float(before.confidence[middle].max()) > 0.0


def test_faithful_path_is_not_matched_by_default() -> None:
    """``method='gacn'`` stays the published method: no matching unless asked."""
    a, b = flat_pair(0.7)
    plain = gacn.fuse([a, b], method="gacn")
    off = gacn.fuse([a, b], method="gacn", match_exposure=False)
    assert np.array_equal(plain.image, off.image)
    with pytest.raises(gacn.InputError, match="fill_flat"):
        gacn.fuse([a, b], method="gacn", fill_flat=True)


def speckle(index: np.ndarray, where: np.ndarray) -> float:
    """Share of the ``where`` pixels whose index differs from the 9x9 median of the index."""
    median = cv2.medianBlur(index.astype(np.uint8), 9)
    return float((index != median)[where].mean())


def test_depth_map_is_smooth_in_flat_background() -> None:
    """A stack whose photo has a flat, noisy background: the index map has no speckle there
    (the raw index does), and where there is texture it picks the right frame as often."""
    photo = (scene(192, seed=4) * 255).astype(np.uint8)
    photo[:, 96:] = 140  # a flat background over the right half
    stack = make_stack(photo=photo, n_frames=5, size=(192, 192), max_blur=4.0)
    rng = np.random.default_rng(5)
    frames = [np.clip(f + rng.normal(0, 1.0, f.shape), 0, 255).astype(np.uint8) for f in stack.frames]
    on = gacn.fuse(frames, align=False)
    off = gacn.fuse(frames, align=False, fill_flat=False)
    background = np.zeros((192, 192), bool)
    background[8:-8, 110:-8] = True
    assert speckle(on.raw_index_map, background) > 0.2
    assert speckle(on.index_map, background) < 0.01
    assert speckle(on.depth_map, background) < 0.01
    assert float(on.confidence[background].max()) == 0.0
    assert index_accuracy(on.index_map, stack) >= index_accuracy(off.index_map, stack) - 0.005
