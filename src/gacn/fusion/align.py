"""Aligning the frames of a focus stack: ECC affine registration against a reference frame.

Focus stacks shift and, with most lenses, change scale from frame to frame ("focus
breathing"). Each frame is registered to a reference frame (the middle one by default) with
OpenCV's enhanced-correlation-coefficient (ECC) maximisation under an affine model (shift,
scale, rotation, shear), coarse to fine on downscaled copies, and warped with bilinear
interpolation. :func:`common_box` gives the rectangle that every warped frame covers, so the
output can be cropped to pixels seen by all frames.

A registered stack (tripod, microscope stage, synthetic) stays untouched: the exact identity
is returned, so the frame is not resampled (a bilinear warp softens it) and nothing is
cropped, wherever the estimated motion is not trusted. ECC always finds some motion: a little
noise (under :data:`STILL_PX`), and on weakly textured photos a bias of up to a pixel, because
the frames differ in defocus and ECC explains part of that difference (the blurred shading of
large flat areas, say) with a small shift and change of scale. That bias depends on the scale
the frames are compared at, whereas a real motion is the same at every scale, so the change of
the estimate between the coarsest pyramid level and the finest one measures how far it can be
trusted: a motion not :data:`TRUST` times larger than that change is taken for none. Real
focus breathing (a stage or lens moving the image by a few pixels or more from frame to
frame) is 15 to 70 times larger than that change, and is registered as before. The estimated
motion of every frame is logged at INFO (``gacn fuse -v``).

References
----------
.. [1] G. D. Evangelidis, E. Z. Psarakis, "Parametric image alignment using enhanced
   correlation coefficient maximization", IEEE TPAMI 30(10) (2008) 1858-1865.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

#: Working resolutions (longest side) of the coarse-to-fine ECC.
LEVELS = (256, 1024)
#: Largest ratio of the coarsest level's size to the finest one's (smaller frames start lower,
#: down to 64 px), so that the two levels see the defocus at clearly different scales.
COARSE_RATIO = 0.4
#: Largest plausible change of scale and shift (fraction of the image) between two frames.
MAX_SCALE_CHANGE = 0.2
MAX_SHIFT = 0.15
#: Largest motion (pixels, anywhere in the frame) treated as none: the frame is not warped.
STILL_PX = 0.15
#: A motion is trusted (the frame warped) only where it is this many times larger than the
#: change of the estimate from the coarsest level to the finest (see the module's notes).
TRUST = 3.0
_IDENTITY = np.eye(2, 3, dtype=np.float32)


def max_motion(matrix: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest displacement (pixels) that an affine transform gives a pixel of a (H, W) frame.

    The displacement ``A @ [x, y, 1] - [x, y]`` is affine in (x, y), so its largest length
    over the frame is at a corner.

    Examples
    --------
    >>> max_motion(np.array([[1, 0, 0.5], [0, 1, 0]], np.float32), (10, 20))
    0.5
    """
    return _corner_distance(matrix, _IDENTITY, shape)


