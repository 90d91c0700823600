"""Classical fusion baselines: quality on a synthetic pair with a known focus mask, dtype and size
round trips, input validation, and their registration in the benchmark runner."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gacn.baselines import (
    average,
    block_spatial_frequency_fusion,
    dwt_fusion,
    enfuse_available,
    enfuse_fusion,
    guided_filtering_fusion,
    laplacian_pyramid_fusion,
)
from gacn.baselines import enfuse as enfuse_module
from gacn.evaluation.benchmark import builtin_methods

needs_enfuse = pytest.mark.skipif(not enfuse_available(), reason="enfuse program not installed")

#: (function, minimum decision-map accuracy away from the focus boundary and the image border).
#: Measured on this pair: 0.995 for the pyramid (its per-level vote), 1.0 for the others.
METHODS = [
    pytest.param(laplacian_pyramid_fusion, 0.97, id="laplacian-pyramid"),
    pytest.param(dwt_fusion, 0.97, id="dwt"),
    pytest.param(guided_filtering_fusion, 0.97, id="gff"),
    pytest.param(block_spatial_frequency_fusion, 0.97, id="block-sf"),
    pytest.param(enfuse_fusion, 0.97, id="enfuse", marks=needs_enfuse),
]
FUNCTIONS = [pytest.param(p.values[0], id=p.id, marks=p.marks) for p in METHODS]

H, W = 96, 120  # the boundary (column 60) is not on a 16-pixel block edge
BAND = 16  # pixels either side of the boundary left out of the accuracy
EDGE = 2  # image border left out: Enfuse leaves half its 5x5 contrast window undecided (0.5)


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((x.astype(np.float64) - y) ** 2)))


@pytest.fixture(scope="module")
def pair() -> dict[str, np.ndarray]:
    """A textured truth; A sharp on the left half, B on the right, Gaussian blur (sigma 3) elsewhere."""
    rng = np.random.default_rng(0)
    fine = cv2.GaussianBlur(rng.random((H, W)).astype(np.float32), (0, 0), 1)
    coarse = cv2.GaussianBlur(rng.random((H, W)).astype(np.float32), (0, 0), 4)
    truth = fine + 0.5 * coarse
    truth = (truth - truth.min()) / (truth.max() - truth.min())
    truth = np.rint(truth * 255) / 255  # exactly representable in uint8
    blur = cv2.GaussianBlur(truth, (0, 0), 3, borderType=cv2.BORDER_REFLECT)
    mask = np.zeros((H, W), bool)
    mask[:, : W // 2] = True
    a = np.where(mask, truth, blur)
    b = np.where(mask, blur, truth)
    a8, b8 = (np.rint(x * 255).astype(np.uint8) for x in (a, b))
    return {"truth": truth, "mask": mask, "a": a8, "b": b8}


@pytest.mark.parametrize(("fn", "min_accuracy"), METHODS)
def test_fusion_beats_average_and_finds_the_focused_half(pair, fn, min_accuracy) -> None:
    result = fn(pair["a"], pair["b"])
    assert result.image.dtype == np.uint8 and result.image.shape == (H, W)
    baseline = psnr(average(pair["a"], pair["b"]).image / 255.0, pair["truth"])
    fused = psnr(result.image / 255.0, pair["truth"])
    assert fused > baseline + 6.0, (fused, baseline)
    dm = result.decision_map
    assert dm.shape == (H, W) and dm.dtype == np.float32 and dm.min() >= 0 and dm.max() <= 1
    far = np.abs(np.arange(W) + 0.5 - W / 2) > BAND
    far[:EDGE] = far[-EDGE:] = False
    accuracy = np.mean(((dm > 0.5) == pair["mask"])[EDGE:-EDGE, far])
    assert accuracy >= min_accuracy, accuracy


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_swapping_the_sources_swaps_the_decision(pair, fn) -> None:
    ab = fn(pair["a"], pair["b"]).decision_map
    ba = fn(pair["b"], pair["a"]).decision_map
    far = np.abs(np.arange(W) + 0.5 - W / 2) > BAND
    assert np.mean(((ab > 0.5) != (ba > 0.5))[:, far]) > 0.9


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_uint8_rgb_round_trip(fn) -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (64, 72, 3), dtype=np.uint8)
    b = cv2.GaussianBlur(a, (0, 0), 2)
    result = fn(a, b)
    assert result.image.dtype == np.uint8 and result.image.shape == (64, 72, 3)
    assert result.decision_map.shape == (64, 72)
    # identical sources fuse to themselves (up to rounding)
    same = fn(a, a).image.astype(int)
    assert np.abs(same - a).max() <= 1


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_uint16_gray_odd_size_round_trip(fn) -> None:
    rng = np.random.default_rng(2)
    a = (rng.random((97, 131)) * 65535).astype(np.uint16)
    b = cv2.GaussianBlur(a, (0, 0), 2)
    result = fn(a, b)
    assert result.image.dtype == np.uint16 and result.image.shape == (97, 131)
    assert result.decision_map.shape == (97, 131)
    assert result.image.max() > 255  # kept on the 16-bit scale
    assert np.abs(fn(a, a).image.astype(int) - a).max() <= 1


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_float_input_stays_float_in_range(fn) -> None:
    rng = np.random.default_rng(3)
    a = rng.random((33, 45)).astype(np.float32)
    result = fn(a, np.full_like(a, 0.5))
    assert result.image.dtype == np.float32 and result.image.shape == (33, 45)
    assert result.image.min() >= 0 and result.image.max() <= 1


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_mismatched_sources_raise(fn) -> None:
    with pytest.raises(ValueError, match="sizes differ"):
        fn(np.zeros((32, 32), np.uint8), np.zeros((32, 40), np.uint8))
    with pytest.raises(ValueError, match="gray and the other colour"):
        fn(np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.uint8))


def test_block_sf_handles_sizes_not_divisible_by_the_block() -> None:
    rng = np.random.default_rng(4)
    sharp = rng.random((50, 37)).astype(np.float32)
    flat = np.full_like(sharp, 0.5)
    result = block_spatial_frequency_fusion(sharp, flat, block=16)
    assert result.decision_map.shape == (50, 37) and result.decision_map.min() == 1.0
    np.testing.assert_allclose(result.image, sharp, atol=1e-6)


def test_block_sf_threshold_averages_undecided_blocks() -> None:
    rng = np.random.default_rng(5)
    a = rng.random((32, 32)).astype(np.float32)
    result = block_spatial_frequency_fusion(a, a[::-1].copy(), block=8, threshold=10.0)
    assert np.all(result.decision_map == 0.5)
    np.testing.assert_allclose(result.image, 0.5 * (a + a[::-1]), atol=1e-6)


def test_enfuse_missing_program_raises_runtime_error(monkeypatch) -> None:
    monkeypatch.setattr(enfuse_module.shutil, "which", lambda name: None)
    assert not enfuse_module.enfuse_available()
    with pytest.raises(RuntimeError, match="enfuse"):
        enfuse_module.enfuse_fusion(np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8))


def test_benchmark_registers_the_baselines(monkeypatch) -> None:
    names = builtin_methods()
    for name in ("gacn", "naive-laplacian", "average", "source-1", "laplacian-pyramid", "dwt", "gff", "block-sf"):
        assert name in names
    assert ("enfuse" in names) == enfuse_available()
    monkeypatch.setattr(enfuse_module.shutil, "which", lambda name: None)
    assert "enfuse" not in builtin_methods()
    rng = np.random.default_rng(6)
    a = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    for name in ("laplacian-pyramid", "dwt", "gff", "block-sf"):
        assert names[name](a, a).shape == a.shape


@pytest.mark.parametrize("channels", [1, 3])
def test_guided_filter_matches_a_brute_force_reference(channels) -> None:
    """He et al.'s definition computed window by window, on pixels whose windows avoid the border."""
    from gacn.baselines.guided import guided_filter

    rng = np.random.default_rng(7)
    size, r, eps = 20, 2, 0.01
    guide = rng.random((size, size, channels))
    src = rng.random((size, size))
    coef_a = np.zeros((size, size, channels))
    coef_b = np.zeros((size, size))
    for y in range(r, size - r):
        for x in range(r, size - r):
            win_i = guide[y - r : y + r + 1, x - r : x + r + 1].reshape(-1, channels)
            win_p = src[y - r : y + r + 1, x - r : x + r + 1].ravel()
            mu = win_i.mean(0)
            sigma = (win_i - mu).T @ (win_i - mu) / len(win_p)
            cov = (win_i - mu).T @ (win_p - win_p.mean()) / len(win_p)
            coef_a[y, x] = np.linalg.solve(sigma + eps * np.eye(channels), cov)
            coef_b[y, x] = win_p.mean() - coef_a[y, x] @ mu
    out = guided_filter(guide[..., 0] if channels == 1 else guide, src, r, eps)
    for y in range(2 * r, size - 2 * r):
        for x in range(2 * r, size - 2 * r):
            mean_a = coef_a[y - r : y + r + 1, x - r : x + r + 1].reshape(-1, channels).mean(0)
            mean_b = coef_b[y - r : y + r + 1, x - r : x + r + 1].mean()
            assert out[y, x] == pytest.approx(mean_a @ guide[y, x] + mean_b, abs=1e-5)
