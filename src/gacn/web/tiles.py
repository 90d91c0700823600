"""Deep-zoom tiles of an image for the OpenSeadragon viewer, made on demand from an array.

The levels follow the Deep Zoom convention OpenSeadragon's tile sources use: level ``L`` of an
image whose longer side is ``S`` has scale ``2 ** (L - ceil(log2 S))``, so the last level is
the full resolution (1:1 pixels) and level 0 is one pixel. A tile is ``TILE`` pixels plus one
pixel of overlap on the sides that have a neighbour. The browser only ever fetches the tiles
in view, so a 24-megapixel result stays responsive.
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

#: Tile side in pixels (without the overlap) and overlap on inner edges.
TILE = 256
OVERLAP = 1
#: JPEG quality of the tiles.
QUALITY = 90


def display_rgb(image: np.ndarray) -> np.ndarray:
    """An 8-bit view of an image for the screen: uint16 keeps its top byte, floats are 0..1."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


class Pyramid:
    """The Deep Zoom levels of one 8-bit image, each halved from the next finer one when first needed.

    Examples
    --------
    >>> p = Pyramid(np.zeros((300, 600, 3), np.uint8))
    >>> p.max_level, p.level(p.max_level).shape, p.level(p.max_level - 1).shape
    (10, (300, 600, 3), (150, 300, 3))
    """

    def __init__(self, image: np.ndarray) -> None:
        self.height, self.width = image.shape[:2]
        self.max_level = max(math.ceil(math.log2(max(self.width, self.height))), 0)
        self._levels: dict[int, np.ndarray] = {self.max_level: image}
        self._lock = threading.Lock()

    def level(self, level: int) -> np.ndarray:
        """The image at ``level`` (``max_level`` = full resolution)."""
        with self._lock:
            if level in self._levels:
                return self._levels[level]
        finer = self.level(level + 1)
        size = (max(math.ceil(finer.shape[1] / 2), 1), max(math.ceil(finer.shape[0] / 2), 1))
        coarser = cv2.resize(finer, size, interpolation=cv2.INTER_AREA)
        with self._lock:
            return self._levels.setdefault(level, coarser)

    def tile(self, level: int, col: int, row: int) -> np.ndarray:
        """Tile (``col``, ``row``) of ``level`` with its overlap.

        Raises
        ------
        IndexError
            For a level or tile outside the image.
        """
        if not 0 <= level <= self.max_level:
            raise IndexError(f"no level {level}")
        image = self.level(level)
        h, w = image.shape[:2]
        x0, y0 = col * TILE, row * TILE
        if col < 0 or row < 0 or x0 >= w or y0 >= h:
            raise IndexError(f"no tile {col}_{row} at level {level}")
        x0, y0 = max(x0 - OVERLAP, 0), max(y0 - OVERLAP, 0)
        return image[y0:min((row + 1) * TILE + OVERLAP, h), x0:min((col + 1) * TILE + OVERLAP, w)]


def encode_jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes of an 8-bit gray or RGB image."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()
