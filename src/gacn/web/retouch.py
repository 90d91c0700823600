"""Retouching a fused image: brush strokes that take their pixels from a chosen source frame.

A stroke is a polyline in full-resolution image pixels with a brush radius and a hardness.
Its coverage (alpha) is 1 within ``radius * hardness`` of the polyline and falls linearly to 0
at ``radius``, so a hard brush copies the frame exactly and a soft one feathers the edge. The
strokes are applied in order to the original fused image, which makes undo/redo a matter of
re-applying a shorter or longer list; the depth (index) map follows: a pixel whose coverage
reaches one half takes the stroke's frame index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from gacn.io import from_float, to_float


@dataclass(frozen=True)
class Stroke:
    """One brush stroke: take the pixels from ``frame`` along ``points``.

    Attributes
    ----------
    frame : int
        Index of the source frame (0 = first) whose pixels the stroke paints.
    points : tuple of (float, float)
        The brush path as (x, y) in full-resolution image pixels.
    radius : float
        Brush radius in image pixels.
    hardness : float
        0..1: the fraction of the radius painted at full strength.
    """

    frame: int
    points: tuple[tuple[float, float], ...]
    radius: float
    hardness: float = 1.0


def stroke_alpha(stroke: Stroke, shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
    """The coverage of ``stroke`` on an image of ``shape`` (H, W), inside its bounding box.

    Returns
    -------
    box : tuple of slice
        Rows and columns of the image the stroke touches (empty slices when it misses it).
    alpha : ndarray
        float32 0..1 coverage of the pixels in ``box``: 1 closer than ``radius * hardness``
        to the path, 0 from ``radius`` on.

    Examples
    --------
    >>> box, a = stroke_alpha(Stroke(0, ((5.0, 5.0),), radius=2), (10, 10))
    >>> box, int(a.sum())
    ((slice(3, 8, None), slice(3, 8, None)), 9)
    """
    h, w = shape
    pts = np.rint(np.asarray(stroke.points, np.float64).reshape(-1, 2)).astype(np.int32)
    reach = int(np.ceil(stroke.radius))
    # Draw on a canvas around the whole stroke (it may leave the image), then crop to the image.
    x0, y0 = pts.min(axis=0) - reach
    x1, y1 = pts.max(axis=0) + reach + 1
    canvas = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    local = pts - (x0, y0)
    cv2.polylines(canvas, [local], isClosed=False, color=0, thickness=1)
    canvas[local[:, 1], local[:, 0]] = 0
    distance = cv2.distanceTransform(canvas, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    inner = stroke.radius * float(np.clip(stroke.hardness, 0.0, 1.0))
    ramp = max(stroke.radius - inner, 1e-6)
    alpha = np.clip((stroke.radius - distance) / ramp, 0.0, 1.0).astype(np.float32)
    top, left = max(y0, 0), max(x0, 0)
    bottom, right = max(min(y1, h), top), max(min(x1, w), left)
    box = (slice(int(top), int(bottom)), slice(int(left), int(right)))
    return box, alpha[top - y0:bottom - y0, left - x0:right - x0]


def apply_strokes(image: np.ndarray, index: np.ndarray, strokes: Sequence[Stroke],
                  source: Callable[[int], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint ``strokes`` over a fused ``image`` and its ``index`` (depth) map, at full resolution.

    Parameters
    ----------
    image : ndarray
        The fused image (H, W) or (H, W, 3), any supported dtype; not modified.
    index : ndarray
        uint16 (H, W) source frame per pixel; not modified.
    strokes : sequence of Stroke
        Applied in order (later strokes paint over earlier ones).
    source : callable
        ``source(k)`` returns frame ``k`` on the fused image's grid (same shape and dtype).

    Returns
    -------
    image : ndarray
        The retouched image (dtype of ``image``): ``(1 - alpha) * image + alpha * frame``
        per stroke, so pixels at full coverage equal the frame's exactly.
    index : ndarray
        The index map with the stroke's frame where its coverage is at least one half.
    mask : ndarray
        float32 0..1: the largest coverage any stroke gave each pixel (the retouch mask).

    Examples
    --------
    >>> img = np.zeros((8, 8), np.uint8); idx = np.zeros((8, 8), np.uint16)
    >>> out, idx2, mask = apply_strokes(img, idx, [Stroke(1, ((4.0, 4.0),), 1.5)],
    ...                                 lambda k: np.full((8, 8), 200, np.uint8))
    >>> int(out[4, 4]), int(idx2[4, 4]), float(mask[0, 0])
    (200, 1, 0.0)
    """
    out, new_index = image.copy(), index.copy()
    mask = np.zeros(index.shape, np.float32)
    for stroke in strokes:
        box, alpha = stroke_alpha(stroke, index.shape)
        if alpha.size == 0:
            continue
        weight = alpha[..., None] if out.ndim == 3 else alpha
        painted = to_float(out[box]) * (1.0 - weight) + to_float(source(stroke.frame)[box]) * weight
        out[box] = from_float(painted, out.dtype)
        new_index[box][alpha >= 0.5] = stroke.frame
        mask[box] = np.maximum(mask[box], alpha)
    return out, new_index, mask
