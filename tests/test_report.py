"""The benchmark suite: generated datasets with ground truth, scoring with a cache, the report."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_data
from typer.testing import CliRunner

from gacn.cli import app
from gacn.evaluation import datasets as ds
from gacn.evaluation.benchmark import builtin_fusers
from gacn.evaluation.datasets import (
    Dataset,
    band_psnr,
    halo_band,
    halo_item,
    synthetic_item,
)
from gacn.evaluation.report import (
    best_methods,
    markdown_table,
    mean_ranks,
    method_means,
    write_report,
)
from gacn.evaluation.scoring import MethodSpec, ResultCache, builtin_specs, run_suite
from gacn.fusion.pair import FusionResult
from gacn.training.synthesis import SynthesisConfig


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [ds.skimage_photo(n) for n in ("astronaut", "coffee")]


@pytest.fixture(scope="module")
def tiny_sets(photos: list[np.ndarray]) -> list[Dataset]:
    """Two 64x64 synthetic pairs and two 64x64 halo scenes."""
    cfg = SynthesisConfig(size=64)
    synthetic = [synthetic_item(np.random.default_rng(i), photos, f"s{i}", cfg) for i in range(2)]
    halo = [halo_item(np.random.default_rng(i), photos[i], ds.skimage_photo("brick"), f"h{i}", 64) for i in range(2)]
    return [Dataset("synthetic", synthetic, "tiny synthetic"), Dataset("halo", halo, "tiny halo")]


def _same(x: ds.Item, y: ds.Item) -> bool:
    return (x.name == y.name and all(np.array_equal(a, b) for a, b in zip(x.sources, y.sources))
            and np.array_equal(x.truth, y.truth) and np.array_equal(x.truth_mask, y.truth_mask)
            and (x.foreground is None) == (y.foreground is None)
            and (x.foreground is None or np.array_equal(x.foreground, y.foreground)))


def test_generated_sets_are_deterministic() -> None:
    for make in (ds.synthetic_set, ds.halo_set):
        first, second = make(count=3, size=48), make(count=3, size=48)
        assert [i.name for i in first.items] == [i.name for i in second.items]
        assert all(_same(x, y) for x, y in zip(first.items, second.items))
        assert not np.array_equal(first.items[0].sources[0], first.items[1].sources[0])
        item = first.items[0]
        assert item.sources[0].shape == item.truth.shape == (48, 48, 3) and item.truth.dtype == np.uint8
        assert item.truth_mask.shape == (48, 48)


@pytest.mark.parametrize("seed", range(4))
def test_method_pairs_truth_is_the_sharp_source_inside_the_mask(photos: list[np.ndarray], seed: int) -> None:
    """The method's recipe: source 1 is the truth inside the mask (source 2, sharp outside the mask's
    softened copy, only far from it); the sources may have been swapped."""
    item = synthetic_item(np.random.default_rng(seed), photos, "m", SynthesisConfig(size=96, occlusion_prob=0.0))
    a, b = item.sources
    take_a = item.truth_mask == 1
    assert 0.05 < take_a.mean() < 0.95 and np.all((item.truth_mask == 0) | take_a)
    sharp, other, inside = (a, b, take_a) if np.array_equal(a[take_a], item.truth[take_a]) else (b, a, ~take_a)
    np.testing.assert_array_equal(sharp[inside], item.truth[inside])
    assert np.abs(other[inside].astype(int) - item.truth[inside]).mean() > 0.5  # blurred there
    far = cv2.erode((~inside).astype(np.uint8), np.ones((61, 61), np.uint8)).astype(bool)
    assert np.abs(other[far].astype(int) - item.truth[far]).max(initial=0) <= 1


@pytest.mark.parametrize("seed", range(3))
def test_halo_scene_truth_matches_the_sharp_layers(photos: list[np.ndarray], seed: int) -> None:
    item = halo_item(np.random.default_rng(seed), photos[0], ds.skimage_photo("grass"), "h", 160)
    far, near = item.sources
    fg = item.foreground
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (29, 29))
    inner = cv2.erode(fg.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    outer = ~cv2.dilate(fg.astype(np.uint8), disc).astype(bool)
    outer[:14], outer[-14:], outer[:, :14], outer[:, -14:] = False, False, False, False  # glow from beyond the crop
    assert inner.any() and outer.any()
    # foreground sharp in source 2 (but for specks of the blob mask where alpha < 1), background in source 1
    assert np.quantile(np.abs(near[inner].astype(int) - item.truth[inner]), 0.99) <= 1
    assert np.quantile(np.abs(far[outer].astype(int) - item.truth[outer]), 0.99) <= 1
    # bright foreground, dark background
    assert item.truth[fg].mean() > 2 * item.truth[~fg].mean()
    band = halo_band(fg)
    assert band_psnr(item.truth, item.truth, band) == math.inf
    average = ((far.astype(np.uint16) + near) // 2).astype(np.uint8)
    assert band_psnr(average, item.truth, band) < 30.0
    assert band_psnr(far, item.truth, band) < band_psnr(near, item.truth, band)  # the halo is in source 1


def test_halo_band_is_a_15_px_ring_outside_the_foreground(tiny_sets: list[Dataset]) -> None:
    fg = np.zeros((100, 100), bool)
    fg[30:70, 40:60] = True
    for foreground in (fg, tiny_sets[1].items[0].foreground):
        band = halo_band(foreground)
        assert not (band & foreground).any()
        distance = cv2.distanceTransform((~foreground).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        assert distance[band].max() <= 16.0
        assert band[(distance > 0) & (distance <= 14)].all()
    band = halo_band(fg)
    assert int(band[50, :40].sum()) == int(band[50, 60:].sum()) == 15


def test_table_bolds_the_best_and_honours_lower_is_better() -> None:
    means = {
        "a": {"Q_G": 0.9, "Q_CV": 50.0, "PSNR": math.inf, "seconds": 2.0},
        "b": {"Q_G": 0.5, "Q_CV": 10.0, "PSNR": 30.0, "seconds": 0.1},
        "c": {"Q_G": 0.1, "Q_CV": 90.0, "seconds": 1.0},
    }
    assert best_methods(means, "Q_G") == {"a"} and best_methods(means, "Q_CV") == {"b"}
    assert best_methods(means, "seconds") == {"b"} and best_methods(means, "PSNR") == {"a"}
    ranks = mean_ranks(means, ["Q_G", "Q_CV", "PSNR"])
    assert ranks == {"a": pytest.approx(4 / 3), "b": pytest.approx(5 / 3), "c": 3.0}
    lines = markdown_table(means, ["Q_G", "Q_CV", "PSNR", "seconds"]).splitlines()
    assert lines[0] == "| method | Q_G ↑ | Q_CV ↓ | PSNR ↑ | s/fusion ↓ | mean rank ↓ |"
    assert lines[2] == "| a | **0.9000** | 50.0000 | **∞** | 2.000 | **1.33** |"
    assert lines[3] == "| b | 0.5000 | **10.0000** | 30.00 | **0.100** | 1.67 |"
    assert lines[4] == "| c | 0.1000 | 90.0000 | – | 1.000 | 3.00 |"


def test_method_means_skip_nan_and_missing() -> None:
    rows = [{"dataset": "d", "item": "1", "method": "m", "seconds": 1.0, "Q_G": 0.5, "map_acc": 0.9},
            {"dataset": "d", "item": "2", "method": "m", "seconds": 3.0, "Q_G": math.nan, "map_acc": 0.7},
            {"dataset": "d", "item": "1", "method": "n", "seconds": 1.0, "Q_G": 0.2},
            {"dataset": "e", "item": "1", "method": "m", "seconds": 9.0, "Q_G": 0.0}]
    means = method_means(rows, "d", ["Q_G", "map_acc", "seconds"])
    assert means == {"m": {"Q_G": 0.5, "map_acc": pytest.approx(0.8), "seconds": 2.0},
                     "n": {"Q_G": 0.2, "seconds": 1.0}}


def counting(spec: MethodSpec, calls: dict[str, int], version: str | None = None) -> MethodSpec:
    """The method with its pairwise calls counted in ``calls[name]``."""

    def fuse_pair(a: np.ndarray, b: np.ndarray) -> FusionResult:
        calls[spec.name] = calls.get(spec.name, 0) + 1
        return spec.fuse_pair(a, b)

    return MethodSpec(spec.name, fuse_pair, version or spec.version, spec.has_map)


def test_second_run_uses_the_cache(tmp_path: Path, tiny_sets: list[Dataset]) -> None:
    specs = builtin_specs()
    calls: dict[str, int] = {}
    wrapped = {n: counting(specs[n], calls) for n in ("average", "naive-laplacian")}
    cache = ResultCache(tmp_path / "cache")
    first = run_suite(tiny_sets, wrapped, cache, ["Q_G"])
    assert calls == {"average": 5, "naive-laplacian": 5}  # 4 items + one warm-up each
    assert not first.failures and len(first.rows) == 8
    assert (tmp_path / "cache" / "naive-laplacian" / "halo" / "h0.png").is_file()
    assert (tmp_path / "cache" / "naive-laplacian" / "halo" / "h0_map.png").is_file()
    assert not (tmp_path / "cache" / "average" / "halo" / "h0_map.png").exists()
    calls.clear()
    second = run_suite(tiny_sets, wrapped, cache, ["Q_G", "Q_M"])  # a new metric: scored from the cached image
    assert calls == {}
    for old, new in zip(first.rows, second.rows):
        assert new["Q_G"] == old["Q_G"] and new["seconds"] == old["seconds"] and "Q_M" in new
    naive = [r for r in second.rows if r["method"] == "naive-laplacian" and r["dataset"] == "halo"]
    assert all({"PSNR", "SSIM", "map_acc", "band_PSNR"} <= set(r) for r in naive)
    assert all("map_acc" not in r for r in second.rows if r["method"] == "average")
    run_suite(tiny_sets, {"average": counting(specs["average"], calls, "new version")}, cache, ["Q_G"])
    assert calls == {"average": 5}


def test_gacn_cache_key_follows_the_weights(tmp_path: Path) -> None:
    from gacn.model import default_weights_path

    other = tmp_path / "copy.safetensors"
    other.write_bytes(default_weights_path().read_bytes())
    assert builtin_specs(str(other))["gacn"].version == builtin_specs()["gacn"].version
    other.write_bytes(other.read_bytes()[:-1] + b" ")
    assert builtin_specs(str(other))["gacn"].version != builtin_specs()["gacn"].version


def test_three_sources_are_fused_serially() -> None:
    calls: dict[str, int] = {}
    spec = counting(MethodSpec("average", builtin_fusers()["average"], "v"), calls)
    sources = [np.full((16, 16), v, np.uint8) for v in (0, 100, 200)]
    assert int(spec.fuse(sources).image[0, 0]) == 125  # ((0 + 100) / 2 + 200) / 2
    assert calls == {"average": 2}


def test_report_writes_markdown_csv_and_figures(tmp_path: Path, tiny_sets: list[Dataset]) -> None:
    pytest.importorskip("matplotlib")
    specs = builtin_specs()
    chosen = {n: specs[n] for n in ("average", "naive-laplacian")}
    cache = ResultCache(tmp_path / "cache")
    result = run_suite(tiny_sets, chosen, cache, ["Q_G", "Q_CV"])
    path = write_report(tmp_path / "docs", tiny_sets, chosen, result, cache, ["Q_G", "Q_CV"], "gacn benchmark")
    text = path.read_text()
    assert "## synthetic (2 scenes)" in text and "## halo (2 scenes)" in text
    assert "band PSNR ↑" in text and "| naive-laplacian |" in text and "**" in text
    figures = sorted(p.name for p in (tmp_path / "docs" / "figures").iterdir())
    assert figures == ["box_halo.png", "box_synthetic.png", "montage_halo.png", "montage_synthetic.png", "time.png"]
    for name in figures:
        assert f"figures/{name}" in text
    assert (tmp_path / "docs" / "results.csv").read_text().count("\n") == 9


def test_a_dataset_adds_its_own_metric_as_a_report_column(tmp_path: Path) -> None:
    """A pair with a flat area and one source darkened (as in ``exposure``): the dataset's
    ``SEAM`` is scored and shown beside the suite's metrics; source 1 as the fused image has no
    seam (at most 1: the ratio's denominator is the busier source), naive selection switches
    sources in the flat area, where both have the same noise, in patches."""
    rng = np.random.default_rng(0)
    flat = np.clip(150 + rng.normal(0, 0.6, (64, 64, 3)), 0, 255).astype(np.uint8)
    texture = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    sharp = flat.copy()
    sharp[:, 40:] = texture[:, 40:]
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    blurred[:, :32] = np.clip(150 + rng.normal(0, 0.6 / 0.65, (64, 32, 3)), 0, 255).astype(np.uint8)  # noise as source 1 after the gain
    exposure = Dataset("exposure", [ds.Item("p_s2x0.65", [sharp, ds.apply_gain(blurred, 0.65)])], "tiny", ("SEAM",))
    specs = builtin_specs()
    chosen = {n: specs[n] for n in ("source-1", "naive-laplacian")}
    result = run_suite([exposure], chosen, ResultCache(tmp_path / "cache"), ["Q_G"])
    seams = {r["method"]: r["SEAM"] for r in result.rows}
    assert 0.8 < seams["source-1"] <= 1.0 and seams["naive-laplacian"] > 3.0
    if importlib.util.find_spec("matplotlib") is not None:
        path = write_report(tmp_path / "docs", [exposure], chosen, result, ResultCache(tmp_path / "cache"), ["Q_G"],
                            "gacn benchmark")
        assert "| method | Q_G ↑ | seam ratio ↓ | s/fusion ↓ | mean rank ↓ |" in path.read_text()


@pytest.mark.skipif(not (shared_data() / "pairs" / "lytro").is_dir(), reason="shared data not found")
def test_exposure_set_changes_one_source_of_each_lytro_pair() -> None:
    exposure = ds.load_dataset("exposure", shared_data())
    lytro = {i.name: i for i in ds.load_dataset("lytro", shared_data()).items}
    assert len(exposure.items) == 2 * len(lytro) and exposure.metrics == ("SEAM",)
    first, second = exposure.items[:2]
    assert (first.name, second.name) == ("lytro_01_s1x0.65", "lytro_01_s2x1.4")
    original = lytro["lytro_01"].sources
    np.testing.assert_array_equal(first.sources[1], original[1])
    np.testing.assert_array_equal(first.sources[0], np.rint(original[0] * 0.65).astype(np.uint8))
    np.testing.assert_array_equal(second.sources[0], original[0])
    np.testing.assert_array_equal(second.sources[1], np.clip(np.rint(original[1] * 1.4), 0, 255).astype(np.uint8))


def test_cli_report_and_its_errors(tmp_path: Path, tiny_sets: list[Dataset], monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    runner = CliRunner()
    out = runner.invoke(app, ["benchmark", str(tmp_path), "--report", str(tmp_path / "r")])
    assert out.exit_code == 2 and "no folders" in out.output
    out = runner.invoke(app, ["benchmark", "--report", str(tmp_path / "r"), "--datasets", "lytro,nope"])
    assert out.exit_code == 2 and "unknown dataset(s) nope" in out.output
    out = runner.invoke(app, ["benchmark"])
    assert out.exit_code == 2 and "--report" in out.output
    by_name = {d.name: d for d in tiny_sets}
    monkeypatch.setattr(ds, "load_dataset", lambda name, data=None: by_name[name])
    args = ["benchmark", "--report", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--datasets", "halo",
            "--methods", "average,source-1", "--metrics", "Q_G"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "wrote" in out.output and "4 fusions scored, 0 failed" in out.output
    assert "| source-1 |" in (tmp_path / "r" / "results.md").read_text()


@pytest.mark.skipif(not (shared_data() / "pairs" / "lytro").is_dir(), reason="shared data not found")
def test_real_datasets_load() -> None:
    triples = ds.load_dataset("triples", shared_data())
    assert len(triples.items) == 4 and all(len(i.sources) == 3 for i in triples.items)
    classic = ds.load_dataset("classic", shared_data())
    assert len(classic.items) == 6 and all(i.truth is None for i in classic.items)


@pytest.mark.skipif(not (shared_data() / "stacks" / "microscope_v4").is_dir(), reason="shared data not found")
def test_defocus_pairs_are_registered() -> None:
    """The microscope sweep breathes (the image scale changes with focus): after registration
    the two frames line up, so their heavily smoothed gray images correlate better than the
    same crop of the frames as shot."""
    defocus = ds.load_dataset("defocus", shared_data())
    assert [i.name for i in defocus.items][3] == "V015_V050"
    assert all(i.sources[0].shape == i.sources[1].shape for i in defocus.items)
    first, second = defocus.items[3].sources
    raw = cv2.resize(cv2.imread(str(shared_data() / "stacks" / "microscope_v4" / "V050.jpg")), (800, 600),
                     interpolation=cv2.INTER_AREA)[..., ::-1]
    h, w = first.shape[:2]
    dy, dx = (600 - h) // 2, (800 - w) // 2
    unregistered = raw[dy:dy + h, dx:dx + w]

    def correlation(x: np.ndarray, y: np.ndarray) -> float:
        smooth = lambda im: cv2.GaussianBlur(cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 6)
        return float(np.corrcoef(smooth(x).ravel(), smooth(y).ravel())[0, 1])

    assert h < 590 and w < 790
    assert correlation(first, second) > correlation(first, unregistered) + 0.02
