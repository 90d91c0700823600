"""The flat-area seam ratio (SEAM): known steps, identity, the undefined case, soft against hard."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gacn import metrics
from gacn.metrics.seams import flat_mask, seam_ratio

SIDE = 64
COLUMNS = np.arange(SIDE)


def ramp(slope: float = 0.1, side: int = SIDE) -> np.ndarray:
    """A horizontal ramp of ``slope`` grey levels per pixel: flat (9x9 std 2.58 * slope)."""
    return np.tile(np.arange(side) * slope, (side, 1)) + 100.0


def noisy_flat(seed: int, sigma: float = 0.5) -> np.ndarray:
    """A flat grey field with sensor-like noise (local std about ``sigma``)."""
    return 120.0 + np.random.default_rng(seed).normal(0.0, sigma, (SIDE, SIDE))


@pytest.mark.parametrize("step", [2.0, 6.0, 20.0])
def test_an_exposure_step_in_a_flat_area_matches_the_sobel_arithmetic(step: float) -> None:
    """Sources: the same ramp (slope s: Sobel 8 s inside, 0 on the mirrored border columns).
    The fused image has a step of ``step`` at column 32, which adds 4 step to the Sobel response
    of columns 31 and 32: SEAM = (8 s 62 + 2 4 step) / (8 s 62) = 1 + step / (0.1 62)."""
    a = ramp()
    fused = a + np.where(COLUMNS >= 32, step, 0.0)
    assert flat_mask(a, a).all()
    assert seam_ratio(a, a, fused) == pytest.approx(1.0 + step / 6.2, rel=1e-12)


def test_an_exposure_gain_on_half_of_a_noisy_flat_scene_raises_the_ratio() -> None:
    """Two noisy flat sources; the fused image takes the right half from a source darkened by a
    gain of 0.65 (a blotch edge of about 42 grey levels), against one taken wholly from a source."""
    a, b = noisy_flat(0), noisy_flat(1)
    assert flat_mask(a, b).mean() > 0.99
    blotched = np.where(COLUMNS >= 32, b * 0.65, a)
    assert seam_ratio(a, b, blotched) > 3.0
    assert seam_ratio(a, b, a) == pytest.approx(1.0, abs=0.05)


def test_the_fused_image_equal_to_the_busier_source_scores_exactly_one() -> None:
    """With a photo-like pair (texture and a flat sky), the source with the larger flat-area
    gradient as the fused image gives 1, the other at most 1."""
    rng = np.random.default_rng(3)
    a = noisy_flat(2, sigma=0.8)
    a[:, 40:] = rng.uniform(0, 255, (SIDE, SIDE - 40))  # texture: not flat
    b = noisy_flat(4, sigma=0.3)
    b[:, 40:] = a[:, 40:]
    ratios = sorted([seam_ratio(a, b, a), seam_ratio(a, b, b)])
    assert ratios[1] == 1.0
    assert ratios[0] < 0.9  # the smoother source is below 1


def test_a_soft_blotch_shows_less_than_a_hard_one() -> None:
    """A narrow blotch (8 columns 10 grey levels darker) against the same blotch blended softly
    (its mask low-passed over about 32 px, as a multi-scale blend does): the soft one never
    reaches full depth, so it adds far less gradient."""
    a = ramp(0.05)
    blotch = ((COLUMNS >= 28) & (COLUMNS < 36)).astype(float)
    soft_blotch = np.convolve(blotch, np.ones(33) / 33, mode="same")
    s_hard, s_soft = seam_ratio(a, a, a - 10.0 * blotch), seam_ratio(a, a, a - 10.0 * soft_blotch)
    assert s_hard > 5.0
    assert 1.0 < s_soft < 0.5 * s_hard


def test_one_monotone_step_keeps_its_gradient_sum_however_wide() -> None:
    """The mean gradient sums the change along a row: one step spread over 32 px inside the flat
    area scores as the hard step (the ratio sees a blotch's depth, not the sharpness of its edge)."""
    a = ramp(0.05)
    hard = a + np.where(COLUMNS >= 32, 10.0, 0.0)
    soft = a + np.clip((COLUMNS - 16) / 32.0, 0.0, 1.0) * 10.0
    assert seam_ratio(a, a, soft) == pytest.approx(seam_ratio(a, a, hard), rel=1e-9)


def test_undefined_when_under_one_percent_is_flat() -> None:
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 255, (SIDE, SIDE))
    a[:8, :8] = 50.0  # a flat patch, but its 9x9 windows reach into the noise: under 1 % is flat
    assert flat_mask(a, a).mean() < 0.01
    assert math.isnan(seam_ratio(a, a, a))
    a[:20, :20] = noisy_flat(9)[:20, :20]  # now about 3 % is flat
    assert flat_mask(a, a).mean() > 0.01
    assert seam_ratio(a, a, a) == 1.0
    flat = np.full((SIDE, SIDE), 50.0)  # exactly constant sources and fused image: 0/0
    assert math.isnan(seam_ratio(flat, flat, flat))
    assert seam_ratio(flat, flat, flat + np.where(COLUMNS >= 32, 1.0, 0.0)) == math.inf


def test_flat_in_one_source_only_does_not_count() -> None:
    a, b = noisy_flat(6), noisy_flat(7)
    b[:, 16:] = np.random.default_rng(8).uniform(0, 255, (SIDE, SIDE - 16))
    mask = flat_mask(a, b)
    assert mask[:, :8].all() and not mask[:, 24:].any()
    assert flat_mask(a, b).mean() == flat_mask(b, a).mean()


def test_compute_knows_seam_by_name_but_not_in_the_default_set() -> None:
    a = (np.tile(COLUMNS * 0.1, (SIDE, 1)) + 100).astype(np.uint8)
    fused = a.copy()
    fused[:, 32:] = np.clip(fused[:, 32:].astype(int) + 20, 0, 255)
    assert list(metrics.compute(a, a, a)) == metrics.NAMES and "SEAM" not in metrics.NAMES
    scores = metrics.compute(a, a, fused, "q_g,seam")
    assert list(scores) == ["Q_G", "SEAM"] and scores["SEAM"] > 2.0
    assert metrics.INFO["SEAM"].better == "lower"
    assert metrics.compute(a, a, a, ["SEAM"]) == {"SEAM": 1.0}
    assert metrics.undefined_notes({"SEAM": math.nan})[0].startswith("SEAM is undefined")
