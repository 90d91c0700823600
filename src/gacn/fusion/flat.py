"""Flat areas: where no frame carries focus information, and how a decision can follow the surroundings.

In a region without texture (sky, a white wall, a defocused background) every frame's focus
measure is sensor noise, and a per-pixel choice there is a random patchwork: with the
slightest exposure difference between frames the patches show as blotches, and a depth map
becomes speckle. :func:`flat_mask` finds those pixels (the best frame's Laplacian energy no
higher than the noise's, :func:`noise_sigma`), and :func:`fill_from` interpolates values there
smoothly from those around (push-pull, a normalised convolution over every scale): a stack's
depth map becomes a surface across a flat area (:func:`gacn.fusion.cascade.decide_stack`).

References
----------
.. [1] J. Immerkær, "Fast noise variance estimation", Computer Vision and Image
   Understanding 64(2) (1996) 300-302.
.. [2] S. J. Gortler, R. Grzeszczuk, R. Szeliski, M. F. Cohen, "The Lumigraph", SIGGRAPH
   (1996) 43-54 (push-pull interpolation of scattered samples).
.. [3] H. Knutsson, C.-F. Westin, "Normalized and differential convolution", CVPR (1993) 515-523.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Immerkær's noise operator: the difference of two Laplacians, blind to planes and ramps.
_NOISE_KERNEL = np.float32([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])
#: Laplacian energy (:func:`gacn.fusion.measure.focus_measure`) of white noise of standard
#: deviation 1: the 4-neighbour Laplacian's weights squared (1 + 1 + 1 + 1 + 16).
LAPLACIAN_GAIN = 20.0
#: A pixel is flat when its best frame's energy is below this many times the noise's.
FLAT_FACTOR = 3.0
#: Noise floor (0..1 scale): a grey level of an 8-bit file, rounding included, is never below it.
MIN_NOISE = 0.5 / 255.0
#: Below the noise, a pixel whose second-best frame has, around it, less than this share of the
#: best one's energy is still decided by focus (the ratio of a close call of the fast path; a
#: blur of a pixel or two takes more than half of a fine texture's Laplacian energy).
AGREE_RATIO = 0.5
#: Gaussian sigma (pixels) over which the energies are averaged for that ratio.
AGREE_SIGMA = 4.0
#: Textured specks of fewer pixels than this inside a flat area are noise peaks, and flat too (a
#: real detail, even a thin line, spans more pixels of focus energy).
SPECK_AREA = 16
#: Most pixels :func:`noise_sigma` reads (an even subsample of bigger images).
NOISE_SAMPLE = 1_000_000
#: The fill is interpolated on a grid this many times coarser than the image (flat areas are
#: smooth by definition; this keeps its memory at a sixteenth of a map).
FILL_STEP = 4


def noise_sigma(gray: np.ndarray) -> float:
    """Standard deviation of the noise of a gray image (0..1 scale), robust to its texture.

    Immerkær's operator removes the image's planes and ramps; the median of its absolute
    response (instead of the mean) is not moved by the edges and texture of up to half the
    image. Never below :data:`MIN_NOISE`; measured on a central window of at most
    :data:`NOISE_SAMPLE` pixels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ramp = np.tile(np.linspace(0, 1, 256, dtype=np.float32), (256, 1))
    >>> round(noise_sigma(ramp + rng.normal(0, 0.01, ramp.shape).astype(np.float32)), 3)
    0.01
    """
    h, w = gray.shape
    side = int(np.sqrt(NOISE_SAMPLE))  # a central window: noise is the same everywhere
    top, left = max((h - side) // 2, 0), max((w - side) // 2, 0)
    window = gray[top:top + side, left:left + side]
    response = cv2.filter2D(window, cv2.CV_32F, _NOISE_KERNEL)[1:-1, 1:-1]
    # the operator's response to white noise of sigma s has sigma 6 s; the median of |N(0, 1)| is 0.6745
    return max(float(np.median(np.abs(response))) / (6.0 * 0.6745), MIN_NOISE)


def flat_mask(best_energy: np.ndarray, sigma: float, second_energy: np.ndarray | None = None) -> np.ndarray:
    """The pixels where even the sharpest frame has no more Laplacian energy than its noise, and
    the frames' energies are close.

    Parameters
    ----------
    best_energy : ndarray
        float32 (H, W): the highest focus measure over the frames
        (:attr:`gacn.fusion.measure.Candidates.best`).
    sigma : float
        The frames' noise (:func:`noise_sigma`, 0..1 scale).
    second_energy : ndarray, optional
        float32 (H, W): the second-highest focus measure
        (:attr:`gacn.fusion.measure.Candidates.second`). Where, averaged over
        :data:`AGREE_SIGMA` (each capped at the flat threshold, so that the texture next to a
        flat area does not weigh in), it is under :data:`AGREE_RATIO` of the best, one frame is
        consistently sharper even below the noise level (fine texture that a blur removed), and
        the pixel is not flat; noise alone wins by chance, pixel by pixel, and averages out.

    Returns
    -------
    ndarray
        bool (H, W): True where the energy is below :data:`FLAT_FACTOR` times the noise's, and
        on textured specks of under :data:`SPECK_AREA` pixels (noise peaks) among such pixels.

    Examples
    --------
    >>> energy = np.zeros((12, 12), np.float32); energy[5, 5] = 1.0; energy[:, :4] = 1.0
    >>> flat = flat_mask(energy, 0.01)
    >>> bool(flat[5, 5]), bool(flat[0, 0]), float(flat.mean())
    (True, False, 0.6666666666666666)
    """
    threshold = FLAT_FACTOR * LAPLACIAN_GAIN * sigma * sigma
    flat = best_energy < threshold
    if second_energy is not None:
        smooth = lambda e: cv2.GaussianBlur(np.minimum(e, threshold), (0, 0), AGREE_SIGMA)  # noqa: E731
        flat &= smooth(second_energy) >= AGREE_RATIO * smooth(best_energy)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~flat).view(np.uint8), connectivity=8)
    speck = stats[:, cv2.CC_STAT_AREA] < SPECK_AREA
    speck[0] = False  # label 0: the flat pixels themselves
    if speck.any():
        flat |= speck[labels]
    return flat


def _push_pull(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted values averaged down a Gaussian pyramid until every cell has weight, then
    interpolated back up where a level's own weight falls short (Gortler et al.)."""
    levels = [(values * weight, weight)]
    while min(levels[-1][1].shape) > 1 and not (levels[-1][1] > 1e-6).all():
        vw, w = levels[-1]
        levels.append((cv2.pyrDown(vw), cv2.pyrDown(w)))
    vw, w = levels[-1]
    filled = vw / np.maximum(w, 1e-12)
    for vw, w in reversed(levels[:-1]):
        up = cv2.pyrUp(filled, dstsize=(w.shape[1], w.shape[0]))
        known = np.minimum(w, 1.0)
        filled = np.where(w > 1e-6, vw / np.maximum(w, 1e-12), 0.0) * known + up * (1.0 - known)
    return filled.astype(np.float32)


