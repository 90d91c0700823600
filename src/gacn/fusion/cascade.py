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

On a stack, the network compares the *composites* of the best and second-best frames (each
pixel's gray value from its own candidate), one pair decision for the whole stack instead of
one per frame; where the candidates' frames are locally constant, that is exactly the
comparison of those two frames.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gacn.fusion.decide import choice_edges, decide, uncertain
from gacn.fusion.measure import Candidates, focus_measure
from gacn.model import GACN

Progress = Callable[[str, int, int], None]
#: Candidates' depth jumps (in frames) around which the network decides: a jump of one frame
#: between neighbouring focal planes is no focus boundary.
DEPTH_JUMP = 2


def decide_pair(model: GACN, ga: np.ndarray, gb: np.ndarray, refine: bool = True
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """Decision map P(``ga`` is sharper) of two gray sources, the network only where needed.

    Parameters
    ----------
    model : GACN
        The network.
    ga, gb : ndarray
        float32 gray images in 0..1, same shape.
    refine : bool
        Settle the focus boundaries with the boundary refiner.

    Returns
    -------
    decision, raw : ndarray
        float32 (H, W): the blending map and the map before the boundary filters.
    share : float
        Fraction of the image the network computed.

    Examples
    --------
    >>> import cv2
    >>> from gacn.fusion.pair import cached_model
    >>> sharp = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> soft = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    >>> d, raw, share = decide_pair(cached_model(None, "cpu"), sharp, soft)
    >>> float(d.mean()) > 0.99
    True
    """
    ea, eb = focus_measure(ga), focus_measure(gb)
    cheap = ea >= eb
    closeness = np.minimum(ea, eb) / np.maximum(np.maximum(ea, eb), 1e-12)
    mask = uncertain(closeness, choice_edges(cheap.astype(np.uint8)))
    return decide(model, ga, gb, cheap, mask, refine)


def decide_stack(model: GACN, n_frames: int, gray_of: Callable[[int], np.ndarray], refine: bool = True,
                 progress: Progress | None = None) -> dict[str, np.ndarray | float]:
    """Index map of a stack: one streaming pass of the cheap measure, then one network decision.

    Parameters
    ----------
    model : GACN
        The network.
    n_frames : int
        Number of frames.
    gray_of : callable
        ``gray_of(k)``: frame ``k``'s aligned luma, float32 in 0..1.
    refine : bool
        Settle the focus boundaries with the boundary refiner.
    progress : callable, optional
        ``progress('measure', done, total)`` after each frame.

    Returns
    -------
    dict
        ``index`` (uint16 frame per pixel), ``confidence`` (float32 0..1: how clearly the chosen
        frame won; 1 - closeness where the cheap measure decided), ``share`` (fraction of the
        image the network computed).

    Examples
    --------
    >>> import cv2
    >>> from gacn.fusion.pair import cached_model
    >>> sharp = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    >>> frames = [cv2.GaussianBlur(sharp, (0, 0), s) for s in (3.0, 0.3, 2.0)]
    >>> out = decide_stack(cached_model(None, "cpu"), 3, frames.__getitem__)
    >>> float((out["index"] == 1).mean())
    1.0
    """
    candidates: Candidates | None = None
    for k in range(n_frames):
        gray = gray_of(k)
        if candidates is None:
            candidates = Candidates(gray.shape)
        candidates.update(k, focus_measure(gray), gray)
        if progress:
            progress("measure", k + 1, n_frames)
    assert candidates is not None
    closeness = candidates.closeness()
    mask = uncertain(closeness, choice_edges(candidates.best_index, jump=DEPTH_JUMP))
    cheap = np.ones(mask.shape, bool)
    decision, _, share = decide(model, candidates.best_gray, candidates.second_gray, cheap, mask, refine)
    take_best = decision >= 0.5
    index = np.where(take_best, candidates.best_index, candidates.second_index)
    confidence = np.where(mask, np.abs(2.0 * decision - 1.0), 1.0 - closeness).astype(np.float32)
    return {"index": index, "confidence": confidence, "share": share}
