"""Depth maps as height maps: a stack's index map regularised where the focus measure is not decisive.

A stack's index map (the sharpest frame per pixel) is a depth map only where the sharpest frame
clearly wins. On weak texture (a dark board under a microscope, a matt surface) the focus
measures of neighbouring focal planes differ by less than the noise, and the winner is a
random frame nearby: the map is speckled, though every pixel has some texture.
:func:`depth_weight` rates each pixel's depth by the best frame's lead over the second-best,
in units of the noise's energy; :func:`regularise_depth` replaces each pixel's index by the
confidence-weighted median of the indices around it (a median keeps depth edges as steps,
and the weights let the decisive pixels speak for the weak ones), except where a decisive
region departs from that median by half a focus boundary or more: real detail at another
depth and the pixels along a focus boundary keep their own index [1]_, [2]_, [4]_.

The weighted median is computed on a grid of cells (a weighted histogram of the indices per
cell, summed over a window of cells) and interpolated back, so its cost is a few passes over
the map whatever the number of frames, and its memory is bounded (:data:`HISTOGRAM_ENTRIES`).

What is left of speckle, small regions of one depth that confident picks leave behind (a glint
whose out-of-focus disc has a sharp rim, a shiny edge), is found as in stereo matching
(:func:`remove_speckles`: connected regions of similar depth, ``cv2.filterSpeckles``) and filled
from its surroundings.

References
----------
.. [1] S. K. Nayar, Y. Nakagawa, "Shape from focus", IEEE TPAMI 16(8) (1994) 824-831.
.. [2] Z. Ma, K. He, Y. Wei, J. Sun, E. Wu, "Constant time weighted median filtering for stereo
   matching and beyond", ICCV (2013) 49-56 (the weighted median of a label map by histograms).
.. [3] H. Hirschmuller, "Stereo processing by semiglobal matching and mutual information",
   IEEE TPAMI 30(2) (2008) 328-341 (speckle filtering of a disparity map).
.. [4] H. Knutsson, C.-F. Westin, "Normalized and differential convolution", CVPR (1993) 515-523
   (a signal averaged under a confidence).
"""

from __future__ import annotations

import cv2
import numpy as np

from gacn.fusion.flat import FLAT_FACTOR, LAPLACIAN_GAIN, fill_index

#: The lead of the best frame over the second-best (in units of the flat threshold of
#: :func:`gacn.fusion.flat.flat_mask`) at which a pixel's depth weighs fully.
FULL_MARGIN = 10.0
#: A region departing from the median keeps its own index where its lead is at least this
#: (below it, half the pixels of the microscope sweep's board are more than one frame off their
#: 9x9 median; above it, a tenth on the pcb stack).
KEEP_MARGIN = 3.0
#: Departing regions of fewer pixels than this are speckle, and follow the median.
DEPART_AREA = 32
#: Regions of one depth smaller than this share of the map are speckle (:func:`remove_speckles`):
#: 340 pixels of the microscope sweep, 630 of the pcb stack, 4800 of a 24 MP photo.
SPECKLE_SHARE = 2e-4
#: Side (pixels) of a cell of the grid the median is computed on (the fewest: larger images and
#: longer stacks get larger cells, :data:`HISTOGRAM_ENTRIES`).
CELL = 4
#: Half the side (pixels) of the window the median is taken over.
RADIUS = 16
#: Most (cell, frame) entries of the weighted histogram (float32: 64 MB).
HISTOGRAM_ENTRIES = 16_000_000
#: Weight of a pixel without any lead, so that an area with no decisive pixel takes the plain median.
MIN_WEIGHT = 1e-3
#: Rows of pixels counted into the histogram at a time.
STRIP_ROWS = 256
#: Most channels an OpenCV filter takes at once.
_CV_CHANNELS = 512


def depth_weight(best: np.ndarray, second: np.ndarray, sigma: float) -> np.ndarray:
    """Confidence of each pixel's depth: the best frame's lead over the second-best, in noise units.

    Parameters
    ----------
    best, second : ndarray
        float32 (H, W): the highest and second-highest focus measure over the frames
        (:class:`gacn.fusion.measure.Candidates`).
    sigma : float
        The frames' noise (:func:`gacn.fusion.flat.noise_sigma`, 0..1 scale).

    Returns
    -------
    ndarray
        uint8 (H, W): ``255 * min(lead / FULL_MARGIN, 1)``, with ``lead = (best - second) /
        (FLAT_FACTOR * LAPLACIAN_GAIN * sigma**2)`` (one byte per pixel: the map is kept while the
        network decides).

    Examples
    --------
    >>> best = np.float32([[1.0, 1.0, 1.0]]); second = np.float32([[1.0, 0.88, 0.0]])
    >>> depth_weight(best, second, (0.03 / (FLAT_FACTOR * LAPLACIAN_GAIN)) ** 0.5).tolist()
    [[0, 102, 255]]
    """
    scale = 255.0 / (FULL_MARGIN * FLAT_FACTOR * LAPLACIAN_GAIN * sigma * sigma)
    return np.clip(np.rint((best - second) * scale), 0, 255).astype(np.uint8)


