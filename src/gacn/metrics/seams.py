"""The flat-area seam ratio: how visible the fused image's seams are where no source has texture.

Where a region is flat in every source (sky, a white wall, a grey studio background), the focus
measures carry no information; a fusion that switches between sources there in patches shows each
patch edge as soon as the sources' exposures differ ("blotches"). Such edges raise the fused
image's gradient over pixels where neither source has any, which is what this metric measures.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["FLAT_STD", "FLAT_WINDOW", "MIN_FLAT_FRACTION", "flat_mask", "gradient_magnitude", "seam_ratio"]

#: Side of the square window of the local standard deviation that decides flatness.
FLAT_WINDOW = 9

#: A pixel is flat when its local standard deviation of luma is below this (8-bit grey levels).
FLAT_STD = 2.0

#: The ratio is undefined (NaN) when fewer than this fraction of the pixels are flat in both sources.
MIN_FLAT_FRACTION = 0.01


def _local_std(gray: np.ndarray) -> np.ndarray:
    """Standard deviation over the ``FLAT_WINDOW`` square around each pixel (borders mirrored)."""
    size = (FLAT_WINDOW, FLAT_WINDOW)
    mean = cv2.blur(gray, size, borderType=cv2.BORDER_REFLECT_101)
    mean_sq = cv2.blur(gray * gray, size, borderType=cv2.BORDER_REFLECT_101)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def flat_mask(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The pixels flat in both sources: 9×9 local standard deviation below 2 grey levels in each.

    Parameters
    ----------
    a, b : ndarray
        Gray float64 images in 0..255 of the same shape (see :func:`gacn.metrics.to_gray`).

    Returns
    -------
    ndarray
        bool, the shape of the sources.

    Examples
    --------
    >>> a = np.full((20, 20), 100.0); a[:, 10:] = 200.0   # one edge
    >>> mask = flat_mask(a, a)
    >>> bool(mask[10, 2]), bool(mask[10, 10])
    (True, False)
    """
    return (_local_std(a) < FLAT_STD) & (_local_std(b) < FLAT_STD)


def gradient_magnitude(gray: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude ``hypot(gx, gy)`` of a gray float64 image (3×3 kernels, unnormalised:
    a ramp of slope s grey levels per pixel gives 8 s; borders mirrored, so a border adds no edge)."""
    gx = cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101)
    gy = cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101)
    return np.hypot(gx, gy)


def seam_ratio(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Flat-area seam ratio SEAM of the fused image ``f`` from the sources ``a`` and ``b``.

    The mean Sobel gradient magnitude of ``f`` over the pixels flat in both sources (9×9 local
    standard deviation of luma below 2 grey levels on the 8-bit scale, :func:`flat_mask`),
    divided by the larger of the two sources' mean gradient magnitude over the same pixels::

        SEAM = mean(|∇F|[flat]) / max(mean(|∇A|[flat]), mean(|∇B|[flat]))

    A fusion that takes the flat areas from either source, or blends them smoothly, keeps their
    gradient (noise and gentle shading) and scores about 1; every visible step where the fusion
    switches between sources of different exposure inside a flat area adds gradient and raises
    the ratio. Values below 1 mean the fused image is smoother there than either source (e.g.
    averaging lowers noise). The mean gradient sums the change across an edge, so it measures a
    blotch's depth rather than the sharpness of its edge: one monotone step spread smoothly over
    a flat area scores as the hard step, while a small blotch blended softly (it never reaches
    full depth) scores much lower.

    Parameters
    ----------
    a, b, f : ndarray
        Gray float64 images in 0..255 of the same shape (see :func:`gacn.metrics.to_gray`).

    Returns
    -------
    float
        The ratio; **lower is better**, about 1 for a clean fusion. NaN (undefined) when fewer
        than 1 % of the pixels are flat in both sources, or when the sources and the fused image
        are all exactly constant there (0/0); ``inf`` when the sources are exactly constant there
        and the fused image is not.

    References
    ----------
    The measure of gacn issue 15 ("No blotches"): exposure differences between frames, flat
    areas and clean depth maps. The Sobel operator: I. Sobel, G. Feldman, "A 3x3 isotropic
    gradient operator for image processing", Stanford AI Project, 1968.

    Examples
    --------
    A gentle ramp (slope 0.1 grey levels per pixel: flat) fused with a step of 6 grey levels in
    the middle; the step adds 4·6 to the Sobel response of two of the 62 inner columns:

    >>> ramp = np.tile(np.arange(64) * 0.1, (64, 1))
    >>> step = ramp + np.where(np.arange(64) >= 32, 6.0, 0.0)
    >>> round(seam_ratio(ramp, ramp, ramp), 6), round(seam_ratio(ramp, ramp, step), 6)
    (1.0, 1.967742)
    """
    mask = flat_mask(a, b)
    if mask.mean() < MIN_FLAT_FRACTION:
        return math.nan
    fused = float(gradient_magnitude(f)[mask].mean())
    source = max(float(gradient_magnitude(a)[mask].mean()), float(gradient_magnitude(b)[mask].mean()))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.float64(fused) / np.float64(source))
