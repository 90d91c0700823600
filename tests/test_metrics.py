"""Tests for gacn.metrics: reference values of Liu's toolbox plus reference-free properties.

The reference cases live in ``$GACN_SHARED/metrics_reference`` (default: the ``shared``
folder next to the repository root). Tests that need them are skipped when it is absent.
"""

from __future__ import annotations

import csv
import json
import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

try:
    import gacn.metrics  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gacn import metrics
from gacn.metrics import (
    NAMES,
    REGISTRY,
    compute,
    format_lines,
    map_accuracy,
    map_iou,
    parse_names,
    psnr,
    ssim,
    to_gray,
    to_json,
)

SHARED = Path(os.environ.get("GACN_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
REF_DIR = SHARED / "metrics_reference"
VALUES = REF_DIR / "values.tsv"

RTOL = 1e-6
ATOL = 1e-9


def _load_values() -> dict[tuple[str, str], float]:
    if not VALUES.is_file():
        return {}
    with open(VALUES, newline="") as fh:
        return {
            (r["case"], r["metric"]): float(r["value"])
            for r in csv.DictReader(fh, delimiter="\t")
        }


REF_VALUES = _load_values()
REF_CASES = sorted({c for c, _ in REF_VALUES})


@lru_cache(maxsize=None)
def _case_images(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import imageio.v3 as iio

    return tuple(
        np.asarray(iio.imread(REF_DIR / case / f"{n}.png")).astype(np.float64) for n in "ABF"
    )


# --------------------------------------------------------------------------- reference


def test_reference_table_complete():
    if not REF_VALUES:
        pytest.skip(f"reference values not found at {VALUES} (set GACN_SHARED)")
    assert len(REF_CASES) == 6
    for case in REF_CASES:
        assert {m for c, m in REF_VALUES if c == case} == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_matches_reference(name):
    if not REF_VALUES:
        pytest.skip(f"reference values not found at {VALUES} (set GACN_SHARED)")
    errors = []
    for case in REF_CASES:
        a, b, f = _case_images(case)
        got = REGISTRY[name](a, b, f)
        want = REF_VALUES[(case, name)]
        if not abs(got - want) <= RTOL * abs(want) + ATOL:
            errors.append(f"{case}: got {got!r}, reference {want!r}")
    assert not errors, f"{name} differs from the reference:\n" + "\n".join(errors)


def test_compute_on_uint8_files_matches_reference():
    """The public entry point (uint8 in, conversion by to_gray) gives the reference too."""
    if not REF_VALUES:
        pytest.skip(f"reference values not found at {VALUES} (set GACN_SHARED)")
    case = REF_CASES[0]
    paths = [REF_DIR / case / f"{n}.png" for n in "ABF"]
    res = metrics.compute_files(*paths, names="Q_MI,Q_G,Q_S")
    assert list(res) == ["Q_MI", "Q_G", "Q_S"]
    for name, got in res.items():
        want = REF_VALUES[(case, name)]
        assert abs(got - want) <= RTOL * abs(want) + ATOL


# --------------------------------------------------------------------------- properties


def _textured(seed: int, shape=(64, 72)) -> np.ndarray:
    """Smooth random texture with values spread over 0..255 (integers, as float64)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.normal(size=shape), 1.5)
    x = (x - x.min()) / (x.max() - x.min()) * 255
    return np.floor(x + 0.5)


A = _textured(1)
B = _textured(2)
F_AVG = np.floor((A + B) / 2 + 0.5)


def test_identical_images_give_known_extremes():
    r = {n: REGISTRY[n](A, A, A) for n in NAMES}
    assert r["Q_MI"] == pytest.approx(2.0, abs=1e-12)
    assert r["Q_M"] == pytest.approx(3.0, abs=1e-12)
    assert r["Q_SF"] == pytest.approx(0.0, abs=1e-12)
    assert r["Q_CV"] == pytest.approx(0.0, abs=1e-12)
    for n in ("Q_S", "Q_W", "Q_C", "Q_Y", "Q_CB"):
        assert r[n] == pytest.approx(1.0, abs=1e-9), n
    # Q_P correlates the *masked* source PC (PC > 0.1) with the unmasked fused PC, so even a
    # perfect fusion stays below 1 where the mask cuts a window; it must still beat averaging.
    assert REGISTRY["Q_P"](A, B, F_AVG) < r["Q_P"] < 1.0
    # NCC(X, X) = H(X)/8 bits, so Q_NCIE(A, A, A) is below 1 but above the average's score.
    assert REGISTRY["Q_NCIE"](A, B, F_AVG) < r["Q_NCIE"] < 1.0
    # The toolbox's Q_G has no Γ normalisation: a perfect match scores sigmoid(5)².
    assert r["Q_G"] == pytest.approx((1.0 / (1.0 + math.exp(-5.0))) ** 2, abs=1e-12)


def test_fused_average_is_worse_than_perfect():
    avg = {n: REGISTRY[n](A, B, F_AVG) for n in NAMES}
    assert avg["Q_CV"] > 1.0
    for n in ("Q_MI", "Q_M", "Q_S", "Q_CB", "Q_G", "Q_P", "Q_NCIE"):
        assert 0.0 < avg[n] < 0.999 * {"Q_MI": 2.0, "Q_M": 3.0}.get(n, 1.0), n
    # The average of two sources has less spatial frequency than the max-gradient reference.
    assert avg["Q_SF"] < 0


SYMMETRIC = [n for n in NAMES if n != "Q_C"]  # Q_C's r<0 -> 0 / r>1 -> 1 rule is not symmetric


@pytest.mark.parametrize("name", SYMMETRIC)
def test_symmetric_in_sources(name):
    f = np.floor(0.7 * A + 0.3 * B + 0.5)
    ab = REGISTRY[name](A, B, f)
    ba = REGISTRY[name](B, A, f)
    assert ab == pytest.approx(ba, rel=1e-10, abs=1e-12)


def test_q_c_not_symmetric_but_bounded():
    f = np.floor(0.7 * A + 0.3 * B + 0.5)
    v = REGISTRY["Q_C"](A, B, f)
    assert 0.0 <= v <= 1.0


def test_information_metrics_invariant_to_affine_gray_change():
    """Q_MI, Q_TE, Q_NCIE stretch each image to 0..255 first."""
    for n in ("Q_MI", "Q_TE", "Q_NCIE", "Q_TE_C"):
        v1 = REGISTRY[n](A, B, F_AVG)
        v2 = REGISTRY[n](A * 0.5 + 20, B, F_AVG)
        assert v1 == pytest.approx(v2, rel=1e-12), n


def test_better_fusion_scores_better():
    """Picking the sharper source per half beats blurring both (for 'higher is better')."""
    from scipy import ndimage

    sharp = _textured(3, (64, 64))
    blur = ndimage.gaussian_filter(sharp, 2.0)
    a = sharp.copy()
    a[:, 32:] = blur[:, 32:]
    b = sharp.copy()
    b[:, :32] = blur[:, :32]
    good = sharp
    bad = np.floor((a + b) / 2 + 0.5)
    for n in ("Q_G", "Q_M", "Q_S", "Q_P", "Q_CB", "Q_MI"):
        assert REGISTRY[n](a, b, good) > REGISTRY[n](a, b, bad), n
    # (Q_CV is left out: its saliency weights come from the sources only, and on this toy
    # pair it prefers the average. It is checked against the reference instead.)


# --------------------------------------------------------------------------- API


def test_names_and_registry():
    assert len(NAMES) == 14 == len(set(NAMES))
    assert list(REGISTRY) == NAMES + metrics.EXTRA_NAMES  # the toolbox's 14, then the extras (SEAM)
    assert set(metrics.INFO) == set(REGISTRY)
    for n, fn in REGISTRY.items():
        assert fn.__doc__ and "References" in fn.__doc__, n


def test_compute_default_all_and_selection():
    res = compute(A.astype(np.uint8), B.astype(np.uint8), F_AVG.astype(np.uint8))
    assert list(res) == NAMES
    assert all(isinstance(v, float) for v in res.values())
    sel = compute(A.astype(np.uint8), B.astype(np.uint8), F_AVG.astype(np.uint8), ["q_m", "Q_G"])
    assert list(sel) == ["Q_M", "Q_G"]
    assert sel["Q_M"] == res["Q_M"]


def test_unknown_name_raises_with_known_list():
    with pytest.raises(ValueError, match="Q_FOO.*known names: Q_MI"):
        compute(A, A, A, names=["Q_G", "Q_FOO"])
    with pytest.raises(ValueError):
        parse_names("")


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        compute(A, A[:-1], A)


def test_too_small_raises():
    with pytest.raises(ValueError, match="at least 11x11"):
        compute(A[:10], A[:10], A[:10])


def test_odd_sizes_run_and_are_finite():
    a, b = A[:61, :67], B[:61, :67]
    f = np.floor((a + b) / 2 + 0.5)
    res = compute(a / 255, b / 255, f / 255)
    assert all(np.isfinite(v) for v in res.values()), res


def test_flat_sources_give_nan_q_y_like_the_reference():
    a = A.copy()
    b = B.copy()
    # Zero-valued flat patches make σ_A² = σ_B² = 0 exactly (no round-off), so λ = 0/0.
    a[:20, :20] = 0.0
    b[:20, :20] = 0.0
    f = np.floor((a + b) / 2 + 0.5)
    assert math.isnan(REGISTRY["Q_Y"](a, b, f))
    assert math.isfinite(REGISTRY["Q_S"](a, b, f))  # guarded by the 0.5 rule


def test_to_gray_rules():
    rgb = np.array([[[10, 20, 30], [255, 255, 255]], [[0, 0, 0], [200, 13, 7]]], np.uint8)
    g = to_gray(rgb)
    w = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
    expect = np.floor(rgb.astype(np.float64) @ w + 0.5)
    assert g.dtype == np.float64 and g.shape == (2, 2)
    np.testing.assert_array_equal(g, expect)
    assert g[0, 0] == 18.0  # 18.15085
    # uint16 scaled by 1/257, float assumed 0..1
    assert to_gray(np.array([[65535, 257]], np.uint16)).tolist() == [[255.0, 1.0]]
    assert to_gray(np.array([[1.0, 0.5]])).tolist() == [[255.0, 127.5]]
    # alpha dropped, (H, W, 1) squeezed
    rgba = np.concatenate([rgb, np.full((2, 2, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(to_gray(rgba), g)
    assert to_gray(np.zeros((3, 4, 1), np.uint8)).shape == (3, 4)
    with pytest.raises(ValueError):
        to_gray(np.zeros((3, 4, 2)))


def test_float_input_equals_uint8_input():
    u = [x.astype(np.uint8) for x in (A, B, F_AVG)]
    r8 = compute(*u, names="Q_G,Q_S,Q_M,Q_MI")
    rf = compute(*[x / 255.0 for x in u], names="Q_G,Q_S,Q_M,Q_MI")
    for n in r8:
        assert rf[n] == pytest.approx(r8[n], rel=1e-9), n


def test_rgb_input_uses_rgb2gray():
    rng = np.random.default_rng(5)
    rgb = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(3)]
    gray = [to_gray(x).astype(np.uint8) for x in rgb]
    assert compute(*rgb, names="Q_S,Q_CV") == compute(*gray, names="Q_S,Q_CV")


def test_format_lines_and_json():
    res = {"Q_G": 0.123456789012, "Q_CV": 96.41710931, "Q_Y": float("nan")}
    lines = format_lines(res).splitlines()
    assert [ln.split()[0] for ln in lines] == ["Q_G", "Q_CV", "Q_Y"]
    assert float(lines[0].split()[1]) == pytest.approx(0.123456789012, rel=1e-9)
    assert lines[2].split()[1] == "nan"
    assert json.loads(to_json(res)) == {"Q_G": 0.123456789012, "Q_CV": 96.41710931, "Q_Y": None}


def test_cli_report(tmp_path):
    import imageio.v3 as iio

    paths = []
    for name, img in zip("ABF", (A, B, F_AVG)):
        p = tmp_path / f"{name}.png"
        iio.imwrite(p, img.astype(np.uint8))
        paths.append(p)
    text, notes = metrics.cli_report(*paths, names="Q_G,Q_M")
    assert notes == []
    lines = text.splitlines()
    assert [ln.split()[0] for ln in lines] == ["Q_G", "Q_M"]
    assert float(lines[1].split()[1]) == pytest.approx(REGISTRY["Q_M"](A, B, F_AVG), rel=1e-9)
    js = json.loads(metrics.cli_report(*paths, as_json=True)[0])
    assert list(js) == NAMES
    with pytest.raises(ValueError, match="known names"):
        metrics.cli_report(*paths, names="Q_X")


# --------------------------------------------------------------------------- reference-based


def test_psnr():
    x = np.zeros((8, 8), np.uint8)
    assert psnr(x, x) == math.inf
    ref = np.full((8, 8), 10, np.uint8)
    assert psnr(x, ref) == pytest.approx(10 * math.log10(255**2 / 100.0))
    assert psnr(x / 255.0, ref / 255.0) == pytest.approx(10 * math.log10(255**2 / 100.0))
    assert psnr(x.astype(float), ref.astype(float), data_range=100) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        psnr(x, ref[:-1])


def test_ssim():
    u = A.astype(np.uint8)
    assert ssim(u, u) == pytest.approx(1.0, abs=1e-12)
    assert ssim(A / 255, A / 255) == pytest.approx(1.0, abs=1e-12)
    noisy = np.clip(A + np.random.default_rng(0).normal(0, 20, A.shape), 0, 255)
    s = ssim(noisy, A, data_range=255)
    assert 0.0 < s < 0.9
    # Same value as the Wang SSIM used inside Q_S.
    from gacn.metrics.structural import ssim_stats

    m, *_ = ssim_stats(noisy, A, 11, (0.01 * 255) ** 2, (0.03 * 255) ** 2)
    assert s == pytest.approx(float(m.mean()), rel=1e-12)
    rgb = np.stack([u, u, u], axis=2)
    assert ssim(rgb, rgb) == pytest.approx(1.0, abs=1e-12)


def test_map_accuracy_and_iou():
    pred = np.array([[1, 0], [0, 1]], float)
    truth = np.array([[1, 1], [0, 0]], float)
    assert map_accuracy(pred, truth) == 0.5
    assert map_iou(pred, truth) == pytest.approx(1 / 3)
    assert map_accuracy(truth, truth) == 1.0
    assert map_iou(truth, truth) == 1.0
    assert map_iou(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    assert map_iou(1 - truth, truth) == 0.0
    soft = np.array([[0.9, 0.6], [0.2, 0.49]])
    assert map_accuracy(soft, truth) == 1.0
    assert map_accuracy(soft, truth, threshold=0.7) == 0.75
    assert map_accuracy(soft > 0.5, truth.astype(bool)) == 1.0
    with pytest.raises(ValueError):
        map_iou(pred, truth[:1])


# --------------------------------------------------------------------------- Q_C / Q_Y on real pairs

LYTRO = Path(os.environ.get("GACN_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")) / "pairs" / "lytro"
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def _lytro_gray(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sources 1 and 2 of ``lytro_NN`` as MATLAB's rgb2gray makes them (float64 0..255)."""
    import imageio.v3 as iio

    path = LYTRO / f"lytro_{n:02d}_1.png"
    if not path.is_file():
        pytest.skip(f"Lytro pairs not found at {LYTRO} (set GACN_DATA)")
    return tuple(np.floor(iio.imread(LYTRO / f"lytro_{n:02d}_{k}.png")[..., :3].astype(np.float64) @ RGB2GRAY + 0.5)
                 for k in (1, 2))


def _issue_fusions(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two fusions of the reference checks: the 8x8 spatial-frequency block rule and 0.3 A + 0.7 B."""
    from scipy.ndimage import uniform_filter

    def sf(x: np.ndarray) -> np.ndarray:
        rf, cf = np.zeros_like(x), np.zeros_like(x)
        rf[:, 1:] = (x[:, 1:] - x[:, :-1]) ** 2
        cf[1:, :] = (x[1:, :] - x[:-1, :]) ** 2
        return uniform_filter(rf + cf, 8)

    return np.where(sf(a) >= sf(b), a, b), np.floor(0.3 * a + 0.7 * b + 0.5)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(("pair", "crop", "expect"), [
    (19, (slice(150, 294), slice(350, 494)), {"Q_C": (0.7500402507, 0.7286370157)}),
    (5, (slice(None), slice(None)), {"Q_C": (0.752066686, 0.7937766765), "Q_Y": (0.9576704965, 0.9248052181)}),
])
def test_q_c_q_y_match_the_toolbox_on_lytro(pair, crop, expect):
    """Values of the reference toolbox (Octave) where a separable or pairwise-summed window gave
    Q_C off by 8e-4 / 4.6e-3 (crop) or NaN (whole image)."""
    a, b = (x[crop] for x in _lytro_gray(pair))
    for f, k in zip(_issue_fusions(a, b), (0, 1)):
        for name, values in expect.items():
            got = REGISTRY[name](a, b, f)
            assert abs(got - values[k]) <= 1e-9 * values[k] + ATOL, (name, k, got, values[k])


@pytest.mark.filterwarnings("error")
def test_q_y_nan_where_the_toolbox_is_nan_without_warnings():
    a, b = _lytro_gray(2)
    f = _issue_fusions(a, b)[1]
    result = compute(a.astype(np.uint8), b.astype(np.uint8), f.astype(np.uint8), names="Q_G,Q_Y")
    assert math.isfinite(result["Q_G"]) and math.isnan(result["Q_Y"])
    notes = metrics.undefined_notes(result)
    assert len(notes) == 1 and notes[0].startswith("Q_Y is undefined") and "flat" in notes[0]
