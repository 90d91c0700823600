"""Exposure matching near white and the choice of the reference frame (issue 23)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import gacn
from gacn.fusion.exposure import KNEE, feather, focus_shares, knee_peak, substitute_highlights, thumbnail
from gacn.fusion.frames import Frames

#: Per-channel gains of the brighter frame over the darker one (the darker frame's correction is
#: their inverse: 0.67, 0.67, 0.77, as on the real pair of the issue).
GAINS = np.array([1.5, 1.5, 1.3])
#: The gain that keeps a grey pixel's luma: what the darker frame's near-white table has.
NEUTRAL = float(np.dot([0.299, 0.587, 0.114], 1 / GAINS))
H, W = 160, 240
CENTRE, RADIUS, CORE = (80, 180), 34, 10


def table_pair() -> tuple[np.ndarray, np.ndarray]:
    """Two 8-bit frames: frame 2 is frame 1 times :data:`GAINS`, clipped, except on a near-white
    table, which a tone curve's shoulder keeps neutral in both: just under clipping in frame 2
    (0.94 to 0.98, a clipped core in the middle), a neutral grey in frame 1. Frame 1 is sharp
    over the left 60 % of the image, frame 2 over the rest (the table's faint grain included),
    so the fusion takes the table from frame 2 and frame 1 gives most of the pixels."""
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.random((H, W, 3)), (0, 0), 1.0) - 0.5
    shading = cv2.GaussianBlur(rng.random((H, W, 3)), (0, 0), 20.0)
    shading = (shading - shading.min()) / (shading.max() - shading.min())
    background = 0.2 + 0.35 * shading + 0.6 * texture  # frame 1's values, mostly under 1 / 1.5
    y, x = np.mgrid[:H, :W]
    r = np.hypot(y - CENTRE[0], x - CENTRE[1])
    bright = 0.94 + 0.03 * (1 - r / RADIUS) + 0.12 / (1 + np.exp((r - CORE) / 1.5))  # frame 2's table
    bright = bright[..., None] + 0.2 * texture[..., :1]  # neutral grain
    alpha = (1 / (1 + np.exp((r - RADIUS) / 2.0)))[..., None]  # the table's soft rim
    one = alpha * NEUTRAL * bright + (1 - alpha) * background
    two = alpha * bright + (1 - alpha) * background * GAINS
    sharp_one = np.zeros((H, W, 1), bool)
    sharp_one[:, : int(0.6 * W)] = True
    blur = lambda im: cv2.GaussianBlur(im, (0, 0), 3.0)  # noqa: E731
    one, two = np.where(sharp_one, one, blur(one)), np.where(sharp_one, blur(two), two)
    to8 = lambda im: np.clip(np.rint(im * 255), 0, 255).astype(np.uint8)  # noqa: E731
    return to8(one), to8(two)


def inside(margin: int) -> np.ndarray:
    """bool (H, W): the table, ``margin`` pixels in from its rim."""
    y, x = np.mgrid[:H, :W]
    return np.hypot(y - CENTRE[0], x - CENTRE[1]) < RADIUS - margin


def near_white(two: np.ndarray) -> np.ndarray:
    """The table's near-clipped ring in frame 2 (away from the rim, where the background shows
    through): every channel at 0.94 or over, none clipped."""
    values = two.astype(np.float32) / 255
    return (values.min(axis=2) >= 0.94) & (values.max(axis=2) < 0.98) & inside(8)


def spread(image: np.ndarray, where: np.ndarray) -> float:
    """The largest channel spread (max - min, 0..1) over the pixels ``where``."""
    values = image[where].astype(np.float32) / 255
    return float((values.max(axis=1) - values.min(axis=1)).max())


def gradient(image: np.ndarray) -> np.ndarray:
    """Per pixel, the largest absolute difference to the next pixel right or down, over the
    channels (0..1)."""
    f = image.astype(np.float32) / 255
    dy = np.abs(np.diff(f, axis=0, append=f[-1:]))
    dx = np.abs(np.diff(f, axis=1, append=f[:, -1:]))
    return np.maximum(dx, dy).max(axis=2)


def test_near_white_stays_neutral_after_matching(tmp_path) -> None:
    """Matched to frame 1 (gains 0.67, 0.67, 0.77), frame 2's near-clipped table stays a neutral
    grey instead of turning lavender, while its darker pixels get the per-channel gains."""
    one, two = table_pair()
    frames = Frames([one, two], str(tmp_path))
    frames.match_exposure(0)
    matched = frames.load(1)
    gains = frames.corrections()[1][:, 0]
    assert np.allclose(gains, 1 / GAINS, atol=0.02)
    ring = near_white(two)
    assert ring.sum() > 300
    assert spread(two, ring) < 0.03 and spread(matched, ring) < 0.03
    below = knee_peak(two) < KNEE[0] * 255  # under the knee: the gains as estimated
    assert below.mean() > 0.5
    assert np.abs(matched[below] - two[below] * gains).max() <= 0.5 + 1e-6


def test_fused_near_white_table_is_neutral() -> None:
    """Fused, the table's near-clipped ring (from the matched frame 2) is neutral, not lavender."""
    one, two = table_pair()
    fused = gacn.fuse([one, two]).image
    assert spread(fused, near_white(two)) < 0.03


def test_fused_near_white_table_has_no_hard_edge() -> None:
    """Fused, the table (near-clipped ring from the matched frame 2, clipped core and clipped
    grain from frame 1) is as smooth as the sources: no step where frame 1's pixels replace
    frame 2's lost highlights."""
    one, two = table_pair()
    fused = gacn.fuse([one, two]).image
    excess = gradient(fused) - np.maximum(gradient(one), gradient(two) * NEUTRAL)
    assert float(excess[inside(6)].max()) < 0.02


def test_substituted_highlight_has_a_soft_edge() -> None:
    """The weight of a substituted highlight is 1 on it and falls to 0 in small steps around it;
    where the other frame lost its highlights, the decision moves to this frame."""
    lost = np.zeros((64, 64), bool)
    lost[20:40, 20:40] = True
    weight = feather(lost)
    assert weight.dtype == np.float32 and np.all(weight[lost] == 1.0)
    assert weight[0, 0] == 0.0 and np.abs(np.diff(weight, axis=1)).max() < 0.25
    decision = np.full((64, 64), 0.5, np.float32)
    soft = substitute_highlights(decision, np.zeros_like(lost), lost)  # frame 1 lost: frame 0 there
    assert np.all(soft[lost] == 1.0) and soft[0, 0] == 0.5 and np.all(soft >= 0.5)
    both = substitute_highlights(decision, lost, lost)  # lost in both: the decision stands
    assert np.array_equal(both, decision)


def test_reference_is_the_frame_that_gives_most_pixels(tmp_path) -> None:
    """The brighter frame first, the darker one sharp over 60 % of the image second: with no
    reference given, the second is the reference (loaded as given) and the first is matched to
    it; a reference given is kept."""
    one, two = table_pair()
    shares = focus_shares(thumbnail(x) for x in (two, one))
    assert np.isclose(shares.sum(), 1.0) and shares[1] > 0.55
    frames = Frames([two, one], str(tmp_path))
    frames.match_exposure()
    assert frames.reference_index == 1 and frames.load(1) is frames.raw(1)
    frames.load(0)
    corrections = frames.corrections()
    assert np.array_equal(corrections[1], [[1.0, 0.0]] * 3)
    assert np.allclose(corrections[0][:, 0], 1 / GAINS, atol=0.02)
    frames.match_exposure(0)
    assert frames.reference_index == 0 and frames.load(0) is frames.raw(0)
