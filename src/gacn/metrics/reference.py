"""Reference-based scores for synthetic data with a ground truth.

Simple numpy-in, float-out functions: :func:`psnr`, :func:`ssim`, :func:`map_accuracy`,
:func:`map_iou`. They accept 2-D gray or (H, W, C) arrays of any numeric dtype and do no
colour conversion (multi-channel SSIM is the mean over channels).
"""

from __future__ import annotations

import numpy as np

from ._common import gauss_valid

__all__ = ["default_data_range", "map_accuracy", "map_iou", "psnr", "ssim"]


def default_data_range(*arrays: np.ndarray) -> float:
    """Data range used when none is given.

    255 for uint8 (and bool), 65535 for uint16, the dtype's range for other integers; for
    floats 1.0 if every value lies in [0, 1], else 255.
    """
    dts = [np.asarray(x).dtype for x in arrays]
    if all(d == np.uint8 or d == np.bool_ for d in dts):
        return 255.0
    if all(d == np.uint16 for d in dts):
        return 65535.0
    if all(np.issubdtype(d, np.integer) for d in dts):
        info = np.iinfo(np.result_type(*dts))
        return float(info.max) - float(min(info.min, 0))
    lo = min(float(np.nanmin(x)) for x in arrays)
    hi = max(float(np.nanmax(x)) for x in arrays)
    return 1.0 if (lo >= 0.0 and hi <= 1.0) else 255.0


def _check(x: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    ref = np.asarray(ref)
    if x.shape != ref.shape:
        raise ValueError(f"shape mismatch: {x.shape} vs {ref.shape}")
    return x, ref


def psnr(x: np.ndarray, ref: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range² / MSE)``.

    Parameters
    ----------
    x, ref : arrays of the same shape.
    data_range : peak value range; ``None`` picks it from the dtype
        (see :func:`default_data_range`).

    Returns
    -------
    float
        ``inf`` for identical images. Range 0..inf; **higher is better**.
    """
    x, ref = _check(x, ref)
    if data_range is None:
        data_range = default_data_range(x, ref)
    d = x.astype(np.float64) - ref.astype(np.float64)
    mse = float(np.mean(d * d))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(float(data_range) ** 2 / mse))


def _ssim2d(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x = gauss_valid(x, 11, 1.5)
    mu_y = gauss_valid(y, 11, 1.5)
    s_xx = gauss_valid(x * x, 11, 1.5) - mu_x * mu_x
    s_yy = gauss_valid(y * y, 11, 1.5) - mu_y * mu_y
    s_xy = gauss_valid(x * y, 11, 1.5) - mu_x * mu_y
    m = ((2 * mu_x * mu_y + c1) * (2 * s_xy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (s_xx + s_yy + c2)
    )
    return float(np.mean(m))


def ssim(x: np.ndarray, ref: np.ndarray, data_range: float | None = None) -> float:
    """Mean structural similarity (Wang et al. 2004, ``ssim_index.m`` defaults).

    11x11 Gaussian window (σ = 1.5), K = (0.01, 0.03), statistics over the positions where
    the whole window fits ('valid'). For (H, W, C) inputs the mean over channels.

    Parameters
    ----------
    x, ref : arrays of the same shape, at least 11x11.
    data_range : ``L`` in the SSIM constants; ``None`` picks it from the dtype
        (see :func:`default_data_range`).

    Returns
    -------
    float
        Range -1..1; **higher is better**; 1 for identical images.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
    error visibility to structural similarity", IEEE TIP 13(4), 2004.
    """
    x, ref = _check(x, ref)
    if x.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D or (H, W, C) array, got shape {x.shape}")
    if x.shape[0] < 11 or x.shape[1] < 11:
        raise ValueError(f"SSIM needs images of at least 11x11, got {x.shape}")
    if data_range is None:
        data_range = default_data_range(x, ref)
    xf = x.astype(np.float64)
    rf = ref.astype(np.float64)
    if x.ndim == 2:
        return _ssim2d(xf, rf, float(data_range))
    return float(np.mean([_ssim2d(xf[..., c], rf[..., c], float(data_range)) for c in range(x.shape[2])]))


def _binarize(m: np.ndarray, threshold: float) -> np.ndarray:
    m = np.asarray(m)
    if m.dtype == np.bool_:
        return m
    return m.astype(np.float64) >= threshold


def map_accuracy(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> float:
    """Pixel accuracy of a decision map against the ground-truth map.

    Both maps are binarised as ``value >= threshold`` (boolean maps are used as they are), so
    a soft map in 0..1 (1 = take source A) can be passed directly.

    Returns
    -------
    float
        Fraction of pixels where the binarised maps agree. Range 0..1; **higher is better**.
    """
    p, t = _check(pred, truth)
    p = _binarize(p, threshold)
    t = _binarize(t, threshold)
    return float(np.mean(p == t))


def map_iou(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of the foreground (value >= threshold, i.e. "take A") region.

    Returns 1.0 when both binarised maps are empty. Range 0..1; **higher is better**.
    """
    p, t = _check(pred, truth)
    p = _binarize(p, threshold)
    t = _binarize(t, threshold)
    union = int(np.count_nonzero(p | t))
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & t) / union)
