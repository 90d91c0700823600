"""Photometric matching: bring every frame to the reference frame's exposure and colour balance.

Frames of a real stack rarely share one exposure (auto exposure, a flickering lamp, a lens that
dims as it focuses closer). Where the fused image switches between frames, an exposure step
shows as a seam, and in flat areas as dark blotches. Before deciding and blending, each frame is
mapped onto the reference frame by a gain per channel, ``matched = gain * frame`` (values in
0..1; :func:`estimate_exposure` also fits an offset on request), estimated from pixels whose value
does not depend on focus: pixels in flat areas of both frames (a defocus blur leaves a flat area
as it is, and so is a plain ramp), on heavily downscaled copies (a defocus blur moves little of
the signal across the downscaled grid), away from clipping. A gain of a few percent is applied
only when those pixels agree on it (:func:`agreement`): a ratio of means reads that much from
light a defocused object spills, where the frames share one exposure.

References
----------
.. [1] M. Brown, D. G. Lowe, "Automatic panoramic image stitching using invariant features",
   IJCV 74(1) (2007) 59-73 (gain compensation between overlapping photos).
.. [2] P. J. Rousseeuw, A. M. Leroy, "Robust Regression and Outlier Detection", Wiley (1987)
   (trimmed least squares).
"""

from __future__ import annotations

import cv2
import numpy as np

from gacn.io import from_float, to_float

#: Long side (pixels) of the downscaled copies the exposure is estimated on.
ESTIMATE_SIDE = 384
#: Values this close to 0 or 1 (in either frame) are left out of the fit: clipping breaks the
#: linear model.
CLIP_MARGIN = 0.02
#: Share of the unclipped pixels, those a blur changes least in both frames, that the fit uses.
FLAT_SHARE = 0.2
#: Side of the box over which the change by a blur is averaged.
FLAT_BOX = 5
#: Gaussian sigma (pixels of the downscaled copy) of the blur that the pixels used must survive.
BLUR_SIGMA = 8.0
#: The residuals beyond this many robust standard deviations are dropped before the refit.
TRIM_SIGMAS = 2.5
#: With a narrower spread of values than this, the offset is not identifiable: a gain alone is fitted.
MIN_SPREAD = 0.03
#: Fewest pixels for a fit; fewer leave the frame as it is (too few to tell an exposure).
MIN_PIXELS = 500
#: A gain within this many standard errors of 1 is no evidence of an exposure difference.
SIGNIFICANCE = 3.0
#: A gain that moves no value by more than this (0..1 scale: 8 %, 20 grey levels of an 8-bit
#: file) is small: it is applied only when the frames' flat pixels agree on it
#: (:data:`CONSISTENCY`). Differences of that size come from real exposure changes, and also from
#: what a ratio of means picks up without one: the frames of the shared real stacks differ by up
#: to that much (pcb 001 against 007: 3.5 %; microscope V015 against V050: 7.4 %, growing with
#: the distance in focus), the synthetic halo scenes, which share one exposure, by up to 2.6 %
#: (a defocused bright object spills light over its flat surroundings), and correcting all of
#: them lowered Q_G of the strong-defocus pairs (0.6959 to 0.6943) and the halo band PSNR.
NEGLIGIBLE = 0.08
#: Small gains (:data:`NEGLIGIBLE`) are kept only where the flat pixels of at least one channel
#: agree on its gain: their median ratio ``reference / image`` departs from 1 by more than this
#: many times their interquartile range. An exposure change moves every flat pixel by the same
#: ratio; spill, a dimming lens and noise scatter the ratios around a shifted mean. Measured with
#: ``benchmarks/bench_exposure.py --consistency``: the unshifted real sets (Lytro pairs and
#: triples, the classic pairs, the strong-defocus pairs) and the halo scenes reach at most 0.61;
#: the Lytro pairs with one source at gain 0.92, 0.95 or 1.05 have medians of 2.4 to 4.2 (17 or 18
#: of the 20 over 1). At 0.5, the classic ``dsift_flower`` pair was matched by a 4 % gain that
#: its flat pixels scatter around, and lost 1.0 of Q_M and 0.01 of Q_G for it.
CONSISTENCY = 1.0

