"""The fast path (method='fast'): agreement with the faithful path, accuracy, and where the network runs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import gacn
from gacn.evaluation.datasets import synthetic_set
from gacn.fusion import cascade
from gacn.fusion.blend import clean_index
from gacn.fusion.frames import Prefetch
from gacn.fusion.measure import Candidates, focus_measure
from gacn.fusion.pair import cached_model
from gacn.fusion.synthetic import index_accuracy, make_stack
from gacn.io import InputError, to_gray_float


@pytest.fixture(scope="module", autouse=True)
def threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def pairs() -> list:
    return synthetic_set(count=6, size=160).items


def test_fast_agrees_with_the_faithful_path_on_decisive_pixels(pairs) -> None:
    """Where the published network is sure (its map below 0.1 or above 0.9), the fast path makes
    the same choice on 99 % of the pixels (measured: 0.994 on average, 0.972 at worst), and it is
    as accurate against the truth."""
    agreement, fast_acc, faithful_acc = [], [], []
    for item in pairs:
        fast = gacn.fuse(item.sources)
        faithful = gacn.fuse(item.sources, method="gacn")
        decisive = (faithful.decision_map < 0.1) | (faithful.decision_map > 0.9)
        same = (fast.decision_map >= 0.5) == (faithful.decision_map >= 0.5)
        agreement.append(same[decisive].mean())
        truth = item.truth_mask > 0.5
        fast_acc.append(((fast.decision_map >= 0.5) == truth).mean())
        faithful_acc.append(((faithful.decision_map >= 0.5) == truth).mean())
    assert np.mean(agreement) >= 0.99 and min(agreement) >= 0.96
    assert np.mean(fast_acc) >= np.mean(faithful_acc) - 0.002


@pytest.mark.parametrize("kind", [dict(n_frames=6, size=(192, 192)), dict(n_frames=3, size=(160, 160), max_blur=8.0)])
def test_fast_picks_the_right_frame_at_least_as_often(kind: dict) -> None:
    s = make_stack(**kind)
    # the frames share one exposure: matching off, so that this compares the decisions alone (the
    # matching's own error between strongly defocused frames is in benchmarks/bench_stack.py)
    fast = gacn.fuse(s.frames, align=False, match_exposure=False)
    faithful = gacn.fuse(s.frames, align=False, method="gacn")
    assert index_accuracy(fast.index_map, s) >= index_accuracy(faithful.index_map, s) - 0.001
    assert index_accuracy(fast.index_map, s) >= 0.98


@pytest.mark.parametrize("n_frames", [2, 4])
def test_the_cheap_measure_decides_alone_only_with_a_margin(n_frames: int) -> None:
    """Every close call (second-best focus measure at least CLOSE_RATIO of the best, frames at
    least depth_jump apart; in a stack over a CLOSE_AREA square) and every pixel near a jump of
    the speck-free choice is decided by the network, not by the cheap measure. With flat areas
    decided from their surroundings (the default), the network is not asked there, and the cheap
    measure decides alone exactly the same other pixels."""
    s = make_stack(n_frames=n_frames, size=(128, 160), max_blur=6.0, seed=3)
    grays = [to_gray_float(f) for f in s.frames]
    out = cascade.decide_stack(lambda: cached_model(None, "cpu"), n_frames, grays.__getitem__, fill_flat=False)
    candidates = Candidates(grays[0].shape)
    for k, g in enumerate(grays):
        candidates.update(k, focus_measure(g))
    jump = cascade.depth_jump(n_frames)
    apart = np.abs(candidates.best_index.astype(int) - candidates.second_index) >= jump
    close = (candidates.closeness() >= cascade.CLOSE_RATIO) & apart
    if n_frames > 2:  # in a stack, close calls count over a CLOSE_AREA square
        square = np.ones((cascade.CLOSE_AREA,) * 2, np.uint8)
        close = cv2.morphologyEx(close.astype(np.uint8), cv2.MORPH_OPEN, square) > 0
    clean = clean_index(candidates.best_index, cascade.SPECK_SIZE).astype(np.float32)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cascade.BOUNDARY_RADIUS + 1,) * 2)
    near_jump = (cv2.dilate(clean, disk) - cv2.erode(clean, disk)) >= jump
    must = close | near_jump
    assert must.mean() > 0.05  # the check is not empty
    network = out["network"]
    # a pixel whose pair holds one frame twice has nothing to decide (its speck-free pick is its own)
    assert not (must & ~network & (out["index"] != clean)).any()
    assert network[must].mean() > 0.95
    cheap = ~network
    assert np.array_equal(out["index"][cheap], candidates.best_index[cheap])
    filled = cascade.decide_stack(lambda: cached_model(None, "cpu"), n_frames, grays.__getitem__)
    flat = filled["flat"]
    assert flat.any() and not filled["confidence"][flat].any()
    if n_frames > 2:  # a stack's flat pixels are filled from their surroundings, not decided by the network
        assert not (filled["network"] & flat).any() and not (filled["network"] & ~network).any()
    else:  # a pair's map is decided as without filling
        assert np.array_equal(filled["network"], network) and np.array_equal(filled["index"], out["index"])
    cheap = ~filled["network"] & ~flat
    assert np.array_equal(filled["measured"][cheap], candidates.best_index[cheap])


def test_prefetch_hands_out_results_in_order_and_direct_calls_out_of_order() -> None:
    calls: list[int] = []

    def square(k: int) -> int:
        calls.append(k)
        return k * k

    with Prefetch(square, [3, 5, 7]) as get:
        assert [get(3), get(5), get(7)] == [9, 25, 49]
        assert get(4) == 16
    assert sorted(calls) == [3, 4, 5, 7]


def test_a_strategy_needs_the_faithful_method() -> None:
    a = np.zeros((32, 32), np.uint8)
    with pytest.raises(gacn.InputError, match="method 'gacn'"):
        gacn.fuse([a, a, a], strategy="serial")


def test_missing_weights_are_refused_even_when_no_pixel_needs_the_network() -> None:
    flat = [np.full((48, 48), 128, np.uint8)] * 3  # no texture: the network is never asked
    assert gacn.fuse(flat, align=False).index_map.shape == (48, 48)
    with pytest.raises(InputError, match="weights file not found"):
        gacn.fuse(flat, align=False, weights="/nonexistent/gacn.safetensors")