def _corner_distance(a: np.ndarray, b: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest distance (pixels) between where two affine transforms send a pixel of a (H, W) frame.

    The difference of two affine maps is affine, so its largest length is at a corner.
    """
    h, w = shape
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float64)
    diff = corners @ (a.astype(np.float64) - b.astype(np.float64)).T
    return float(np.linalg.norm(diff, axis=1).max())


def _resized(gray: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    s = min(1.0, side / max(gray.shape))
    if s == 1.0:
        return gray, 1.0
    size = (max(int(round(gray.shape[1] * s)), 8), max(int(round(gray.shape[0] * s)), 8))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), s


def estimate_transform(reference: np.ndarray, moving: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Affine transform that maps ``reference`` pixel coordinates to ``moving`` ones.

    Parameters
    ----------
    reference, moving : ndarray
        float32 gray images in 0..1, same shape (H, W).
    iterations : int
        ECC iterations per pyramid level.

    Returns
    -------
    ndarray
        float32 (2, 3) matrix A with ``moving(A @ [x, y, 1]) ~ reference(x, y)``. The exact
        identity when ECC does not converge, finds an implausible motion (scale change over
        20 %, shift over 15 % of the image), moves no pixel by more than :data:`STILL_PX`, or
        moves none by more than :data:`TRUST` times the change of the estimate from the
        coarsest pyramid level to the finest (a defocus bias, not a motion).

    References
    ----------
    .. [1] G. D. Evangelidis, E. Z. Psarakis, IEEE TPAMI 30(10) (2008) 1858-1865.

    Examples
    --------
    >>> g = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> g = cv2.GaussianBlur(g, (0, 0), 2)
    >>> np.round(estimate_transform(g, np.roll(g, 2, axis=1)))[:, 2]
    array([2., 0.], dtype=float32)
    >>> estimate_transform(g, g).tolist() == np.eye(2, 3).tolist()
    True
    """
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
    prev_s = None
    coarse = None
    sides = [min(side, max(reference.shape)) for side in LEVELS]
    sides[0] = min(sides[0], max(round(COARSE_RATIO * sides[-1]), min(64, sides[-1])))
    for side in sides:
        ref, s = _resized(reference, side)
        mov, _ = _resized(moving, side)
        if prev_s is not None:
            warp[:, 2] *= s / prev_s
        try:
            _, warp = cv2.findTransformECC(ref, mov, warp, cv2.MOTION_AFFINE, criteria, None, 5)
        except cv2.error:
            logger.info("align: ECC did not converge; frame not warped")
            return _IDENTITY.copy()
        prev_s = s
        if coarse is None:
            coarse = warp.copy()
            coarse[:, 2] /= s
    warp[:, 2] /= prev_s
    scale = np.sqrt(abs(np.linalg.det(warp[:, :2])))
    motion = max_motion(warp, reference.shape)
    spread = _corner_distance(warp, coarse, reference.shape)
    if abs(scale - 1) > MAX_SCALE_CHANGE or np.abs(warp[:, 2]).max() > MAX_SHIFT * max(reference.shape):
        logger.info("align: implausible motion (up to %.1f px, scale %.4f); frame not warped", motion, scale)
        return _IDENTITY.copy()
    if motion <= STILL_PX:
        logger.info("align: estimated motion up to %.3f px (<= %.2f px): registered, frame not warped",
                    motion, STILL_PX)
        return _IDENTITY.copy()
    if motion <= TRUST * spread:
        logger.info("align: estimated motion up to %.2f px, but the estimate changes by %.2f px between "
                    "pyramid levels (defocus bias): registered, frame not warped", motion, spread)
        return _IDENTITY.copy()
    logger.info("align: estimated motion up to %.2f px (shift %.2f, %.2f px, scale %.5f; changes by %.2f px "
                "between pyramid levels); frame warped", motion, warp[0, 2], warp[1, 2], scale, spread)
    return warp.astype(np.float32)


def warp_image(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Resample ``image`` onto the reference grid: ``out(x) = image(matrix @ [x, 1])``.

    Bilinear interpolation; pixels that fall outside the frame repeat its border (see
    :func:`common_box` to crop them). The dtype and channels are kept.

    Examples
    --------
    >>> im = np.arange(20, dtype=np.uint8).reshape(4, 5)
    >>> warp_image(im, np.eye(2, 3, dtype=np.float32)).tolist() == im.tolist()
    True
    """
    if np.array_equal(matrix, np.eye(2, 3, dtype=matrix.dtype)):
        return image
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def common_box(matrices: list[np.ndarray], shape: tuple[int, int]) -> tuple[slice, slice]:
    """The axis-aligned rectangle of the reference grid that every warped frame covers.

    Parameters
    ----------
    matrices : list of ndarray
        The (2, 3) transforms of :func:`estimate_transform`, one per frame.
    shape : tuple of int
        (H, W) of the frames.

    Returns
    -------
    tuple of slice
        Rows and columns to keep.

    Examples
    --------
    >>> shift = np.array([[1, 0, 3.5], [0, 1, -2]], np.float32)
    >>> common_box([np.eye(2, 3, dtype=np.float32), shift], (50, 60))
    (slice(2, 50, None), slice(0, 56, None))
    """
    h, w = shape
    x0, y0, x1, y1 = 0.0, 0.0, float(w - 1), float(h - 1)
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)
    for m in matrices:
        inv = cv2.invertAffineTransform(m.astype(np.float64))
        q = corners @ inv[:, :2].T + inv[:, 2]
        x0, x1 = max(x0, q[0, 0], q[2, 0]), min(x1, q[1, 0], q[3, 0])
        y0, y1 = max(y0, q[0, 1], q[1, 1]), min(y1, q[2, 1], q[3, 1])
    r0, r1 = int(np.ceil(y0 - 1e-6)), int(np.floor(y1 + 1e-6)) + 1
    c0, c1 = int(np.ceil(x0 - 1e-6)), int(np.floor(x1 + 1e-6)) + 1
    if r1 - r0 < 8 or c1 - c0 < 8:
        return slice(0, h), slice(0, w)
    return slice(r0, r1), slice(c0, c1)
