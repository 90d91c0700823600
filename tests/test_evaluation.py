"""Baselines and the benchmark runner on small synthetic pairs."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from gacn.baselines import average, laplacian_energy_selection
from gacn.demo import make_demo_pair
from gacn.evaluation.benchmark import builtin_methods, find_pairs, run_benchmark, summary_table
from gacn.io import InputError
from gacn.metrics import map_accuracy


def test_naive_selection_finds_the_sharp_regions(photo_rgb: np.ndarray) -> None:
    pair = make_demo_pair(photo_rgb, radius=4.0)
    result = laplacian_energy_selection(pair.source1, pair.source2)
    assert map_accuracy(result.decision_map, pair.mask) > 0.85
    assert result.image.dtype == np.uint8 and result.image.shape == pair.source1.shape


def test_average_is_the_mean() -> None:
    a = np.full((16, 16), 10, np.uint16)
    b = np.full((16, 16), 30, np.uint16)
    assert np.all(average(a, b).image == 20)


def test_benchmark_runner_ranks_selection_above_averaging(tmp_path: Path, photo_rgb: np.ndarray) -> None:
    for i, crop in enumerate([photo_rgb[:96, :96], photo_rgb[60:, 100:]]):
        pair = make_demo_pair(crop, radius=4.0)
        iio.imwrite(tmp_path / f"p{i}_1.png", pair.source1)
        iio.imwrite(tmp_path / f"p{i}_2.png", pair.source2)
    dataset = find_pairs(tmp_path)
    assert [p[0] for p in dataset.pairs] == ["p0", "p1"]
    methods = builtin_methods()
    rows = run_benchmark([dataset], {k: methods[k] for k in ("gacn", "naive-laplacian", "average")}, ["Q_G"],
                         csv_path=tmp_path / "scores.csv")
    assert len(rows) == 6 and (tmp_path / "scores.csv").read_text().count("\n") == 7
    mean = {m: np.mean([r["Q_G"] for r in rows if r["method"] == m]) for m in ("gacn", "naive-laplacian", "average")}
    assert mean["gacn"] > mean["average"] + 0.05
    assert mean["naive-laplacian"] > mean["average"] + 0.05
    table = summary_table(rows, ["Q_G"])
    assert table.count("\n") == 4 and "| gacn |" in table


def test_find_pairs_rejects_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no NAME_1"):
        find_pairs(tmp_path)
