"""Coarse-to-fine decisions: decide big frames where their blur is a few pixels, settle the edges at full size.

A focus measure reads sharpness over a small window: the cheap measure's Gaussian of 1.5 px, the
network's reach of about 29 px. On a 2-24 MP photo a defocus blur is tens of pixels wide, so at
full size both see blur that does not fit their window: next to a focus boundary the blurred
side's spill looks like detail, a defocused bright line's glow has edges that look sharp, and
the network's cost grows with the pixels. Shrunk to a working shape of about
:data:`WORK_PIXELS`, the same frames show blur of a few pixels, which the cheap measure's window
reads correctly; the fast path's decision there (:func:`gacn.fusion.cascade.decide_stack`:
candidates, flat areas, depth regularisation) then costs a fraction of a second whatever the
frame size.

Frames bigger than :data:`COARSE_FROM` are decided in three steps:

1. **shrink**: each frame's aligned luma is shrunk to the working shape (area interpolation:
   :func:`working_shape`, :func:`shrink`) as it is measured, and kept (under a MB a frame);
2. **decide** at the working shape with the fast path's steps (no network: :data:`COARSE_BUDGET`);
3. **enlarge**: the maps are enlarged to full size (:func:`enlarge`; a stack's frame indices by
   nearest neighbour, then a median as wide as one working pixel so the steps do not show),
   and, for a pair, the band around each focus boundary is re-decided from the full-size frames
   (:func:`settle_band`): there the enlarged decision is averaged with the full-size focus
   measure's share, which puts the boundary back on the detail that the shrinking blurred.

Smaller frames (every quality gate: the Lytro pairs, the halo scenes, the synthetic stacks) are
decided at full size, with the network where the cheap measure is in doubt, as before.
On native-detail pairs (``benchmarks/bench_native.py``) this lifts 12 MP pairs from about the
oracle's PSNR to above it (radius 20: 40.1 dB, oracle 39.1 dB, focus-stack 37.3 dB) in about half
of focus-stack's time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from gacn.fusion.blend import clean_index
from gacn.fusion.cascade import decide_stack, force_lost_highlights
from gacn.fusion.measure import focus_measure

if TYPE_CHECKING:
    from gacn.model import GACN

Progress = Callable[[str, int, int], None]
#: Frames of more pixels than this are decided at the working shape; smaller ones at full size
#: (every quality gate, the Lytro pairs and the synthetic stacks, is below it).
COARSE_FROM = 1_000_000
#: Pixels of the working shape: the blur of a 2-24 MP photo (disc radius 20-80 px) shrinks to a few
#: pixels, which the cheap measure's window reads (native-detail pairs, cheap measure alone: 0.15 MP
#: against 0.3 MP, 12 MP radius 80 32.82 against 32.42 dB, radius 20 40.08 against 40.30 dB,
#: 1600x1200 radius 40 31.32 against 30.84 dB).
WORK_PIXELS = 150_000
#: Network work (pixels) at the working shape: none. There the cheap measure decides about as well as
#: the network and the refiner, at a fraction of the cost (native-detail pairs, 0.15 MP working
#: shape, in process: 12 MP disc radius 80 32.82 dB, 33.37 dB with the network, whose torch import,
#: model and passes took a 12 MP ``gacn fuse`` from 4.0 s to 8.4 s, where focus-stack took 7.2 s),
#: and it no longer takes a defocused line's glow for focus (``make_spill_stack``): the glow's
#: edges shrink with the frame. ``method='gacn'`` is the learned decision on every pixel.
COARSE_BUDGET = 0.0
#: Weight of the full-size focus measure against the enlarged decision in the band of a pair
#: (on a 12 MP native-detail pair decided at 0.25 MP: 0.3, 0.5 and 0.7 gave 40.45, 40.60 and
#: 40.53 dB, against 39.84 dB without the band).
BAND_MEASURE_WEIGHT = 0.5
#: A pixel whose enlarged decision lies strictly between these is in the band before it is widened.
BAND_LOW, BAND_HIGH = 0.02, 0.98


def working_shape(height: int, width: int) -> tuple[int, int] | None:
    """The (height, width) a frame of this size is decided at, or None to decide at full size.

    Examples
    --------
    >>> working_shape(520, 520) is None
    True
    >>> working_shape(3000, 4000)
    (335, 447)
    """
    if height * width <= COARSE_FROM:
        return None
    scale = np.sqrt(WORK_PIXELS / (height * width))
    return max(int(round(height * scale)), 1), max(int(round(width * scale)), 1)


def coarse_budget(height: int, width: int) -> float | None:
    """Network work (pixels) the fast path spends on frames of this size: :data:`COARSE_BUDGET`
    for frames decided at the working shape, None for frames decided at full size (the budget of
    :func:`gacn.fusion.cascade.network_budget`).

    Examples
    --------
    >>> coarse_budget(520, 520) is None, coarse_budget(3000, 4000)
    (True, 0.0)
    """
    return None if working_shape(height, width) is None else float(COARSE_BUDGET)


def shrink(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` shrunk to ``shape`` (height, width) by area interpolation (each working pixel the
    mean of the full-size pixels it covers, so fine detail is averaged, not aliased)."""
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def enlarge(image: np.ndarray, shape: tuple[int, int], labels: bool = False) -> np.ndarray:
    """``image`` enlarged to ``shape``: bilinear for a weight or confidence map, nearest neighbour
    for ``labels`` (frame indices, masks), which must not be mixed."""
    size = (shape[1], shape[0])
    if labels:
        if image.dtype == bool:
            return cv2.resize(image.view(np.uint8), size, interpolation=cv2.INTER_NEAREST).view(bool)
        return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def settle_band(decision: np.ndarray, share: np.ndarray, factor: float) -> np.ndarray:
    """Re-decide a pair's enlarged ``decision`` (weight of frame 0) next to its focus boundaries.

    Parameters
    ----------
    decision : ndarray
        float32 (H, W) in 0..1: the decision made at the working shape, enlarged.
    share : ndarray
        float32 (H, W) in 0..1: frame 0's share of the two frames' full-size focus measure.
    factor : float
        Full-size pixels per working pixel: the band reaches this far on each side of the
        pixels where ``decision`` is not yet 0 or 1.

    Returns
    -------
    ndarray
        float32 (H, W): in the band the mean of ``decision`` and ``share`` weighted by
        :data:`BAND_MEASURE_WEIGHT`; ``decision`` elsewhere (changed in place).

    Examples
    --------
    >>> d = np.zeros((1, 9), np.float32); d[0, 5:] = 1.0; d[0, 4] = 0.5
    >>> settle_band(d, np.ones((1, 9), np.float32), 1.0).round(2).tolist()
    [[0.0, 0.0, 0.0, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]]
    """
    band = ((decision > BAND_LOW) & (decision < BAND_HIGH)).view(np.uint8)
    side = 2 * int(np.ceil(factor)) + 1
    band = cv2.dilate(band, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))).view(bool)
    w = BAND_MEASURE_WEIGHT
    np.copyto(decision, (1.0 - w) * decision + w * share, where=band)
    return decision


