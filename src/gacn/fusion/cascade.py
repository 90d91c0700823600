"""The fast path (``method='fast'``, the default): spend the network only where it changes the decision.

The pipeline is a chain of small steps that pairs and stacks share:

1. **measure** (:func:`gacn.fusion.measure.focus_measure`): a cheap Laplacian focus energy
   of every frame's luma;
2. **candidates** (:class:`gacn.fusion.measure.Candidates`): per pixel, the two frames with the
   highest energy, in one streaming pass (for a pair, simply the two sources);
3. **decide** (:func:`gacn.fusion.decide.decide`): the cheap choice stands where it is clear;
   GACN decides between the two candidates where they are close and next to focus boundaries
   (depth jumps of the candidates' map), and the boundary guided filter and the boundary
   refiner settle every boundary;
4. **blend** (:mod:`gacn.fusion.blend`): the frames under the index map, softened at seams.

On a stack, each uncertain pixel gets a pair of frames (its own pick and the pick across the
nearby focus boundary), and the network decides every pair of frames on the real pixels of its
two frames, once per pair instead of once per frame (comparing composite images of each pixel's
best and second-best frame was tried first: their seams read as edges).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from gacn.fusion.blend import bounding_box, clean_index
from gacn.fusion.depth import depth_weight, regularise_depth, remove_speckles
from gacn.fusion.exposure import substitute_highlights
from gacn.fusion.flat import fill_index, flat_mask, noise_sigma
from gacn.fusion.frames import Prefetch
from gacn.fusion.grid import cover_area, trim_to_budget
from gacn.fusion.measure import Candidates, focus_measure

if TYPE_CHECKING:
    from gacn.model import GACN

Progress = Callable[[str, int, int], None]
#: Pixels whose second-best frame has at least this fraction of the best one's focus measure
#: are close calls, left to the network.
CLOSE_RATIO = 0.5
#: Side of the square that close calls must fill to count in a stack (a morphological opening;
#: in a pair every close call counts: it is the decision itself).
CLOSE_AREA = 5
#: Pixels within this many pixels of a focus boundary of the cheap choice are left to the network.
BOUNDARY_RADIUS = 12
#: Pixels within this many pixels of a focus boundary get the pair of frames across it, so that
#: the network sees the same two frames over its whole reach around the pixels it decides.
PAIR_RADIUS = 24
#: Grid step (pixels) on which the pairs are chosen.
PAIR_STEP = 4
#: Most pairs of frames decided by the network per stack, and fewest pixels for a pair.
MAX_PAIRS = 24
MIN_PAIR_PIXELS = 64
#: Most (frame, frame) combinations counted with a histogram (1024 frames); more are counted by sorting.
COUNT_BINS = 1 << 20
#: Most pixels the network computes for one fusion of frames up to :data:`FULL_BUDGET_FRAME`,
#: margins included: about 6 s on 2 CPU cores, whatever the number of frames. A stack spends it on
#: whole pairs of frames, most pixels first (a pair that does not fit keeps the cheap choice); two
#: images, their only pair, on its densest tiles. Small images are decided in full.
NETWORK_PIXELS = 1_500_000
#: Frames up to this size get the whole :data:`NETWORK_PIXELS`; from :data:`LARGE_FRAME` up the
#: budget is :data:`LARGE_NETWORK_PIXELS`, and in between it falls linearly. On big photos the
#: network's tiles cover a small slice of a focus boundary whose blur is wide in pixels, and buy
#: little (``benchmarks/bench_budget.py``: 1.5 MP against 0.25 MP adds 0.25 dB at 24 MP and
#: 0.15 dB at 6 MP, while at 1.5 MP every extra pixel of budget counts).
FULL_BUDGET_FRAME = 2_000_000
LARGE_FRAME = 6_000_000
LARGE_NETWORK_PIXELS = 250_000
#: Side of the median that removes isolated picks from the cheap choice before the pairs are
#: chosen (each speck would otherwise be a focus boundary).
SPECK_SIZE = 3
#: Context (pixels) around a pair's pixels that the network and the boundary filters read.
DECIDE_MARGIN = 64
#: Share of the focal range (in frames) that a jump of the best frame must span to count as a
#: focus boundary: in a dense sweep a step between neighbouring focal planes is a smooth slope.
DEPTH_JUMP_SHARE = 0.1


def network_budget(frame_pixels: int) -> float:
    """Most pixels the network computes for one fusion of frames of ``frame_pixels`` pixels.

    Examples
    --------
    >>> [network_budget(p) for p in (300_000, 2_000_000, 4_000_000, 24_000_000)]
    [1500000.0, 1500000.0, 875000.0, 250000.0]
    """
    share = min(max((frame_pixels - FULL_BUDGET_FRAME) / (LARGE_FRAME - FULL_BUDGET_FRAME), 0.0), 1.0)
    return float(NETWORK_PIXELS + share * (min(LARGE_NETWORK_PIXELS, NETWORK_PIXELS) - NETWORK_PIXELS))


def depth_jump(n_frames: int) -> int:
    """Smallest change of frame index that counts as a focus boundary in a stack of ``n_frames``:
    a tenth of the focal range, and at least one frame.

    Examples
    --------
    >>> depth_jump(2), depth_jump(6), depth_jump(65)
    (1, 1, 7)
    """
    return max(1, int(np.ceil(DEPTH_JUMP_SHARE * (n_frames - 1))))


def _pairs(first: np.ndarray, clean: np.ndarray, second: np.ndarray, closeness: np.ndarray, n_frames: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel, the two frames the network chooses between, and where it does.

    Each pixel's pair holds its best frame ``first`` and a partner: at a close call between two
    frames at least :func:`depth_jump` apart, the second-best frame ``second``; next to a focus
    boundary (within :data:`BOUNDARY_RADIUS` of a jump of that size in ``clean``, the best
    frame without specks) the most common best frame nearby that far from its own, so that on
    both sides of a boundary between two depths the pair is the same; on a speck, the frame
    around it. Elsewhere the cheap choice stands. A pair of frames is its own pair everywhere.

    Returns
    -------
    lower, upper : ndarray
        uint16 (H, W): the lower and the upper frame of each pixel's pair.
    mask : ndarray
        bool (H, W): the pixels the network decides.
    """
    jump = depth_jump(n_frames)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BOUNDARY_RADIUS + 1,) * 2)
    close = (closeness >= CLOSE_RATIO) & (np.abs(first.astype(np.int32) - second) >= jump)
    if n_frames > 2:  # in a stack, scattered close calls between far frames are texture noise
        close = cv2.morphologyEx(close.view(np.uint8), cv2.MORPH_OPEN, np.ones((CLOSE_AREA,) * 2, np.uint8)) > 0
    spread = clean.astype(np.uint8) if n_frames <= 256 else clean  # 8-bit morphology is twice as fast
    mask = ((cv2.dilate(spread, disk).astype(np.int32) - cv2.erode(spread, disk)) >= jump) | close
    if n_frames == 2:
        return np.zeros_like(first), np.ones_like(first), mask
    neighbour = _neighbour(clean, jump)
    partner = np.where(close, second, np.where(first != clean, clean, neighbour))
    lower, upper = np.minimum(first, partner), np.maximum(first, partner)
    return lower, upper, mask & (lower != upper)