IDENTITY = np.array([1.0, 0.0])


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A float32 (h, w, C) copy of ``image`` downscaled to :data:`ESTIMATE_SIDE` (area average):
    what :func:`estimate_exposure` compares (give it a reference's thumbnail to compare many
    frames with one reference). At that scale the small motions between the frames of a stack
    are under a pixel, so frames are compared before they are registered.

    Examples
    --------
    >>> thumbnail(np.zeros((1000, 500), np.uint8)).shape
    (384, 192, 1)
    """
    h, w = image.shape[:2]
    scale = min(1.0, ESTIMATE_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = to_float(cv2.resize(image, size, interpolation=cv2.INTER_AREA))  # shrunk first: no full-size float copy
    return small.reshape(small.shape[0], small.shape[1], -1)


def _blur_change(gray: np.ndarray) -> np.ndarray:
    """How much a blur of :data:`BLUR_SIGMA` changes each pixel (averaged over a
    :data:`FLAT_BOX` square): small where the image is flat or a plain ramp, whose values a
    defocus blur does not move."""
    change = np.abs(gray - cv2.GaussianBlur(gray, (0, 0), BLUR_SIGMA))
    return cv2.blur(change, (FLAT_BOX, FLAT_BOX))


def _fit(x: np.ndarray, y: np.ndarray, offset: bool = True) -> np.ndarray:
    """Gain and offset of ``y ~ gain * x + offset``, least squares trimmed of outliers twice; with
    ``offset`` False, or when ``x`` spans less than :data:`MIN_SPREAD`, a gain alone: the ratio of
    the means (as gain compensation between photos does; a least-squares line through 0 would
    take unrelated values for a darker exposure), kept only when it differs from 1 by more than
    :data:`SIGNIFICANCE` standard errors."""
    keep = np.ones(x.shape, bool)
    params = IDENTITY
    for _ in range(3):
        xs, ys = x[keep], y[keep]
        if xs.size < MIN_PIXELS:
            return params
        if not offset or xs.std() < MIN_SPREAD:
            gain = float(ys.sum()) / max(float(xs.sum()), 1e-12)
            error = float(np.std(ys - gain * xs)) / (max(float(xs.mean()), 1e-12) * np.sqrt(xs.size))
            params = np.array([gain if abs(gain - 1.0) > SIGNIFICANCE * error else 1.0, 0.0])
        else:
            params = np.polyfit(xs, ys, 1)
        residual = y - (params[0] * x + params[1])
        spread = 1.4826 * np.median(np.abs(residual[keep])) + 1e-4
        keep = np.abs(residual) <= TRIM_SIGMAS * spread
    return params


def estimate_exposure(reference: np.ndarray, image: np.ndarray, offset: bool = True) -> np.ndarray:
    """Gain and offset per channel that map ``image`` onto ``reference``'s exposure.

    Parameters
    ----------
    reference : ndarray
        The reference frame: gray (H, W) or RGB (H, W, 3); uint8, uint16 or float in 0..1; or
        its :func:`thumbnail`.
    image : ndarray
        Another frame of the same scene, same size and channels, possibly focused elsewhere.
    offset : bool
        Fit an offset as well as a gain (False: gain alone, offset 0; the fusion uses that:
        exposure and colour balance are gains, and the offset's extra freedom fitted a few
        percent of false correction to two of the Lytro pairs, which share one exposure).

    Returns
    -------
    ndarray
        float64 (C, 2): per channel ``(gain, offset)`` with ``reference ~ gain * image + offset``
        (values in 0..1). Frames too small, flat, dark or clipped to tell give ``(1, 0)``, and so
        do gains alone all under :data:`NEGLIGIBLE` when no channel's flat pixels agree on its
        gain (:func:`consistency` at most :data:`CONSISTENCY`).

    Examples
    --------
    >>> ref = np.tile(np.linspace(0.05, 0.95, 200), (200, 1))  # a smooth shading
    >>> other = (ref - 0.02) / 0.8  # darker by a gain of 0.8 and an offset of 0.02
    >>> np.round(estimate_exposure(ref, other.clip(0, 1)), 3).tolist()
    [[0.8, 0.02]]
    """
    samples = _flat_samples(reference, image)
    params = np.tile(IDENTITY, (len(samples), 1))
    for c, sample in enumerate(samples):
        if sample is not None:
            params[c] = _fit(sample[0].astype(np.float64), sample[1].astype(np.float64), offset)
    if not offset and np.all(np.abs(params[:, 0] - 1.0) <= NEGLIGIBLE) and _agreement(samples) <= CONSISTENCY:
        return np.tile(IDENTITY, (len(samples), 1))  # small, and the flat pixels do not agree on it
    return params


def _flat_samples(reference: np.ndarray, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per channel, the values ``(image, reference)`` of the thumbnails' pixels that a blur
    changes least in both and that are away from clipping (:data:`FLAT_SHARE` of them); None
    for a channel with fewer than :data:`MIN_PIXELS` unclipped pixels."""
    ref, img = thumbnail(reference), thumbnail(image)
    luma = lambda x: x.mean(axis=2)  # noqa: E731 - flatness only: channel weights do not matter
    rough = np.maximum(_blur_change(luma(ref)), _blur_change(luma(img)))
    samples: list[tuple[np.ndarray, np.ndarray] | None] = []
    for c in range(ref.shape[2]):
        x, y = img[..., c], ref[..., c]
        usable = (x > CLIP_MARGIN) & (x < 1 - CLIP_MARGIN) & (y > CLIP_MARGIN) & (y < 1 - CLIP_MARGIN)
        if usable.sum() < MIN_PIXELS:
            samples.append(None)
            continue
        flat = usable & (rough <= np.quantile(rough[usable], FLAT_SHARE))
        samples.append((x[flat], y[flat]))
    return samples


