"""What a fusion returns, and the checks and blend every fusion shares, without the network.

Kept apart from :mod:`gacn.fusion.pair` so that the steps that need no network (the fast
path's cheap measure, the classical baselines) import neither torch nor the model: about a
second at start-up, which a stack the cheap measure settles alone never pays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from gacn.io import InputError, from_float, normalize_layout, to_float


@dataclass
class FusionResult:
    """The outcome of a fusion.

    Attributes
    ----------
    image : ndarray
        The fused image, with the dtype and channels of the first input.
    decision_map : ndarray
        float32 in 0..1, shape (H, W): the weight of source 1 per pixel, after the boundary
        guided filter and the boundary refinement (the map the image was blended with).
    raw_decision_map : ndarray
        float32 in 0..1, the network's map before the boundary guided filter.
    timings : dict
        Seconds spent per stage.
    index_map : ndarray or None
        uint16 (H, W): the index of the source each pixel comes from (0 = first); for a focus
        stack, a depth map. Set by N-image fusion (:func:`gacn.fusion.stack.fuse_stack`).
    confidence : ndarray or None
        float32 0..1 (H, W): how clearly the chosen source won its comparisons (0 where focus
        did not decide: flat areas decided from their surroundings).
    raw_index_map : ndarray or None
        uint16 (H, W): ``index_map`` as measured, before the flat areas were decided from their
        surroundings and specks removed.
    exposure : list of ndarray or None
        Per frame, the exposure correction the fusion applied before deciding and blending: a
        (channels, 2) array of gain and offset per channel (:func:`gacn.fusion.exposure.apply_exposure`;
        gain 1 and offset 0 where none). None when frames were not matched. Whoever paints
        frames over the result (the web app's retouching) applies the same correction.
    depth_map : ndarray or None
        uint16 (H, W): ``index_map`` as a height map. In a stack of the fast path, where the
        focus measure does not single out a frame (flat or faintly textured areas), the index
        follows the decisive pixels around (:func:`gacn.fusion.depth.regularise_depth`) instead
        of the noise, and small islands of one depth are filled from around them
        (:func:`gacn.fusion.depth.remove_speckles`); elsewhere, and for pairs, it is ``index_map``.

    For more than two sources (see :func:`gacn.fusion.stack.fuse_stack`), ``decision_map`` is
    the weight of the source in ``index_map`` in the blend and ``raw_decision_map`` the index
    map before smoothing, scaled to 0..1.
    """

    image: np.ndarray
    decision_map: np.ndarray
    raw_decision_map: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    index_map: np.ndarray | None = None
    confidence: np.ndarray | None = None
    raw_index_map: np.ndarray | None = None
    depth_map: np.ndarray | None = None
    exposure: list[np.ndarray] | None = None


#: Pairs up to this many pixels are fused in one piece (:func:`fuse_pair`); bigger ones in tiles.
#: At 640x640 the lean path's peak is about 280 MB above the loaded model; a 520x520 Lytro
#: pair peaks at 467 MB for the whole process.
UNTILED_PIXELS = 640 * 640


def check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate two sources: supported layout and dtype, same height, width and channels."""
    a = normalize_layout(np.asarray(a), "image 1")
    b = normalize_layout(np.asarray(b), "image 2")
    if a.shape[:2] != b.shape[:2]:
        raise InputError(f"image sizes differ: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")
    if a.ndim != b.ndim:
        raise InputError("one image is gray and the other colour: convert them to the same kind")
    if min(a.shape[:2]) < 8:
        raise InputError(f"images are too small ({a.shape[1]}x{a.shape[0]}); at least 8x8 pixels are needed")
    return a, b


#: Rows per strip in :func:`mix`.
MIX_ROWS = 256


def mix(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``weight * a + (1 - weight) * b`` per pixel (every channel), in ``a``'s dtype.

    Two 8-bit images go through OpenCV's one-pass blend (``cv2.blendLinear``, 0.07 s for a 24 MP
    RGB pair, against 0.56 s in numpy strips); it divides by ``1 + 1e-5``, which moves the
    rounded value by one grey level on about one pixel in a thousand of those actually mixed.
    Other dtypes are mixed in strips of :data:`MIX_ROWS` rows, exactly.

    Examples
    --------
    >>> mix(np.zeros((1, 2), np.uint8), np.full((1, 2), 200, np.uint8), np.float32([[1, 0.5]])).tolist()
    [[0, 100]]
    """
    weight = np.ascontiguousarray(weight, np.float32)
    if a.dtype == np.uint8 and b.dtype == np.uint8:
        return cv2.blendLinear(np.ascontiguousarray(a), np.ascontiguousarray(b), weight, 1.0 - weight)
    out = np.empty(a.shape, a.dtype)
    for y0 in range(0, a.shape[0], MIX_ROWS):  # in strips: no full-size float temporaries
        rows = slice(y0, y0 + MIX_ROWS)
        fa, fb = to_float(a[rows]), to_float(b[rows])
        w = weight[rows, :, None] if fa.ndim == 3 else weight[rows]
        out[rows] = from_float(w * fa + (1.0 - w) * fb, a.dtype)
    return out