def decide(load_network: Callable[[], GACN], n_frames: int, gray_of: Callable[[int], np.ndarray],
           shape: tuple[int, int], refine: bool = True, progress: Progress | None = None, workers: int = 2,
           fill_flat: bool = True, lost: tuple[np.ndarray | None, np.ndarray | None] | None = None
           ) -> dict[str, np.ndarray | float]:
    """The fast path's decision for frames of ``shape``: at full size, or coarse to fine for big frames.

    Frames up to :data:`COARSE_FROM` pixels go to :func:`gacn.fusion.cascade.decide_stack` as
    they are. Bigger ones are decided at :func:`working_shape` and the maps enlarged (steps 1-3
    of the module). The arguments and the returned maps are those of
    :func:`gacn.fusion.cascade.decide_stack`, at full size; ``share`` is the network's share of
    the working image.

    Examples
    --------
    >>> from gacn.fusion.pair import cached_model
    >>> sharp = np.random.default_rng(0).random((1000, 1200)).astype(np.float32)
    >>> frames = [sharp, cv2.GaussianBlur(sharp, (0, 0), 4.0)]
    >>> out = decide(lambda: cached_model(None, "cpu"), 2, frames.__getitem__, sharp.shape)
    >>> out["index"].shape, float((out["index"] == 0).mean())
    ((1000, 1200), 1.0)
    """
    work = working_shape(*shape)
    if work is None:
        return decide_stack(load_network, n_frames, gray_of, refine, progress, workers, fill_flat, lost)
    small: dict[int, np.ndarray] = {}
    measures: dict[int, np.ndarray] = {}

    def coarse_gray_of(k: int) -> np.ndarray:
        """Frame ``k``'s luma at the working shape, kept after its first read (a pair also keeps
        each frame's full-size focus measure, for the band)."""
        if k not in small:
            gray = gray_of(k)
            if n_frames == 2:
                measures[k] = focus_measure(gray)
            small[k] = shrink(gray, work)
        return small[k]

    out = decide_stack(load_network, n_frames, coarse_gray_of, refine, progress, workers, fill_flat,
                       budget=coarse_budget(*shape))
    small.clear()
    factor = float(np.sqrt(shape[0] * shape[1] / (work[0] * work[1])))
    if n_frames == 2:
        return _enlarge_pair(out, measures, shape, factor, lost)
    return _enlarge_stack(out, shape, factor)


def _enlarged(out: dict, shape: tuple[int, int]) -> dict[str, np.ndarray | float]:
    """The maps that pairs and stacks enlarge alike: the confidence (bilinear), the network's and
    the flat pixels (nearest), and the network's share of the working image."""
    return {"confidence": enlarge(out["confidence"], shape), "share": out["share"],
            "network": enlarge(out["network"], shape, labels=True), "flat": enlarge(out["flat"], shape, labels=True)}


def _enlarge_pair(out: dict, measures: dict[int, np.ndarray], shape: tuple[int, int], factor: float,
                  lost: tuple[np.ndarray | None, np.ndarray | None] | None) -> dict[str, np.ndarray | float]:
    """A pair's maps at full size: the decision enlarged, settled in the band (:func:`settle_band`),
    the lost highlights forced, and the index from it."""
    total = measures[0] + measures.pop(1)
    share = np.divide(measures.pop(0), total, out=np.full(shape, 0.5, np.float32), where=total > 0)
    del total
    decision = settle_band(enlarge(out["decision"], shape), share, factor)
    del share
    index = (decision < 0.5).astype(np.uint16)
    force_lost_highlights(decision, index, lost)
    return {"index": index, "measured": index, "depth": None, "decision": decision,
            "raw": enlarge(out["raw"], shape), **_enlarged(out, shape)}


def _enlarge_stack(out: dict, shape: tuple[int, int], factor: float) -> dict[str, np.ndarray | float]:
    """A stack's maps at full size: frame indices by nearest neighbour and a median one working
    pixel wide (the steps of the enlarged map become smooth edges)."""
    side = max(3, 2 * int(factor / 2) + 1)

    def labels(index: np.ndarray) -> np.ndarray:
        return clean_index(enlarge(index, shape, labels=True), side)

    depth = out["depth"]
    return {"index": labels(out["index"]), "measured": labels(out["measured"]),
            "depth": None if depth is None else labels(depth), "decision": None, "raw": None,
            **_enlarged(out, shape)}