def _agreement(samples: list[tuple[np.ndarray, np.ndarray] | None]) -> float:
    """The largest :func:`consistency` of the channels' flat pixels (0 with none)."""
    return max((consistency(*sample) for sample in samples if sample is not None), default=0.0)


def agreement(reference: np.ndarray, image: np.ndarray) -> float:
    """How much the flat pixels of ``image`` agree on one gain onto ``reference``: the largest
    :func:`consistency` over the channels. :func:`estimate_exposure` applies gains under
    :data:`NEGLIGIBLE` only when this is over :data:`CONSISTENCY`.

    Examples
    --------
    >>> ref = np.tile(np.linspace(0.05, 0.95, 200), (200, 1))
    >>> agreement(ref, ref), agreement(ref, ref / 0.95) > CONSISTENCY
    (0.0, True)
    """
    return _agreement(_flat_samples(reference, image))


def consistency(x: np.ndarray, y: np.ndarray) -> float:
    """How consistently the pixel ratios ``y / x`` depart from 1: the distance of their median
    from 1 over their interquartile range (0 when the median is 1).

    An exposure change multiplies every pixel by one gain, so the ratios agree; what else moves
    a ratio of means (light spilled by a defocused object, noise) scatters them.

    Examples
    --------
    >>> x = np.linspace(0.2, 0.8, 1000)
    >>> consistency(x, 0.92 * x) > 100, consistency(x, x)
    (True, 0.0)
    >>> rng = np.random.default_rng(0); noisy = x * (1.02 + 0.1 * rng.standard_normal(1000))
    >>> bool(consistency(x, noisy) < 1.0)
    True
    """
    low, median, high = np.percentile(y / x, [25, 50, 75])
    if high > low:
        return float(abs(median - 1.0) / (high - low))
    return 0.0 if median == 1.0 else float("inf")


def apply_exposure(image: np.ndarray, params: np.ndarray) -> np.ndarray:
    """``gain * image + offset`` per channel, clipped to the valid range, in ``image``'s dtype.

    Integer images go through a lookup table per channel (one rounding); float images are
    computed directly.

    Examples
    --------
    >>> apply_exposure(np.array([[0, 100, 200]], np.uint8), np.array([[1.5, 0.0]])).tolist()
    [[0, 150, 255]]
    """
    if np.all(params == IDENTITY):
        return image
    channels = image.shape[2] if image.ndim == 3 else 1
    params = np.broadcast_to(params, (channels, 2))
    if image.dtype.kind == "f":
        out = image * params[:, 0].astype(image.dtype) + params[:, 1].astype(image.dtype)
        return np.clip(out.reshape(image.shape), 0.0, 1.0)
    top = np.iinfo(image.dtype).max
    levels = np.arange(top + 1, dtype=np.float64) / top
    luts = [from_float(np.clip(g * levels + o, 0.0, 1.0), image.dtype) for g, o in params]
    if image.ndim == 2:
        return luts[0][image]
    out = np.empty_like(image)
    for c in range(channels):
        out[..., c] = luts[c][image[..., c]]
    return out
