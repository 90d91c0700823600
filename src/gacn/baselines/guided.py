"""Guided filtering based fusion, GFF (Li, Kang & Hu)."""

from __future__ import annotations

import cv2
import numpy as np

from gacn.baselines._common import luma, per_pixel, to_dtype
from gacn.fusion.result import FusionResult, check_pair
from gacn.io import to_float

_BORDER = cv2.BORDER_REFLECT


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1) x (2r+1) window, reflected at the border."""
    return cv2.blur(x, (2 * r + 1, 2 * r + 1), borderType=_BORDER)


def guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He, Sun & Tang's guided filter of a 2-D ``src`` by a gray (H, W) or colour (H, W, 3) guide.

    Box windows of side ``2r + 1`` (reflected at the border; ``r`` is reduced for images
    smaller than the window); the colour version solves the 3x3 local linear model per pixel.

    References
    ----------
    .. [1] K. He, J. Sun, X. Tang, "Guided image filtering", IEEE Transactions on Pattern
       Analysis and Machine Intelligence 35(6) (2013) 1397-1409.
    """
    r = max(1, min(r, min(src.shape[:2]) - 1))
    guide = guide.astype(np.float64)  # float64: eps can be 1e-6, below float32 box-sum error
    src = src.astype(np.float64)
    mean_p = _box(src, r)
    if guide.ndim == 2:
        mean_i = _box(guide, r)
        var_i = _box(guide * guide, r) - mean_i * mean_i
        cov_ip = _box(guide * src, r) - mean_i * mean_p
        coef_a = cov_ip / (var_i + eps)
        coef_b = mean_p - coef_a * mean_i
        return (_box(coef_a, r) * guide + _box(coef_b, r)).astype(np.float32)
    # Colour guide: per pixel, a = (Sigma + eps I)^-1 cov(I, p), with the symmetric 3x3 inverse
    # written out by cofactors (much faster than a batched solve).
    g = [np.ascontiguousarray(guide[..., c]) for c in range(3)]
    m = [_box(gc, r) for gc in g]
    cov = [_box(gc * src, r) - mc * mean_p for gc, mc in zip(g, m)]
    s = {(i, j): _box(g[i] * g[j], r) - m[i] * m[j] + (eps if i == j else 0.0)
         for i in range(3) for j in range(i, 3)}
    c00 = s[1, 1] * s[2, 2] - s[1, 2] ** 2
    c01 = s[0, 2] * s[1, 2] - s[0, 1] * s[2, 2]
    c02 = s[0, 1] * s[1, 2] - s[0, 2] * s[1, 1]
    c11 = s[0, 0] * s[2, 2] - s[0, 2] ** 2
    c12 = s[0, 1] * s[0, 2] - s[0, 0] * s[1, 2]
    c22 = s[0, 0] * s[1, 1] - s[0, 1] ** 2
    det = s[0, 0] * c00 + s[0, 1] * c01 + s[0, 2] * c02
    coef = [(c00 * cov[0] + c01 * cov[1] + c02 * cov[2]) / det,
            (c01 * cov[0] + c11 * cov[1] + c12 * cov[2]) / det,
            (c02 * cov[0] + c12 * cov[1] + c22 * cov[2]) / det]
    coef_b = mean_p - sum(ac * mc for ac, mc in zip(coef, m))
    out = _box(coef_b, r) + sum(_box(ac, r) * gc for ac, gc in zip(coef, g))
    return out.astype(np.float32)


def guided_filtering_fusion(
    a: np.ndarray,
    b: np.ndarray,
    average_size: int = 31,
    r1: int = 45,
    eps1: float = 0.3,
    r2: int = 7,
    eps2: float = 1e-6,
) -> FusionResult:
    """Guided filtering based fusion (GFF).

    Each source (float, 0..1) is split into a base layer (``average_size`` x ``average_size``
    mean filter) and a detail layer (the rest). The saliency of a source is the absolute 3x3
    Laplacian of its luma smoothed by an 11x11 Gaussian (r=5, sigma=5); the binary weight map
    of a source is 1 where its saliency is the largest. Each weight map is refined by a guided
    filter with the source itself as guide (the colour source for RGB images): ``r1``,
    ``eps1`` for the base-layer weights and ``r2``, ``eps2`` for the detail-layer weights. The
    refined weights are clipped to 0..1 and normalised to sum to 1, and base and detail layers
    are blended separately with their own weights and added.

    Parameters
    ----------
    a, b : ndarray
        Gray or RGB sources of the same size (uint8, uint16 or float in 0..1).
    average_size : int
        Side of the mean filter of the two-scale decomposition.
    r1, eps1 : int, float
        Guided filter radius and regularisation for the base-layer weights.
    r2, eps2 : int, float
        Guided filter radius and regularisation for the detail-layer weights.

    Returns
    -------
    FusionResult
        ``image`` has the dtype and channels of ``a``. ``decision_map`` is the normalised
        base-layer weight of source 1; ``raw_decision_map`` the binary saliency weight map of
        source 1 before refinement.

    References
    ----------
    .. [1] S. Li, X. Kang, J. Hu, "Image fusion with guided filtering", IEEE Transactions on
       Image Processing 22(7) (2013) 2864-2875.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.random((40, 50)).astype(np.float32)
    >>> flat = np.full((40, 50), 0.5, np.float32)
    >>> result = guided_filtering_fusion(sharp, flat)
    >>> result.image.shape, bool(result.decision_map.mean() > 0.9)
    ((40, 50), True)
    """
    a, b = check_pair(a, b)
    fa, fb = to_float(a), to_float(b)
    k = (average_size, average_size)
    base_a, base_b = cv2.blur(fa, k, borderType=_BORDER), cv2.blur(fb, k, borderType=_BORDER)
    sal = []
    for f in (fa, fb):
        lap = cv2.Laplacian(np.ascontiguousarray(luma(f)), cv2.CV_32F, ksize=1, borderType=_BORDER)
        sal.append(cv2.GaussianBlur(np.abs(lap), (11, 11), 5, borderType=_BORDER))
    p_a = (sal[0] >= sal[1]).astype(np.float32)
    p_b = 1.0 - p_a

    def normalised(w_a: np.ndarray, w_b: np.ndarray) -> np.ndarray:
        w_a, w_b = np.clip(w_a, 0.0, 1.0), np.clip(w_b, 0.0, 1.0)
        total = w_a + w_b
        return np.where(total > 1e-6, w_a / np.maximum(total, 1e-6), 0.5).astype(np.float32)

    wb = normalised(guided_filter(fa, p_a, r1, eps1), guided_filter(fb, p_b, r1, eps1))
    wd = normalised(guided_filter(fa, p_a, r2, eps2), guided_filter(fb, p_b, r2, eps2))
    wb_, wd_ = per_pixel(wb, fa), per_pixel(wd, fa)
    fused = wb_ * base_a + (1 - wb_) * base_b + wd_ * (fa - base_a) + (1 - wd_) * (fb - base_b)
    return FusionResult(image=to_dtype(fused, a.dtype), decision_map=wb, raw_decision_map=p_a)
