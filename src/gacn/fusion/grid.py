"""Tiles: how the network's work on an image is cut into pieces, and the memory bounds of every path.

Plain geometry without torch, so that the steps of the fast path that need no network (and
the budget that decides whether they do) import neither torch nor the model.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

import numpy as np

from gacn.fusion.result import UNTILED_PIXELS

#: Default side of a tile's core for the network; a 320x320 padded tile needs about 300 MB.
TILE = 256
#: Radius of the raw decision map's receptive field, in pixels.
RECEPTIVE_RADIUS = 29
#: Context kept around each tile (must be at least ``RECEPTIVE_RADIUS``).
HALO = 32
#: Core sides of the tile grids the network may run on (each tile padded by the network's reach);
#: the largest bounds the memory of one tile's activity maps (64 channels).
TILE_SIDES = (64, 128, 256)

#: glibc ``mallopt`` parameters and the size from which allocations get their own mapping:
#: 32 MB, glibc's own ceiling for its dynamic threshold (``benchmarks/bench_heap.py``; against
#: 4 MB, the microscope pair took 5.68 s instead of 8.14 s, at 753 MB instead of 630 MB).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20


@functools.cache
def bound_heap_growth() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` (once per process).

    glibc raises its mmap threshold after big blocks are freed, so the feature maps of later
    tiles come from the heap, which then fragments and keeps growing: on a 1600x1200 pair the
    peak RSS was 989 MB with the default and 646 MB with a fixed 4 MB threshold. A low threshold
    costs time, though: every block over it is fresh memory, paid for in page faults when first
    written, and a fusion allocates many (the network's activity maps of each tile, the
    full-size maps). With 32 MB, the blocks a fusion reuses come from the heap, and the heap
    stays bounded: ``benchmarks/bench_heap.py`` measures both. The setting only changes where
    big blocks live; elsewhere than glibc this does nothing.

    Returns
    -------
    bool
        Whether the setting was applied.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


@dataclass(frozen=True)
class Tile:
    """One tile: its core ``[y0:y1, x0:x1]`` and the padded window ``[py0:py1, px0:px1]``."""

    y0: int
    y1: int
    x0: int
    x1: int
    py0: int
    py1: int
    px0: int
    px1: int

    @property
    def core(self) -> tuple[slice, slice]:
        """The core in image coordinates."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def padded(self) -> tuple[slice, slice]:
        """The padded window in image coordinates."""
        return slice(self.py0, self.py1), slice(self.px0, self.px1)

    @property
    def area(self) -> int:
        """Pixels of the padded window: what the network computes for this tile."""
        return (self.py1 - self.py0) * (self.px1 - self.px0)

    @property
    def inner(self) -> tuple[slice, slice]:
        """The core in the padded window's coordinates."""
        return slice(self.y0 - self.py0, self.y1 - self.py0), slice(self.x0 - self.px0, self.x1 - self.px0)


def tile_grid(height: int, width: int, tile: int = TILE, halo: int = HALO) -> list[Tile]:
    """Cover an image with tiles of core ``tile`` x ``tile`` and a ``halo`` clipped to the image.

    Examples
    --------
    >>> len(tile_grid(600, 300, tile=256))
    6
    """
    if tile < 16:
        raise ValueError(f"tile side must be at least 16, got {tile}")
    tiles = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            tiles.append(Tile(y0, y1, x0, x1, max(y0 - halo, 0), min(y1 + halo, height),
                              max(x0 - halo, 0), min(x1 + halo, width)))
    return tiles


def cover(mask: np.ndarray) -> list[Tile]:
    """The tiles that hold ``mask`` pixels, from the grid (of :data:`TILE_SIDES`, or the whole
    image when it is small) whose touched tiles, with their margins, have the smallest area:
    small tiles follow a thin band closely, big ones waste less on margins where the pixels are
    dense."""
    h, w = mask.shape
    best: list[Tile] = []
    best_area = float("inf")
    if h * w <= UNTILED_PIXELS:  # the whole image in one piece: no margins at all
        best, best_area = [Tile(0, h, 0, w, 0, h, 0, w)], h * w
    for side in TILE_SIDES:
        tiles = [t for t in tile_grid(h, w, tile=side, halo=HALO) if mask[t.core].any()]
        area = sum(t.area for t in tiles)
        if area < best_area:
            best, best_area = tiles, area
    return best


def trim_to_budget(mask: np.ndarray, budget: float) -> np.ndarray:
    """``mask`` restricted to the tiles of its cover (:func:`cover`) that hold the most of its
    pixels, as many as fit in ``budget`` pixels of network work (margins included)."""
    tiles = sorted(cover(mask), key=lambda t: -int(mask[t.core].sum()))
    kept = np.zeros_like(mask)
    spent = 0
    for t in tiles:
        if spent + t.area > budget:
            break
        spent += t.area
        kept[t.core] = mask[t.core]
    return kept


def cover_area(mask: np.ndarray) -> int:
    """Pixels the network computes to decide the ``mask`` pixels (:func:`cover`, margins included)."""
    return sum(t.area for t in cover(mask))
