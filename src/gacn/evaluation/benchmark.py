"""Benchmark runner: fusion methods x datasets of real pairs x no-reference metrics -> tables.

Datasets are folders of pairs named ``NAME_1.ext`` / ``NAME_2.ext`` (the layout of the Lytro and
classic sets). Each method fuses every pair; every fused image is scored with
:func:`gacn.metrics.compute` (sources and fused image converted to gray with MATLAB's
``rgb2gray`` weights, as the reference toolbox does), and the per-pair scores are written to a CSV
and summarised as a Markdown table of means.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from gacn import metrics
from gacn.baselines import (
    average,
    block_spatial_frequency_fusion,
    dwt_fusion,
    enfuse_available,
    enfuse_fusion,
    guided_filtering_fusion,
    laplacian_energy_selection,
    laplacian_pyramid_fusion,
)
from gacn.fusion.pair import FusionResult, check_pair, fuse_pair
from gacn.io import InputError, read_image

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]
Fuser = Callable[[np.ndarray, np.ndarray], FusionResult]

#: Metrics reported by default: the ones the method's paper family uses, plus Q_P and Q_CV.
DEFAULT_METRICS = ("Q_G", "Q_M", "Q_CB", "Q_P", "Q_CV")


@dataclass
class PairSet:
    """A named list of (name, path of source 1, path of source 2)."""

    name: str
    pairs: list[tuple[str, Path, Path]]


def find_pairs(folder: str | Path, name: str | None = None) -> PairSet:
    """Collect the pairs ``X_1.*`` / ``X_2.*`` of a folder, sorted by name.

    Raises
    ------
    InputError
        If the folder does not exist or holds no pair.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"dataset folder not found: {folder}")
    pairs = []
    for first in sorted(folder.glob("*_1.*")):
        stem = first.stem[:-2]
        second = next(iter(sorted(folder.glob(f"{stem}_2.*"))), None)
        if second is not None:
            pairs.append((stem, first, second))
    if not pairs:
        raise InputError(f"no NAME_1 / NAME_2 image pairs in {folder}")
    return PairSet(name or folder.name, pairs)


def builtin_fusers(weights: str | None = None, device: str = "cpu") -> dict[str, Fuser]:
    """The methods known by name, returning the whole :class:`FusionResult` (image and maps).

    GACN (ours: ``gacn``, the faithful path with the boundary refinement of
    :mod:`gacn.fusion.refine`; ``gacn-method``, the published method's map without it;
    ``gacn-fast``, the default fast path of :mod:`gacn.fusion.cascade`), the classical baselines,
    averaging and source 1. Classical baselines:
    ``naive-laplacian`` (Laplacian-energy selection), ``laplacian-pyramid``, ``dwt``, ``gff``
    (guided filtering fusion), ``block-sf`` (block spatial frequency) and ``enfuse`` (only when
    the ``enfuse`` program is installed); see :mod:`gacn.baselines`.
    """

    def ours(a: np.ndarray, b: np.ndarray) -> FusionResult:
        return fuse_pair(a, b, weights=weights, device=device)

    def method_only(a: np.ndarray, b: np.ndarray) -> FusionResult:
        return fuse_pair(a, b, weights=weights, device=device, refine=False)

    def fast(a: np.ndarray, b: np.ndarray) -> FusionResult:
        import gacn

        return gacn.fuse([a, b], weights=weights, device=device)

    def copy_first(a: np.ndarray, b: np.ndarray) -> FusionResult:
        a, _ = check_pair(a, b)
        ones = np.ones(a.shape[:2], np.float32)
        return FusionResult(image=a, decision_map=ones, raw_decision_map=ones)

    fusers: dict[str, Fuser] = {
        "gacn": ours,
        "gacn-method": method_only,
        "gacn-fast": fast,
        "naive-laplacian": laplacian_energy_selection,
        "average": average,
        "source-1": copy_first,
        "laplacian-pyramid": laplacian_pyramid_fusion,
        "dwt": dwt_fusion,
        "gff": guided_filtering_fusion,
        "block-sf": block_spatial_frequency_fusion,
    }
    if enfuse_available():
        fusers["enfuse"] = enfuse_fusion
    return fusers


