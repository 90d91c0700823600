"""Naive classical fusion rules: the floor a learned model has to clear."""

from __future__ import annotations

import cv2
import numpy as np

from gacn.fusion.result import FusionResult, check_pair
from gacn.io import from_float, to_float, to_gray_float


def average(a: np.ndarray, b: np.ndarray) -> FusionResult:
    """Pixel average of two sources (decision map 0.5 everywhere).

    Examples
    --------
    >>> import numpy as np
    >>> int(average(np.zeros((8, 8), np.uint8), np.full((8, 8), 200, np.uint8)).image[0, 0])
    100
    """
    a, b = check_pair(a, b)
    half = np.full(a.shape[:2], 0.5, np.float32)
    fused = from_float(0.5 * (to_float(a) + to_float(b)), a.dtype)
    return FusionResult(image=fused, decision_map=half, raw_decision_map=half)


def laplacian_energy_selection(a: np.ndarray, b: np.ndarray, window: int = 15, median: int = 9) -> FusionResult:
    """Per-pixel choice of the source with the larger local Laplacian energy.

    The energy is the sum of the squared 3x3 Laplacian of the luma over a ``window`` x
    ``window`` box; the binary choice is cleaned with a ``median`` x ``median`` median filter.

    Parameters
    ----------
    a, b : ndarray
        Gray or RGB sources of the same size (uint8, uint16 or float in 0..1).
    window : int
        Side of the energy window.
    median : int
        Side of the median filter applied to the binary map (odd).

    Returns
    -------
    FusionResult
        ``decision_map`` is 1 where ``a`` was chosen.

    References
    ----------
    .. [1] W. Huang, Z. Jing, "Evaluation of focus measures in multi-focus image fusion",
       Pattern Recognition Letters 28(4) (2007) 493-500.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.random((40, 40)).astype(np.float32)
    >>> flat = np.full((40, 40), 0.5, np.float32)
    >>> float(laplacian_energy_selection(sharp, flat).decision_map.mean())
    1.0
    """
    a, b = check_pair(a, b)
    energies = []
    for x in (a, b):
        lap = cv2.Laplacian(to_gray_float(x), cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)
        energies.append(cv2.boxFilter(lap * lap, -1, (window, window), normalize=False,
                                      borderType=cv2.BORDER_REFLECT))
    choice = (energies[0] >= energies[1]).astype(np.uint8)
    choice = cv2.medianBlur(choice, median).astype(np.float32)
    w = choice[..., None] if a.ndim == 3 else choice
    fused = from_float(w * to_float(a) + (1 - w) * to_float(b), a.dtype)
    return FusionResult(image=fused, decision_map=choice, raw_decision_map=choice)