def fill_from(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Smooth interpolation of ``values`` at every pixel from the ``known`` ones.

    Each unknown pixel gets a normalised average of the known values around it, over a reach
    that grows with the distance to them (push-pull over a Gaussian pyramid), so a hole of
    any size is filled by a smooth surface that meets its rim. Known pixels keep their values.

    Parameters
    ----------
    values : ndarray
        float32 (H, W): the values (at unknown pixels they are ignored).
    known : ndarray
        bool (H, W): where ``values`` hold.

    Returns
    -------
    ndarray
        float32 (H, W); ``values`` unchanged where nothing is known.

    Examples
    --------
    >>> v = np.zeros((8, 32), np.float32); v[:, 24:] = 1.0
    >>> known = np.zeros((8, 32), bool); known[:, :4] = known[:, 28:] = True
    >>> row = fill_from(v, known)[4]
    >>> bool(row[0] == 0 and row[31] == 1 and np.all(np.diff(row) >= -1e-6))
    True
    """
    values = values.astype(np.float32, copy=False)
    if known.all() or not known.any():
        return values.copy()
    h, w = values.shape
    step = FILL_STEP if min(h, w) >= 16 * FILL_STEP else 1
    size = (max(1, -(-w // step)), max(1, -(-h // step)))
    weight = known.astype(np.float32)
    coarse_w = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    coarse_vw = cv2.resize(np.where(known, values, 0.0).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    coarse = _push_pull(coarse_vw / np.maximum(coarse_w, 1e-12), coarse_w)
    out = values.copy()
    unknown = ~known
    rows = np.flatnonzero(unknown.any(1))
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    band = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)[top:bottom] if step > 1 else coarse[top:bottom]
    np.copyto(out[top:bottom], band, where=unknown[top:bottom])
    return out


def fill_index(index: np.ndarray, unknown: np.ndarray) -> None:
    """Replace, in place, the ``unknown`` pixels of an integer map (a frame index per pixel) by
    the rounded smooth interpolation of the others (:func:`fill_from`). Nothing changes when no
    pixel, or every pixel, is unknown.

    Examples
    --------
    >>> index = np.zeros((8, 32), np.uint16); index[:, 24:] = 4
    >>> unknown = np.zeros((8, 32), bool); unknown[:, 4:28] = True
    >>> fill_index(index, unknown); index[4, ::4].tolist()
    [0, 0, 0, 2, 3, 3, 4, 4]
    """
    if unknown.any() and not unknown.all():
        filled = np.rint(fill_from(index.astype(np.float32), ~unknown)).astype(index.dtype)
        np.copyto(index, filled, where=unknown)
