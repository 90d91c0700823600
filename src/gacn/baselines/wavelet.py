"""Discrete wavelet transform fusion (Li, Manjunath & Mitra)."""

from __future__ import annotations

import cv2
import numpy as np
import pywt

from gacn.baselines._common import luma, per_pixel, to_dtype, vote_map
from gacn.fusion.result import FusionResult, check_pair
from gacn.io import to_float


def _activity(coeff: np.ndarray, window: int) -> np.ndarray:
    """Maximum absolute luma coefficient over a ``window`` x ``window`` neighbourhood."""
    act = np.abs(luma(coeff)).astype(np.float32)
    if window > 1:
        act = cv2.dilate(act, np.ones((window, window), np.uint8), borderType=cv2.BORDER_REFLECT)
    return act


def dwt_fusion(
    a: np.ndarray,
    b: np.ndarray,
    wavelet: str = "db2",
    levels: int = 4,
    window: int = 3,
    consistency: bool = True,
) -> FusionResult:
    """Fuse two sources in a 2-D discrete wavelet transform: max-abs detail, averaged approximation.

    Every detail coefficient (horizontal, vertical and diagonal sub-bands of every level) is
    taken from the source with the larger activity, the maximum absolute coefficient over a
    ``window`` x ``window`` neighbourhood (Li et al.'s area-based rule; ``window=1`` is the
    plain coefficient-wise max-abs). The binary choice of each sub-band is then cleaned by a
    3x3 majority filter (their consistency verification). The approximation sub-band is
    averaged. Decisions are made on the luma coefficients and applied to every colour channel;
    the transform uses PyWavelets' ``wavedec2`` (symmetric extension) and the result is cropped
    back to the input size.

    Parameters
    ----------
    a, b : ndarray
        Gray or RGB sources of the same size (uint8, uint16 or float in 0..1).
    wavelet : str
        A PyWavelets discrete wavelet name.
    levels : int
        Decomposition levels, reduced to ``pywt.dwt_max_level`` for small images (at least 1).
    window : int
        Side of the activity window (odd; 1 for coefficient-wise max-abs).
    consistency : bool
        Apply the 3x3 majority filter to each sub-band's choice.

    Returns
    -------
    FusionResult
        ``image`` has the dtype and channels of ``a``. ``decision_map`` is the fraction of the
        detail sub-bands in which source 1 won near each pixel (each choice mask resized to
        full size); it is a vote, not a blending weight. ``raw_decision_map`` is the mean of
        the three finest sub-band masks, resized.

    References
    ----------
    .. [1] H. Li, B. S. Manjunath, S. K. Mitra, "Multisensor image fusion using the wavelet
       transform", Graphical Models and Image Processing 57(3) (1995) 235-245.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.random((40, 50)).astype(np.float32)
    >>> flat = np.full((40, 50), 0.5, np.float32)
    >>> result = dwt_fusion(sharp, flat)
    >>> result.image.shape, bool(result.decision_map.mean() > 0.9)
    ((40, 50), True)
    """
    a, b = check_pair(a, b)
    fa, fb = to_float(a), to_float(b)
    h, w = a.shape[:2]
    n = max(1, min(levels, pywt.dwt_max_level(min(h, w), pywt.Wavelet(wavelet).dec_len)))
    ca = pywt.wavedec2(fa, wavelet, mode="symmetric", level=n, axes=(0, 1))
    cb = pywt.wavedec2(fb, wavelet, mode="symmetric", level=n, axes=(0, 1))
    fused: list = [0.5 * (ca[0] + cb[0])]
    masks: list[np.ndarray] = []
    for bands_a, bands_b in zip(ca[1:], cb[1:]):
        level = []
        for da, db in zip(bands_a, bands_b):
            choose_a = (_activity(da, window) >= _activity(db, window)).astype(np.uint8)
            if consistency:
                choose_a = cv2.medianBlur(choose_a, 3)
            masks.append(choose_a)
            level.append(np.where(per_pixel(choose_a.astype(bool), da), da, db))
        fused.append(tuple(level))
    image = pywt.waverec2(fused, wavelet, mode="symmetric", axes=(0, 1))[:h, :w]
    return FusionResult(image=to_dtype(image.astype(np.float32), a.dtype),
                        decision_map=vote_map(masks, (h, w)),
                        raw_decision_map=vote_map(masks[-3:], (h, w)))