def builtin_methods(weights: str | None = None, device: str = "cpu") -> dict[str, Method]:
    """The methods of :func:`builtin_fusers`, returning the fused image only."""

    def image_of(fn: Fuser) -> Method:
        return lambda a, b: fn(a, b).image

    return {name: image_of(fn) for name, fn in builtin_fusers(weights, device).items()}


def run_benchmark(
    datasets: Sequence[PairSet],
    methods: dict[str, Method],
    metric_names: Sequence[str] = DEFAULT_METRICS,
    csv_path: str | Path | None = None,
    save_dir: str | Path | None = None,
) -> list[dict[str, object]]:
    """Fuse every pair with every method and score it.

    Parameters
    ----------
    datasets : sequence of PairSet
    methods : dict
        Name -> function ``(a, b) -> fused image`` (numpy in, numpy out).
    metric_names : sequence of str
        Names understood by :func:`gacn.metrics.compute`.
    csv_path : path, optional
        Where to write one row per (dataset, pair, method).
    save_dir : path, optional
        Where to write the fused images, as ``DATASET/METHOD/NAME.png``.

    Returns
    -------
    list of dict
        One row per (dataset, pair, method) with ``seconds`` and one key per metric.
    """
    from gacn.io import write_image

    names = metrics.parse_names(list(metric_names))
    rows: list[dict[str, object]] = []
    total = sum(len(d.pairs) for d in datasets) * len(methods)
    with Progress() as progress:
        task = progress.add_task("benchmark", total=total)
        for dataset in datasets:
            for pair_name, p1, p2 in dataset.pairs:
                a, b = read_image(p1), read_image(p2)
                for method_name, method in methods.items():
                    t0 = time.perf_counter()
                    fused = method(a, b)
                    seconds = time.perf_counter() - t0
                    if save_dir is not None:
                        out = Path(save_dir) / dataset.name / method_name
                        out.mkdir(parents=True, exist_ok=True)
                        write_image(out / f"{pair_name}.png", fused)
                    scores = metrics.compute(a, b, fused, names)
                    rows.append({"dataset": dataset.name, "pair": pair_name, "method": method_name,
                                 "seconds": seconds, **scores})
                    progress.advance(task)
    if csv_path is not None:
        with Path(csv_path).open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows


def summary_table(rows: list[dict[str, object]], metric_names: Sequence[str] = DEFAULT_METRICS) -> str:
    """Markdown table of the mean of each metric (and time) per dataset and method.

    NaN values (possible for Q_Y on flat areas) are left out of the means, and the count of
    pairs that gave NaN is not hidden: such a mean is marked with ``*``.
    """
    names = metrics.parse_names(list(metric_names))
    header = "| dataset | method | pairs | " + " | ".join(names) + " | s/pair |"
    lines = [header, "|" + "---|" * (len(names) + 4)]
    keys = list(dict.fromkeys((r["dataset"], r["method"]) for r in rows))
    for dataset, method in keys:
        sel = [r for r in rows if r["dataset"] == dataset and r["method"] == method]
        cells = []
        for n in names:
            values = [float(r[n]) for r in sel]  # type: ignore[arg-type]
            finite = [v for v in values if not math.isnan(v)]
            mean = float(np.mean(finite)) if finite else math.nan
            cells.append(f"{mean:.4f}" + ("*" if len(finite) < len(values) else ""))
        secs = float(np.mean([float(r["seconds"]) for r in sel]))  # type: ignore[arg-type]
        lines.append(f"| {dataset} | {method} | {len(sel)} | " + " | ".join(cells) + f" | {secs:.3f} |")
    return "\n".join(lines)

