"""N-image fusion (focus stacking) with bounded memory: frames stream, accumulators stay.

The pipeline is a chain of named steps: read and align the frames (:mod:`gacn.fusion.frames`,
:mod:`gacn.fusion.align`), decide which frame each pixel comes from, and blend
(:mod:`gacn.fusion.blend`). Two methods decide (:data:`METHODS`):

``fast`` (default)
    :mod:`gacn.fusion.cascade`: a cheap focus measure of every frame in one streaming pass,
    each pixel's two best frames, and GACN (with the boundary guided filter and the boundary
    refiner) only where those two are close or next to a focus boundary.
``gacn``
    :mod:`gacn.fusion.faithful`: the published network on every pixel of every frame, with
    the strategies ``running`` (default), ``calibration`` and ``serial``.

Memory does not grow with the number of frames: one or two frames are in memory at a time
(frames are read twice, to decide and to blend; frames given as arrays by an iterator are
spilled to a temporary folder), and the per-pixel accumulators are a fixed number of maps.
Frames are prepared (read, aligned, measured) in two threads, ahead of their use.

References
----------
.. [1] B. Ma et al., "End-to-end learning for simultaneously generating decision map and
   multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from gacn.fusion.align import common_box, estimate_transform, warp_image
from gacn.fusion.blend import (
    BLEND_SIGMA,
    MEDIAN_SIZE,
    REFINED_BLEND_SIGMA,
    REFINED_MEDIAN_SIZE,
    blend_frames,
    clean_index,
    load_order,
)
from gacn.fusion.coarse import coarse_budget
from gacn.fusion.coarse import decide as decide_fast
from gacn.fusion.frames import Frames, ImageLike, Prefetch
from gacn.fusion.grid import TILE, bound_heap_growth
from gacn.fusion.result import UNTILED_PIXELS, FusionResult, mix
from gacn.io import InputError, to_gray_float

if TYPE_CHECKING:
    from gacn.model import GACN

__all__ = ["DEFAULT_METHOD", "DEFAULT_STRATEGY", "METHODS", "STRATEGIES", "fuse_stack"]

#: Method names; the first is the default.
METHODS = ("fast", "gacn")
DEFAULT_METHOD = METHODS[0]
#: Strategies of the faithful path (:mod:`gacn.fusion.faithful`); the first is the default.
STRATEGIES = ("running", "calibration", "serial")
DEFAULT_STRATEGY = STRATEGIES[0]

Progress = Callable[[str, int, int], None]
#: Frames up to this many pixels are prepared two at a time (in two threads); bigger ones one at
#: a time, since each frame in flight holds about four frame-sized float maps (400 MB at 24 MP).
PARALLEL_PIXELS = 12_000_000


def fuse_stack(
    images: Iterable[ImageLike],
    method: str = DEFAULT_METHOD,
    strategy: str = DEFAULT_STRATEGY,
    align: bool | None = None,
    crop: bool = True,
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    model: GACN | None = None,
    tile: int = TILE,
    progress: Progress | None = None,
    refine: bool = True,
    match_exposure: bool | None = None,
    fill_flat: bool | None = None,
) -> FusionResult:
    """Fuse a focus stack of two or more frames into one sharp image and a depth (index) map.

    Parameters
    ----------
    images : iterable of ndarray or path
        The frames, in focus order (a list, tuple or one-shot iterator of arrays or files);
        gray or RGB, uint8, uint16 or float in 0..1, all the same size.
    method : {'fast', 'gacn'}
        ``'fast'`` (default): the cascade of :mod:`gacn.fusion.cascade` (cheap focus measure,
        the network only where it changes the decision). ``'gacn'``: the faithful path of
        :mod:`gacn.fusion.faithful` (the network on every pixel of every frame; maps identical
        to the releases before the cascade).
    strategy : {'running', 'calibration', 'serial'}
        With ``method='gacn'``: how the per-frame decisions are combined.
    align : bool, optional
        Register every frame to the middle frame (ECC, affine). Default: on for three or
        more frames, off for two.
    crop : bool
        With alignment, crop the outputs to the rectangle that every frame covers.
    weights : str or PathLike, optional
        safetensors weights; the shipped model by default.
    device : str
        ``'cpu'`` or ``'cuda'``.
    model : GACN, optional
        An already loaded model (overrides ``weights`` and ``device``).
    tile : int
        Side of a tile's core for the network (memory grows with its square).
    progress : callable, optional
        Called as ``progress(stage, done, total)`` after each frame; stages are
        ``'measure'`` (fast) or ``'decide'`` (gacn), then ``'blend'``.
    refine : bool
        The fast path, two frames, ``running`` and ``serial``: re-decide the pixels next to each focus
        boundary with the learned boundary refiner (:func:`gacn.fusion.refine.refine_boundary`).
    match_exposure : bool, optional
        Bring every frame to the exposure and colour balance of the first frame before deciding
        and blending (:mod:`gacn.fusion.exposure`): the output keeps the first frame's exposure,
        as it keeps its metadata. Default: on for ``'fast'``, off for ``'gacn'`` (the published
        method).
    fill_flat : bool, optional
        ``'fast'`` only (its default): where no frame has texture, decide from the surroundings
        instead of the noise (:mod:`gacn.fusion.flat`), so flat areas get no patchwork of frames
        and the depth map is a smooth surface there.

    Returns
    -------
    FusionResult
        ``image`` (dtype and channels of the first frame); ``index_map`` (uint16, the frame
        each pixel comes from: flat areas decided from their surroundings, without specks);
        ``depth_map`` (``index_map`` as a height map: regularised where focus does not single
        out a frame); ``raw_index_map`` (the index map as measured); ``confidence`` (float32
        0..1; 0 where the decision was not made by focus); ``exposure`` (each frame's exposure
        correction, with matching); for two frames
        ``decision_map`` / ``raw_decision_map`` are the pair maps (weight of frame 1 after /
        before the boundary guided filter); for more, ``decision_map`` is the weight of the
        frame in ``index_map`` in the blend and ``raw_decision_map`` the index map before
        smoothing, scaled to 0..1 (index / (N - 1)).

    Raises
    ------
    InputError
        Fewer than two frames, unknown method or strategy, unreadable files, sizes or kinds that differ.

    References
    ----------
    .. [1] B. Ma et al., "End-to-end learning for simultaneously generating decision map and
       multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.

    Examples
    --------
    >>> from gacn.fusion.synthetic import make_stack
    >>> s = make_stack(n_frames=3, size=(64, 64))
    >>> r = fuse_stack(s.frames, align=False)
    >>> r.image.shape, bool(r.index_map.max() <= 2)
    ((64, 64, 3), True)
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if method != "gacn" and strategy != DEFAULT_STRATEGY:
        raise InputError(f"strategy {strategy!r} belongs to method 'gacn' (the faithful path): add method='gacn'")
    if fill_flat and method == "gacn":
        raise InputError("fill_flat belongs to method 'fast': the faithful path decides every pixel with the network")
    match_exposure = method == "fast" if match_exposure is None else match_exposure
    fill_flat = method == "fast" if fill_flat is None else fill_flat
    weights = None if weights is None else str(weights)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gacn-stack-") as tmp:
        frames = Frames(images, tmp)
        n = len(frames)
        h, w = frames.first.shape[:2]
        cheap = method == "fast" and coarse_budget(h, w) == 0.0  # decided coarse to fine without the network
        network = _network(model, weights, device, preload=method == "gacn" or (n == 2 and not cheap))
        if match_exposure:
            frames.match_exposure(0)
        first = frames.first
        if n == 2 and method == "gacn" and h * w <= max(tile * tile, UNTILED_PIXELS) and not align:
            from gacn.fusion.pair import fuse_pair  # torch, needed from here on

            result = fuse_pair(first, frames.load(1), model=network(), refine=refine)
            result.index_map = (result.decision_map < 0.5).astype(np.uint16)
            result.confidence = np.abs(2.0 * result.raw_decision_map - 1.0)
            result.raw_index_map = result.depth_map = result.index_map
            result.exposure = frames.corrections()
            return result
        bound_heap_growth()
        if align is None:
            align = n >= 3
        matrices = [np.eye(2, 3, dtype=np.float32)] * n
        ref_index = n // 2
        reference = {"gray": to_gray_float(frames.raw(ref_index))} if align else {}
        estimated = {ref_index} if align else set(range(n))
        workers = 2 if h * w <= PARALLEL_PIXELS else 1

        def gray_of(k: int) -> np.ndarray:
            given = frames.raw(k)
            img = frames.adjust(k, given)
            gray = to_gray_float(img) if method == "fast" or k not in estimated else None
            if k not in estimated:  # registered on the frames as given (ECC ignores exposure anyway)
                matrices[k] = estimate_transform(reference["gray"], gray if img is given else to_gray_float(given))
                estimated.add(k)
                if len(estimated) == n:  # every frame registered: the reference is no longer needed
                    reference.clear()
            if method == "fast":  # warp the gray image (one channel); the faithful path keeps its order
                return warp_image(gray, matrices[k])
            return to_gray_float(warp_image(img, matrices[k]))

        def warped(k: int) -> np.ndarray:
            return warp_image(frames.load(k), matrices[k])

        if method == "fast":
            lost = (frames.lost_highlights(0), frames.lost_highlights(1)) if n == 2 and match_exposure else None
            out = decide_fast(network, n, gray_of, (h, w), refine, progress, workers, fill_flat, lost)
            if n == 2:  # the pair's map is the weight of frame 0 everywhere
                out.update(image=mix(warped(0), warped(1), out["decision"]), chosen=out["decision"])
        else:
            from gacn.fusion import faithful  # torch, needed from here on

            model = network()
            run = {"running": partial(faithful.decide_running, refine=refine),
                   "calibration": faithful.decide_calibration,
                   "serial": partial(faithful.decide_serial, refine=refine)}
            out = run["serial" if n == 2 else strategy](model, frames, gray_of, matrices, tile,
                                                      next(model.parameters()).device, tmp, progress)
        t_decide = time.perf_counter()
        index, conf = out.pop("index"), out.pop("confidence")
        raw_index = out.pop("measured", index)
        depth = out.pop("depth", None)
        soft = method == "fast" or (n > 2 and strategy == "running")
        median_size, blend_sigma = (REFINED_MEDIAN_SIZE, REFINED_BLEND_SIGMA) if refine else (MEDIAN_SIZE, BLEND_SIGMA)
        if soft and n > 2:
            index = clean_index(index, median_size)
        if depth is None:
            depth = index
        if "image" in out:
            image, chosen = out["image"], out["chosen"]
        else:
            sigma = blend_sigma if soft else 0.0
            with Prefetch(warped, load_order(index, sigma), workers, ahead=workers) as prefetched:
                image, chosen = blend_frames(first, prefetched, index, sigma, progress)
        raw = out["raw"] if n == 2 else raw_index.astype(np.float32) / (n - 1)
        if n == 2:
            chosen = out["decision"]
        if align and crop:
            box = common_box(matrices, (h, w))
            maps = (image, index, depth, conf, chosen, raw, raw_index)
            image, index, depth, conf, chosen, raw, raw_index = (x[box] for x in maps)
    return FusionResult(image=np.ascontiguousarray(image), decision_map=np.ascontiguousarray(chosen),
                        raw_decision_map=np.ascontiguousarray(raw), index_map=np.ascontiguousarray(index),
                        confidence=np.ascontiguousarray(conf), raw_index_map=np.ascontiguousarray(raw_index),
                        depth_map=np.ascontiguousarray(depth), exposure=frames.corrections(),
                        timings={"decide": t_decide - t_start, "blend": time.perf_counter() - t_decide})


def _load_network(weights: str | None, device: str) -> GACN:
    """The network of ``weights`` on ``device``, loaded once per process."""
    from gacn.fusion.pair import cached_model  # torch: imported only when some pixel needs the network

    return cached_model(weights, device)


def _network(model: GACN | None, weights: str | None, device: str, preload: bool) -> Callable[[], GACN]:
    """The network as a function that loads it on first call.

    Importing torch and loading the model take about a second, which a stack that the cheap
    measure settles alone never needs to pay. Where the network is certain to run (a pair, or
    the faithful path), ``preload`` starts loading it in a background thread at once, while the
    frames are read and measured.

    Raises
    ------
    InputError
        A ``weights`` file that does not exist (at once, whether the network runs or not).
    """
    if model is not None:
        return lambda: model
    if weights is not None and not os.path.isfile(weights):  # said at once, even if no pixel needs the network
        raise InputError(f"GACN network weights file not found: {weights}")
    if not preload:
        return partial(_load_network, weights, device)
    pool = ThreadPoolExecutor(max_workers=1)
    loading = pool.submit(_load_network, weights, device)
    pool.shutdown(wait=False)  # the thread ends with the load
    return loading.result