def _cell_histogram(index: np.ndarray, weight: np.ndarray, n_labels: int, cell: int) -> np.ndarray:
    """float32 (rows, columns, labels): the summed weight of each index in each ``cell`` x ``cell``
    cell, counted a strip of rows at a time."""
    h, w = index.shape
    rows, cols = -(-h // cell), -(-w // cell)
    hist = np.empty((rows, cols, n_labels), np.float32)
    column = np.arange(w, dtype=np.int64) // cell
    strip = STRIP_ROWS - STRIP_ROWS % cell or cell
    for top in range(0, h, strip):
        ids = index[top:top + strip].astype(np.int64)
        row = np.arange(ids.shape[0], dtype=np.int64)[:, None] // cell
        ids += (row * cols + column) * n_labels
        w_strip = weight[top:top + strip].astype(np.float32) * (1.0 / 255.0) + MIN_WEIGHT
        cells = -(-ids.shape[0] // cell)
        counts = np.bincount(ids.ravel(), w_strip.ravel(), minlength=cells * cols * n_labels)
        hist[top // cell:top // cell + cells] = counts.reshape(cells, cols, n_labels)
    return hist


def weighted_median(index: np.ndarray, weight: np.ndarray, radius: int = RADIUS
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weighted median of an index map over a window, smooth between cells.

    Parameters
    ----------
    index : ndarray
        uint16 (H, W): a frame index per pixel.
    weight : ndarray
        uint8 (H, W): each pixel's weight in 1/255 steps (:func:`depth_weight`); every pixel also
        weighs :data:`MIN_WEIGHT`.
    radius : int
        Half the side of the window (pixels).

    Returns
    -------
    median : ndarray
        float32 (H, W): per cell of :data:`CELL` pixels (more for big maps, so that the histogram
        stays within :data:`HISTOGRAM_ENTRIES`), the weighted median of the indices within
        ``radius`` of it, interpolated within its frame by the weight below and above (so that
        a slope across frames is a smooth surface), then bilinearly between cells.
    lowest, highest : ndarray
        float32 (H, W): the lowest and highest median of the cell and the eight around it (the
        range the interpolated median spans there).

    Examples
    --------
    >>> index = np.full((32, 32), 5, np.uint16); index[::7, ::5] = 30
    >>> bool(np.abs(weighted_median(index, np.zeros((32, 32), np.uint8), 8)[0] - 5).max() < 0.5)
    True
    """
    h, w = index.shape
    n_labels = int(index.max()) + 1
    cell = max(CELL, int(np.ceil(np.sqrt(h * w * n_labels / HISTOGRAM_ENTRIES))))
    hist = _cell_histogram(index, weight, n_labels, cell)
    side = 2 * max(1, round(radius / cell)) + 1
    for start in range(0, n_labels, _CV_CHANNELS):  # the window's histogram: a box sum over cells
        part = np.ascontiguousarray(hist[..., start:start + _CV_CHANNELS])
        summed = cv2.boxFilter(part, -1, (side, side), normalize=False, borderType=cv2.BORDER_REFLECT)
        hist[..., start:start + _CV_CHANNELS] = summed.reshape(part.shape)  # one channel comes back 2-D
    at_or_below = np.cumsum(hist, axis=2, dtype=np.float32)
    half = 0.5 * at_or_below[..., -1:]
    label = np.minimum((at_or_below < half).sum(axis=2), n_labels - 1)
    above = np.take_along_axis(at_or_below, label[..., None], axis=2)[..., 0]
    own = np.take_along_axis(hist, label[..., None], axis=2)[..., 0]
    median = label + (half[..., 0] - (above - own)) / np.maximum(own, 1e-12) - 0.5
    median = median.astype(np.float32)
    around = np.ones((3, 3), np.uint8)
    size = (median.shape[1] * cell, median.shape[0] * cell)
    lowest, highest = (cv2.resize(m, size, interpolation=cv2.INTER_NEAREST)[:h, :w]
                       for m in (cv2.erode(median, around), cv2.dilate(median, around)))
    return cv2.resize(median, size, interpolation=cv2.INTER_LINEAR)[:h, :w], lowest, highest


def regularise_depth(index: np.ndarray, weight: np.ndarray, jump: int = 1) -> np.ndarray:
    """A stack's index map as a height map: speckle of weak texture replaced by the decisive
    neighbours' depth, real detail and focus boundaries kept.

    Each pixel takes the rounded :func:`weighted_median` of the indices around it, unless it
    belongs to a region of at least :data:`DEPART_AREA` pixels that departs from that median by
    more than ``jump / 2`` frames with a weight of at least :data:`KEEP_MARGIN` /
    :data:`FULL_MARGIN`: such a region (an object at another depth, the near side of a focus
    boundary) keeps its own index.

    Parameters
    ----------
    index : ndarray
        uint16 (H, W): the frame per pixel.
    weight : ndarray
        uint8 (H, W): confidence of each pixel's index in 1/255 steps (:func:`depth_weight`; 0
        where no frame has texture).
    jump : int
        Smallest change of index that is a focus boundary
        (:func:`gacn.fusion.cascade.depth_jump`).

    Returns
    -------
    ndarray
        uint16 (H, W): the regularised index.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> index = np.full((64, 64), 10, np.uint16); index[:, 32:] = 40    # two depths
    >>> noisy = np.where(rng.random((64, 64)) < 0.2, rng.integers(0, 50, (64, 64)), index).astype(np.uint16)
    >>> weight = np.where(noisy == index, 80, 0).astype(np.uint8)   # a fifth is noise, without a lead
    >>> out = regularise_depth(noisy, weight, jump=5)
    >>> float((noisy == index).mean()), float((out == index).mean())
    (0.7958984375, 0.981689453125)
    >>> np.flatnonzero((out != index).any(axis=0)).tolist()   # the misses: next to the depth edge
    [28, 29, 30, 31, 32, 33, 34, 35]
    """
    median, lowest, highest = weighted_median(index, weight)
    depart = (np.abs(index - median) > 0.5 * jump) & (weight >= 255 * KEEP_MARGIN / FULL_MARGIN)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(depart.view(np.uint8), connectivity=8)
    speck = stats[:, cv2.CC_STAT_AREA] < DEPART_AREA
    speck[0] = False  # label 0: the pixels that follow the median anyway
    if speck.any():
        depart &= ~speck[labels]
    within = (highest - lowest >= jump) & (index >= lowest - 0.5) & (index <= highest + 0.5)
    out = np.rint(median).astype(index.dtype)
    np.copyto(out, index, where=depart | within)
    return out


def remove_speckles(depth: np.ndarray, jump: int = 1) -> np.ndarray:
    """A depth map without small islands: regions of one depth under :data:`SPECKLE_SHARE` of
    the map filled from their surroundings.

    A region is a connected set of pixels whose neighbours differ by at most ``jump // 2``
    frames, and at least one (less than half a focus boundary: a sloping surface is one region,
    however steep its steps of one frame).
    Regions smaller than :data:`SPECKLE_SHARE` of the map (at least :data:`DEPART_AREA` pixels)
    are speckle: isolated picks of a far frame that no real surface explains. They take the
    smooth interpolation of the depth around them (:func:`gacn.fusion.flat.fill_index`).

    Parameters
    ----------
    depth : ndarray
        uint16 (H, W): a depth map (:func:`regularise_depth`).
    jump : int
        As for :func:`regularise_depth`.

    Returns
    -------
    ndarray
        uint16 (H, W); ``depth`` itself when it has no speckle (or more than 32767 frames).

    Examples
    --------
    >>> depth = np.full((200, 200), 20, np.uint16); depth[:, 100:] = 40   # two surfaces
    >>> depth[50:54, 30:34] = 60; depth[150:152, 150:160] = 3             # two specks
    >>> out = remove_speckles(depth, jump=6)
    >>> sorted(np.unique(out).tolist()), int(out[51, 31]), int(out[151, 155])
    ([20, 40], 20, 40)
    """
    if depth.size == 0 or int(depth.max()) >= np.iinfo(np.int16).max:
        return depth
    labels = depth.astype(np.int16)
    area = max(DEPART_AREA, round(SPECKLE_SHARE * depth.size))
    cv2.filterSpeckles(labels, -1, area, max(1, jump // 2))
    speck = labels == -1
    if not speck.any() or speck.all():
        return depth
    out = depth.copy()
    fill_index(out, speck)
    return out
