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

Near white the per-channel model fails: clipping and a tone curve's shoulder push every channel
of a bright surface toward 1 whatever its colour balance, so gains that differ by channel would
tint a near-white surface (a white table turned lavender under gains of 0.67, 0.67, 0.77). A
darkening correction therefore fades to one neutral gain over the top of the range
(:data:`KNEE`), and a region taken from the other frame because this one clipped it gets a soft
edge (:func:`substitute_highlights`). The reference can be the frame that gives most of the
detail (:func:`focus_shares`), so that the least detail is rescaled.

References
----------
.. [1] M. Brown, D. G. Lowe, "Automatic panoramic image stitching using invariant features",
   IJCV 74(1) (2007) 59-73 (gain compensation between overlapping photos).
.. [2] P. J. Rousseeuw, A. M. Leroy, "Robust Regression and Outlier Detection", Wiley (1987)
   (trimmed least squares).
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from gacn.fusion.measure import Candidates, focus_measure
from gacn.io import LUMA, from_float, to_float

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

#: The soft knee: from the first value to the second (0..1, of a pixel's largest channel), a
#: darkening correction whose gains differ by channel fades (smoothstep) to the neutral gain
#: (the luma-weighted mean of the gains, which keeps a grey pixel's luma), so a near-white
#: surface that the frame did not quite clip stays neutral; it ends under the 0.98 at which
#: :meth:`gacn.fusion.frames.Frames.lost_highlights` takes the other frame's pixel, so the two
#: meet without a step.
KNEE = (0.85, 0.97)
#: The knee's weight follows a pixel's neighbourhood, not the pixel alone: its largest channel
#: is taken as the local maximum over a disc of this radius (pixels), smoothed by a Gaussian of
#: this sigma. Weighed pixel by pixel, a gain that moves by 0.09 over the 0.12 of the knee
#: turned the grain of a near-white surface over (a brighter pixel got a darker blue: up to 7
#: levels in the test of a near-white table); a weight that is smooth in space passes the grain
#: through at the local gain. The maximum carries the weight out to the rim of a bright surface.
KNEE_SIGMA = 2.0
#: Gaussian sigma (pixels) of the soft edge of a substituted highlight
#: (:func:`substitute_highlights`): the weight falls from 1 to 0 over about four sigmas outside
#: the lost pixels.
FEATHER = 2.0

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


def neutral_params(params: np.ndarray) -> np.ndarray | None:
    """The neutral correction that an RGB correction fades to near white (:data:`KNEE`): (1, 2),
    the luma-weighted mean of the channels' gains and offsets; None where there is no knee (not
    three channels, gains all equal, or none darkening).

    Examples
    --------
    >>> np.round(neutral_params(np.array([[0.67, 0.0], [0.67, 0.0], [0.77, 0.0]])), 3).tolist()
    [[0.681, 0.0]]
    >>> neutral_params(np.array([[1.2, 0.0], [1.1, 0.0], [1.3, 0.0]])) is None
    True
    """
    gains = params[:, 0]
    if len(params) != 3 or np.all(gains == gains[0]) or gains.min() >= 1.0:
        return None
    return (LUMA.astype(np.float64) @ params)[None]