def _neighbour(first: np.ndarray, jump: int) -> np.ndarray:
    """Per pixel, the best frame most common within :data:`PAIR_RADIUS` among those at least
    ``jump`` frames from its own (its own where there is none), counted on a 1/:data:`PAIR_STEP`
    grid (the two most common frames of each cell, so that either side of a boundary that
    crosses the cell finds the other)."""
    small = np.ascontiguousarray(first[::PAIR_STEP, ::PAIR_STEP])
    side = 2 * (PAIR_RADIUS // PAIR_STEP) + 1
    modes = [small.copy(), small.copy()]
    most = [np.zeros(small.shape, np.float32), np.zeros(small.shape, np.float32)]
    for k in np.unique(small):
        count = cv2.boxFilter((small == k).astype(np.float32), -1, (side, side), normalize=False,
                              borderType=cv2.BORDER_CONSTANT)
        top = count > most[0]
        runner = ~top & (count > most[1])
        for dst, src in ((modes[1], modes[0]), (most[1], most[0])):
            np.copyto(dst, src, where=top)
        modes[0][top], most[0][top] = k, count[top]
        modes[1][runner], most[1][runner] = k, count[runner]
    h, w = first.shape
    full = [np.repeat(np.repeat(m, PAIR_STEP, 0), PAIR_STEP, 1)[:h, :w] for m in modes]
    own = first.astype(np.int32)
    partner = np.where(np.abs(full[0] - own) >= jump, full[0], full[1])
    return np.where(np.abs(partner.astype(np.int32) - own) >= jump, partner, first)


def decide_stack(load_network: Callable[[], GACN], n_frames: int, gray_of: Callable[[int], np.ndarray],
                 refine: bool = True, progress: Progress | None = None, workers: int = 2, fill_flat: bool = True,
                 lost: tuple[np.ndarray | None, np.ndarray | None] | None = None, budget: float | None = None
                 ) -> dict[str, np.ndarray | float]:
    """Index map of a stack: the cheap measure in one streaming pass, then one network decision.

    1. Measure every frame and keep each pixel's best and second-best frame
       (:class:`gacn.fusion.measure.Candidates`).
    2. Where the cheap choice is not sure (next to a focus boundary, or a close call between
       frames far apart), pick the pair of frames to decide between (:func:`_pairs`).
    3. For each pair of frames, most pixels first and within :func:`network_budget`, read the
       two frames again and decide its pixels with the network, the boundary guided filter and
       the refiner (:func:`gacn.fusion.decide.decide`).
    4. With ``fill_flat``, where no frame has more texture than noise
       (:func:`gacn.fusion.flat.flat_mask`), a stack's index is interpolated from the decisions
       around (:func:`gacn.fusion.flat.fill_index`) instead of left to the noise, and the network
       is not asked there; a pair keeps the network's choice there (it decides from the context
       around; low-passing it into a smooth mixture cost 0.003 of Q_G and 0.005 of Q_CB on the
       Lytro pairs), and its exposure matching removes the blotches. The confidence there is 0.
       A stack's depth map is then regularised (:func:`gacn.fusion.depth.regularise_depth`):
       where the best frame's lead over the second-best is weak, the index follows the decisive
       pixels around; the network's choices are kept (they are the best depth there is: letting
       its weak margins follow the median moved focus boundaries and cost 0.015 of depth accuracy
       on the sparse synthetic stacks), flat areas are filled again from the regularised
       surroundings, and small islands of one depth are filled from around them
       (:func:`gacn.fusion.depth.remove_speckles`).

    For two frames this is the pair fusion with the network on the uncertain pixels.

    Parameters
    ----------
    load_network : callable
        ``load_network()``: the network, loaded on the first call. It is called only when some
        pixel needs it, and torch is imported only then (about a second that a stack the cheap
        measure settles alone does not pay).
    n_frames : int
        Number of frames.
    gray_of : callable
        ``gray_of(k)``: frame ``k``'s aligned luma, float32 in 0..1 (called twice per frame,
        in increasing ``k``, from two threads).
    refine : bool
        Settle the focus boundaries with the boundary refiner.
    progress : callable, optional
        ``progress('measure', done, total)`` after each frame of step 1.
    workers : int
        Threads that prepare frames ahead in step 1 (each holds about four frame-sized maps).
    fill_flat : bool
        Decide the flat areas from their surroundings, and regularise the depth map (step 4).
    lost : tuple of ndarray or None, optional
        Two frames: where each one lost its highlights to clipping
        (:meth:`gacn.fusion.frames.Frames.lost_highlights`); a pixel that only one frame lost
        comes from the other.
    budget : float, optional
        Most pixels of network work, margins included; :func:`network_budget` of the frame
        size by default.

    Returns
    -------
    dict
        ``index`` (uint16 frame per pixel), ``measured`` (the index before step 4), ``depth``
        (the regularised index of a stack with ``fill_flat``; else None),
        ``confidence`` (float32 0..1: how clearly the chosen
        frame won: the network's margin where it decided, 0 in flat areas, else 1 - closeness), ``decision`` and
        ``raw`` (for two frames: float32 weight of frame 0 after and before the boundary filters;
        None for more), ``network`` (bool: the pixels the network decided), ``share``
        (the area the network computed, margins included, as a fraction of the image), ``flat``
        (bool: the pixels of step 4; none without ``fill_flat``).

    Examples
    --------
    >>> from gacn.fusion.pair import cached_model
    >>> sharp = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    >>> frames = [cv2.GaussianBlur(sharp, (0, 0), s) for s in (3.0, 0.3, 2.0)]
    >>> out = decide_stack(lambda: cached_model(None, "cpu"), 3, frames.__getitem__)
    >>> float((out["index"] == 1).mean())
    1.0
    """
    candidates: Candidates | None = None
    noise = np.inf

    def measure(k: int) -> tuple[np.ndarray, float]:
        gray = gray_of(k)
        return focus_measure(gray), noise_sigma(gray) if fill_flat else np.inf

    with Prefetch(measure, range(n_frames), workers, ahead=workers) as measures:
        for k in range(n_frames):
            energy, sigma = measures(k)
            noise = min(noise, sigma)  # the most defocused frame has the least texture to mistake for noise
            if candidates is None:
                candidates = Candidates(energy.shape)
            candidates.update(k, energy)
            if progress:
                progress("measure", k + 1, n_frames)
    assert candidates is not None
    first, closeness = candidates.best_index, candidates.closeness()
    flat = flat_mask(candidates.best, noise, candidates.second) if fill_flat else np.zeros(first.shape, bool)
    clean = clean_index(first, SPECK_SIZE)
    lower, upper, mask = _pairs(first, clean, candidates.second_index, closeness, n_frames)
    if n_frames > 2:  # a stack's flat pixels are filled from their surroundings: not worth the network
        mask &= ~flat
    weight = depth_weight(candidates.best, candidates.second, noise) if fill_flat and n_frames > 2 else None
    del candidates
    index = first.copy()
    confidence = np.subtract(1.0, closeness, out=closeness)  # where the cheap choice stands
    pair = n_frames == 2  # a pair's maps are the weight of frame 0 everywhere: keep them whole
    raw = (first == lower).astype(np.float32) if pair else None
    decision = raw.copy() if pair else None
    computed = 0.0
    budget = network_budget(first.size) if budget is None else budget
    network = np.zeros(first.shape, bool)
    for p, q in _pair_groups(lower, upper, mask, n_frames):
        where = mask & (lower == p) & (upper == q)
        box = bounding_box(where, DECIDE_MARGIN)
        inside = where[box]
        if computed + cover_area(inside) > budget:
            if not pair:  # a stack spends its budget on whole pairs of frames, most pixels first
                continue
            inside = trim_to_budget(inside, budget - computed)  # a pair: its densest tiles
            if not inside.any():
                continue
            where = np.zeros_like(where)
            where[box] = inside
        from gacn.fusion.decide import decide  # torch: imported only when the network runs

        d, r, share = decide(load_network(), gray_of(p)[box], gray_of(q)[box], first[box] == p, inside, refine)
        np.copyto(index[box], np.where(d >= 0.5, index.dtype.type(p), index.dtype.type(q)), where=inside)
        np.copyto(confidence[box], np.abs(2.0 * r - 1.0), where=inside)
        if pair:
            np.copyto(decision[box], d, where=inside)
            np.copyto(raw[box], r, where=inside)
        computed += share * inside.size
        network |= where
    measured, index = index, index.copy()
    if pair:
        force_lost_highlights(decision, index, lost)
    if not pair:  # a pair keeps the network's choice from the context
        fill_index(index, flat)
    confidence[flat] = 0.0
    depth = None
    if weight is not None:
        weight[network] = 255  # the network's choice is the best depth there is
        weight[flat] = 0
        jump = depth_jump(n_frames)
        depth = regularise_depth(index, weight, jump)
        np.copyto(depth, index, where=network)
        fill_index(depth, flat)  # flat areas follow the regularised surroundings, as the index did
        depth = remove_speckles(depth, jump)
    return {"index": index, "measured": measured, "depth": depth, "confidence": confidence,
            "share": computed / index.size, "decision": decision, "raw": raw, "network": network, "flat": flat}


def force_lost_highlights(decision: np.ndarray, index: np.ndarray,
                          lost: tuple[np.ndarray | None, np.ndarray | None] | None) -> None:
    """A pair's pixels whose highlights only one frame lost to clipping come from the other frame.

    A clipped highlight has no detail, and matching the exposure turns its white into a grey the
    scene is not: the other frame's pixel is better. The weight moves there with a soft edge
    (:func:`gacn.fusion.exposure.substitute_highlights`), so no step shows where the frames differ
    in tone near white. ``decision`` (weight of frame 0) and ``index`` are changed in place;
    ``lost`` is each frame's :meth:`gacn.fusion.frames.Frames.lost_highlights` (None: nothing to force).

    Examples
    --------
    >>> d = np.full((1, 40), 0.5, np.float32); i = np.zeros((1, 40), np.uint16)
    >>> lost0 = np.zeros((1, 40), bool); lost0[0, :4] = True; lost1 = lost0[:, ::-1]
    >>> force_lost_highlights(d, i, (lost0, lost1))
    >>> float(d[0, 0]), float(d[0, 20]), float(d[0, 39]), int(i[0, 0]), int(i[0, 39])
    (0.0, 0.5, 1.0, 1, 0)
    """
    if lost is None or (lost[0] is None and lost[1] is None):
        return
    none = np.zeros(index.shape, bool)
    lost0, lost1 = (none if m is None else m for m in lost)
    np.copyto(decision, substitute_highlights(decision, lost0, lost1))  # 1: frame 0, where frame 1 lost it
    np.copyto(index, lost0.astype(index.dtype), where=lost0 != lost1)


def _pair_groups(lower: np.ndarray, upper: np.ndarray, mask: np.ndarray, n_frames: int) -> list[tuple[int, int]]:
    """The pairs of frames ``(p, q)`` the network decides between, most pixels first: at most
    :data:`MAX_PAIRS`, each with at least :data:`MIN_PAIR_PIXELS` pixels.

    Examples
    --------
    >>> lower = np.zeros((10, 10), np.uint16); upper = np.ones((10, 10), np.uint16); upper[:2] = 2
    >>> _pair_groups(lower, upper, np.ones((10, 10), bool), 3)
    [(0, 1)]
    """
    if n_frames == 2:  # one pair of frames everywhere (:func:`_pairs`): only its count matters
        return [(0, 1)] if np.count_nonzero(mask) >= MIN_PAIR_PIXELS else []
    keys = lower[mask].astype(np.int64) * n_frames + upper[mask]
    if n_frames * n_frames <= COUNT_BINS:  # a histogram: linear in the pixels, where a sort is not
        counts = np.bincount(keys, minlength=n_frames * n_frames)
        values = np.flatnonzero(counts)
        counts = counts[values]
    else:
        values, counts = np.unique(keys, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:MAX_PAIRS]
    return [(int(key // n_frames), int(key % n_frames)) for key, count in zip(values[order], counts[order])
            if count >= MIN_PAIR_PIXELS]
