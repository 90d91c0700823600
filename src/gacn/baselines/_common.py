"""Helpers shared by the classical baselines (not public API)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gacn.io import LUMA, from_float


def luma(x: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of a float (H, W) or (H, W, 3) array (returned unchanged when gray)."""
    return x @ LUMA if x.ndim == 3 else x


def per_pixel(weight: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``weight`` (H, W) broadcastable against ``like`` (H, W) or (H, W, C)."""
    return weight[..., None] if like.ndim == 3 else weight


def to_dtype(fused: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Clip a float fusion to 0..1 and convert it to ``dtype``."""
    return from_float(np.clip(fused, 0.0, 1.0), dtype)


def vote_map(masks: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Mean of binary choice masks of any sizes, each resized (bilinear) to ``shape``.

    The fraction of the (multiscale) coefficients near a pixel that came from source 1: the
    decision map of a transform-domain fusion, float32 in 0..1.
    """
    h, w = shape
    total = np.zeros((h, w), np.float32)
    for m in masks:
        total += cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(total / len(masks), 0.0, 1.0)