def knee_weight(peak: np.ndarray) -> np.ndarray:
    """float32 0..1: how far a pixel whose :func:`knee_peak` is ``peak`` (0..1) has faded to the
    neutral correction: 0 up to ``KNEE[0]``, 1 from ``KNEE[1]``, a smoothstep between (no kink
    at either end).

    Examples
    --------
    >>> np.round(knee_weight(np.array([0.5, 0.91, 0.99])), 2).tolist()
    [0.0, 0.5, 1.0]
    """
    t = np.clip((np.asarray(peak, np.float32) - KNEE[0]) / (KNEE[1] - KNEE[0]), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def knee_peak(image: np.ndarray) -> np.ndarray:
    """(H, W) in ``image``'s dtype: the largest channel of an RGB image, as the local maximum
    over a disc of radius :data:`KNEE_SIGMA` smoothed by a Gaussian of that sigma (what the
    knee weighs: see :data:`KNEE_SIGMA`).

    Examples
    --------
    >>> img = np.zeros((9, 9, 3), np.uint8); img[4, 4, 2] = 250
    >>> int(knee_peak(img)[4, 4]), int(knee_peak(img)[4, 6]), int(knee_peak(img)[0, 0])
    (123, 91, 13)
    """
    radius = int(np.ceil(KNEE_SIGMA))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    peak = cv2.dilate(np.ascontiguousarray(image.max(axis=2)), disc, borderType=cv2.BORDER_REFLECT)
    return cv2.GaussianBlur(peak, (0, 0), KNEE_SIGMA, borderType=cv2.BORDER_REFLECT)


def _kneed(values: np.ndarray, peak: np.ndarray, params: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """float32 (N, 3): pixels ``values`` (float, 0..1) corrected by ``params`` faded to
    ``neutral`` by the :func:`knee_weight` of their ``peak`` (N,), clipped to 0..1."""
    w = knee_weight(peak)[:, None]
    gain, offset = params.T.astype(np.float32)
    neutral_gain, neutral_offset = neutral[0].astype(np.float32)
    out = values * (gain + w * (neutral_gain - gain)) + (offset + w * (neutral_offset - offset))
    return np.clip(out, 0.0, 1.0, out=out)


def apply_exposure(image: np.ndarray, params: np.ndarray) -> np.ndarray:
    """``gain * image + offset`` per channel, clipped to the valid range, in ``image``'s dtype;
    near white (:data:`KNEE`, weighed by :func:`knee_peak`), a darkening correction whose gains
    differ by channel fades to the neutral one (:func:`neutral_params`), so near-white stays
    neutral.

    Integer images go through a lookup table per channel (one rounding), and the pixels above
    the knee are computed again directly; float images are computed directly.

    Examples
    --------
    >>> apply_exposure(np.array([[0, 100, 200]], np.uint8), np.array([[1.5, 0.0]])).tolist()
    [[0, 150, 255]]
    >>> apply_exposure(np.full((1, 1, 3), 250, np.uint8), np.array([[0.67, 0], [0.67, 0], [0.77, 0]])).tolist()
    [[[170, 170, 170]]]
    """
    if np.all(params == IDENTITY):
        return image
    channels = image.shape[2] if image.ndim == 3 else 1
    params = np.broadcast_to(params, (channels, 2))
    neutral = neutral_params(params)
    if image.dtype.kind == "f":
        if neutral is not None:
            peak = knee_peak(image).reshape(-1)
            return _kneed(image.reshape(-1, 3), peak, params, neutral).astype(image.dtype).reshape(image.shape)
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
    if neutral is not None:
        peak = knee_peak(image)
        high = peak > KNEE[0] * top
        if high.any():
            values, peaks = image[high].astype(np.float32) / top, peak[high].astype(np.float32) / top
            out[high] = from_float(_kneed(values, peaks, params, neutral), image.dtype)
    return out


def feather(mask: np.ndarray) -> np.ndarray:
    """float32 (H, W) 0..1: 1 on ``mask`` and falling smoothly to 0 over about 4 :data:`FEATHER`
    pixels outside it (the mask grown by 2 sigmas, then blurred): a soft edge that leaves the
    masked pixels whole.

    Examples
    --------
    >>> m = np.zeros((1, 15), bool); m[0, :3] = True
    >>> np.round(feather(m)[0] * 100).astype(int).tolist()
    [100, 100, 100, 96, 90, 78, 60, 40, 22, 10, 4, 1, 0, 0, 0]
    """
    grow = int(np.ceil(2 * FEATHER))
    grown = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    soft = cv2.GaussianBlur(grown.astype(np.float32), (0, 0), FEATHER, borderType=cv2.BORDER_REFLECT)
    soft[soft < 1e-3] = 0.0  # the Gaussian's far tail: exactly untouched there
    return np.maximum(soft, mask, out=soft)


def substitute_highlights(decision: np.ndarray, lost0: np.ndarray, lost1: np.ndarray) -> np.ndarray:
    """A pair's weight of frame 0 with each frame's lost highlights taken from the other frame,
    with a soft edge.

    Where one frame clipped its highlights and matching darkened them
    (:meth:`gacn.fusion.frames.Frames.lost_highlights`), the other frame's pixel is the better
    one. A hard switch there shows its edge wherever the frames differ in tone near white (a
    tone curve's shoulder, the knee of :func:`apply_exposure`), so the weight moves toward the
    other frame by the :func:`feather` of the lost pixels: all the way on them, less and less
    over a few pixels around.

    Parameters
    ----------
    decision : ndarray
        float32 (H, W): the weight of frame 0 as decided by focus.
    lost0, lost1 : ndarray
        bool (H, W): where frame 0 / frame 1 lost its highlights. Where both did, the decision
        stands.

    Returns
    -------
    ndarray
        float32 (H, W): the new weight of frame 0 (1 where only frame 1 lost its highlights, 0
        where only frame 0 did).

    Examples
    --------
    >>> lost = np.zeros((1, 20), bool); lost[0, :2] = True
    >>> d = substitute_highlights(np.zeros((1, 20), np.float32), np.zeros_like(lost), lost)
    >>> bool(d[0, 0] == 1.0 and d[0, -1] == 0.0 and np.all(np.diff(d[0]) <= 0))
    True
    """
    push = feather(lost1) - feather(lost0)  # > 0: toward frame 0, whose highlights survive
    return decision + np.maximum(push, 0.0) * (1.0 - decision) - np.maximum(-push, 0.0) * decision


def focus_shares(thumbnails: Iterable[np.ndarray]) -> np.ndarray:
    """Each frame's share of the detail of the fused image: a cheap estimate, before any
    decision, of how much each frame will give.

    The focus measure (:func:`gacn.fusion.measure.focus_measure`) of each frame's luma, divided
    by its mean first (the measure grows with an exposure gain squared); where a frame's is the
    highest of the frames', its value counts to that frame's share. Weighed by the detail and
    not counted by pixels, since what matching rescales shows where there is detail: on the 10
    first Lytro pairs with source 2 at gain 0.93, the frame with the most detail was the
    reference with the higher Q_M in 9 (the 10th a tie), the frame with the most pixels in 4.
    Frames stream (:class:`gacn.fusion.measure.Candidates`): memory does not grow with their number.

    Parameters
    ----------
    thumbnails : iterable of ndarray
        Each frame's :func:`thumbnail` (float32 (h, w, C)), in frame order.

    Returns
    -------
    ndarray
        float64 (N,): the shares, summing to 1.

    Examples
    --------
    >>> rng = np.random.default_rng(0); sharp = rng.random((64, 64, 1)).astype(np.float32)
    >>> soft = cv2.GaussianBlur(sharp, (0, 0), 2.0)[..., None]
    >>> focus_shares([soft, 0.5 * sharp]).tolist()
    [0.0, 1.0]
    """
    candidates: Candidates | None = None
    for k, thumb in enumerate(thumbnails):
        luma = thumb @ LUMA if thumb.shape[2] == 3 else thumb[..., 0]
        energy = focus_measure(np.ascontiguousarray(luma / max(float(luma.mean()), 1e-6), dtype=np.float32))
        if candidates is None:
            candidates = Candidates(energy.shape)
        candidates.update(k, energy)
    assert candidates is not None
    weights = candidates.best.astype(np.float64).ravel()
    return (np.bincount(candidates.best_index.ravel(), weights, minlength=candidates.seen)
            / max(float(weights.sum()), 1e-12))
