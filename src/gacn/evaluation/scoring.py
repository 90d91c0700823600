"""Score fusion methods on the benchmark datasets, one (method, dataset, item) at a time, cached.

For every item each method fuses the sources (pairwise methods fuse three or more serially: 1
with 2, the result with 3, ...; GACN uses :func:`gacn.fuse` on all of them), and the result is
scored with

* the no-reference fusion metrics of :func:`gacn.metrics.compute` (they take exactly two
  sources; with more, the mean over every pair of sources),
* ``PSNR`` and ``SSIM`` against the all-in-focus truth, where the item has one,
* ``map_acc``: the pixel accuracy of the method's decision map against the truth mask, where
  the item has one and the method makes a decision (not ``average`` and ``source-1``),
* ``band_PSNR``: PSNR against the truth in the 15 px band outside the foreground of an
  occlusion (halo) scene (:func:`gacn.evaluation.datasets.halo_band`),
* ``seconds``: the wall time of the fusion.

Results are cached on disk as ``CACHE/METHOD/DATASET/ITEM.png`` (fused image),
``ITEM_map.png`` (8-bit decision map, two-source items) and ``ITEM.json`` (key, time, scores).
The key hashes the method's version (for GACN the weights file and the inference code; for the
other methods the code of their module) and the sources, so new weights, changed code or a
changed dataset invalidate the entry; scores missing from a valid entry (another metric
requested) are computed from the cached image without fusing again.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import math
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

import gacn
from gacn import metrics
from gacn.evaluation.benchmark import DEFAULT_METRICS, Fuser, builtin_fusers
from gacn.evaluation.datasets import Dataset, Item, band_psnr, halo_band
from gacn.fusion.result import FusionResult
from gacn.io import read_image, write_image

#: Scores against a ground truth, in report order.
REFERENCE_COLUMNS = ("PSNR", "SSIM", "map_acc", "band_PSNR")

#: Methods whose decision map is not a decision (constant), left out of ``map_acc``.
NO_MAP = ("average", "source-1")


def direction(column: str) -> str:
    """``'higher'``, ``'lower'`` or ``'zero'`` (closer to 0): which values of a column are better.

    Examples
    --------
    >>> direction("Q_CV"), direction("seconds"), direction("PSNR"), direction("Q_SF")
    ('lower', 'lower', 'higher', 'zero')
    """
    if column in metrics.INFO:
        return metrics.INFO[column].better
    return "lower" if column == "seconds" else "higher"


@dataclass(frozen=True)
class MethodSpec:
    """A fusion method as the benchmark runs it.

    Attributes
    ----------
    name : str
        Name in tables and cache paths.
    fuse_pair : callable
        ``(a, b) -> FusionResult``.
    version : str
        Part of the cache key: changes whenever the method's output may change.
    has_map : bool
        Whether its decision map is a real decision (scored with ``map_acc`` and drawn).
    fuse_stack : callable, optional
        ``(sources) -> FusionResult`` for three or more sources; serial pairwise fusion if None.
    """

    name: str
    fuse_pair: Fuser
    version: str
    has_map: bool = True
    fuse_stack: Callable[[list[np.ndarray]], FusionResult] | None = None

    def fuse(self, sources: Sequence[np.ndarray]) -> FusionResult:
        """Fuse two or more sources (serially with :attr:`fuse_pair` when no :attr:`fuse_stack`)."""
        if len(sources) > 2 and self.fuse_stack is not None:
            return self.fuse_stack(list(sources))
        result = self.fuse_pair(sources[0], sources[1])
        for source in sources[2:]:
            result = self.fuse_pair(result.image, source)
        return result


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()[:16]


def code_version(*modules: types.ModuleType) -> str:
    """Hash of the source code of ``modules``."""
    return _digest(*(inspect.getsource(m).encode() for m in modules))


def builtin_specs(weights: str | None = None, device: str = "cpu") -> dict[str, MethodSpec]:
    """The methods of :func:`~gacn.evaluation.benchmark.builtin_fusers` with their versions.

    GACN's version hashes the weights file (``weights`` or the shipped one), the device and the
    code of the network, inference, guided filter, tiling and stack modules (for ``gacn-fast`` also
    the fast path's steps, exposure matching and flat areas), and for the refined
    ``gacn`` and ``gacn-fast`` the shipped boundary refiner's weights and code as well; on three
    or more sources it runs :func:`gacn.fuse` (the faithful path with its default strategy, or
    the fast path for ``gacn-fast``; no alignment, so that the result keeps the sources' size).
    """
    from gacn.fusion import blend, cascade, decide, exposure, faithful, flat, frames, measure, pair, refine, stack, tiling
    from gacn.model import default_weights_path, guided_filter, inference, network, refiner

    specs = {}
    for name, fn in builtin_fusers(weights, device).items():
        if name in ("gacn", "gacn-method", "gacn-fast"):
            path = Path(weights) if weights is not None else default_weights_path()
            refined = name != "gacn-method"
            method = "fast" if name == "gacn-fast" else "gacn"
            modules = (pair, stack, faithful, tiling, refine, network, inference, guided_filter)
            if method == "fast":
                modules += (cascade, decide, measure, blend, flat, exposure, frames)
            version = (f"weights {_digest(path.read_bytes())} device {device} refine {refined} method {method} "
                       f"code {code_version(*modules)}")
            if refined:
                version += (f" refiner {_digest(refiner.default_refiner_path().read_bytes())} "
                            f"{code_version(refiner)}")
            specs[name] = MethodSpec(name, fn, version, fuse_stack=lambda sources, refined=refined, method=method:
                                     gacn.fuse(sources, weights=weights, device=device, method=method, align=False,
                                               refine=refined))
        else:
            specs[name] = MethodSpec(name, fn, code_version(inspect.getmodule(fn)), has_map=name not in NO_MAP)
    return specs


def item_key(spec: MethodSpec, item: Item) -> str:
    """Cache key of a method's result on an item: the method's version and the sources."""
    parts = [spec.version.encode()]
    for source in item.sources:
        parts += [f"{source.shape} {source.dtype}".encode(), np.ascontiguousarray(source).tobytes()]
    return _digest(*parts)


class ResultCache:
    """Fused images, decision maps and scores on disk, one folder per method and dataset."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _base(self, method: str, dataset: str, item: str) -> Path:
        return self.root / method / dataset / item

    def image(self, method: str, dataset: str, item: str) -> np.ndarray:
        """The cached fused image."""
        return read_image(self._base(method, dataset, item).with_suffix(".png"))

    def decision_map(self, method: str, dataset: str, item: str) -> np.ndarray | None:
        """The cached decision map (float32 0..1), or None if none was stored."""
        path = self._base(method, dataset, item).with_name(f"{item}_map.png")
        return read_image(path).astype(np.float32) / 255.0 if path.is_file() else None

    def load(self, method: str, dataset: str, item: str, key: str) -> dict | None:
        """The cached record ``{'key', 'seconds', 'scores'}`` if it exists and matches ``key``."""
        base = self._base(method, dataset, item)
        path = base.with_suffix(".json")
        if not path.is_file() or not base.with_suffix(".png").is_file():
            return None
        record = json.loads(path.read_text())
        return record if record.get("key") == key else None

    def save(self, method: str, dataset: str, item: str, record: dict, image: np.ndarray | None = None,
             decision_map: np.ndarray | None = None) -> None:
        """Write the record (and the image and 8-bit map when given)."""
        base = self._base(method, dataset, item)
        base.parent.mkdir(parents=True, exist_ok=True)
        if image is not None:
            write_image(base.with_suffix(".png"), image)
            map_path = base.with_name(f"{item}_map.png")
            if decision_map is not None:
                write_image(map_path, quantize_map(decision_map))
            else:
                map_path.unlink(missing_ok=True)
        tmp = base.with_suffix(".json.part")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(base.with_suffix(".json"))


def quantize_map(decision_map: np.ndarray) -> np.ndarray:
    """A 0..1 decision map as uint8 (the cached form; scores use it too, so they match the cache)."""
    return np.clip(np.rint(decision_map * 255.0), 0, 255).astype(np.uint8)


def dataset_metrics(dataset: Dataset, metric_names: Sequence[str]) -> list[str]:
    """The no-reference metrics scored on a dataset: the suite's, then the dataset's own
    (:attr:`~gacn.evaluation.datasets.Dataset.metrics`, e.g. the seam ratio), without repeats.

    Examples
    --------
    >>> dataset_metrics(Dataset("d", [], "", ("SEAM", "Q_G")), ["Q_G", "Q_CV"])
    ['Q_G', 'Q_CV', 'SEAM']
    """
    return list(dict.fromkeys([*metric_names, *dataset.metrics]))


def columns_for(item: Item, spec: MethodSpec, metric_names: Sequence[str]) -> list[str]:
    """The score columns that apply to a method on an item (time not included)."""
    columns = list(metric_names)
    if item.truth is not None:
        columns += ["PSNR", "SSIM"]
    if item.truth_mask is not None and spec.has_map and len(item.sources) == 2:
        columns.append("map_acc")
    if item.foreground is not None and item.truth is not None:
        columns.append("band_PSNR")
    return columns


def score(item: Item, fused: np.ndarray, decision_map: np.ndarray | None, columns: Sequence[str]) -> dict[str, float]:
    """Compute the given score columns of one fused image (see the module docstring).

    Parameters
    ----------
    item : Item
    fused : ndarray
        The fused image, same shape as the sources.
    decision_map : ndarray or None
        The method's decision map (float 0..1), needed for ``map_acc``.
    columns : sequence of str
        Metric names of :data:`gacn.metrics.REGISTRY` and names of :data:`REFERENCE_COLUMNS`.
    """
    names = [c for c in columns if c in metrics.REGISTRY]
    out: dict[str, float] = {}
    if names:
        pairs = [metrics.compute(a, b, fused, names) for a, b in combinations(item.sources, 2)]
        out.update({n: float(np.mean([p[n] for p in pairs])) for n in names})
    if "PSNR" in columns:
        out["PSNR"] = metrics.psnr(fused, item.truth)
    if "SSIM" in columns:
        out["SSIM"] = metrics.ssim(fused, item.truth)
    if "map_acc" in columns:
        out["map_acc"] = metrics.map_accuracy(quantize_map(decision_map) / 255.0, item.truth_mask)
    if "band_PSNR" in columns:
        out["band_PSNR"] = band_psnr(fused, item.truth, halo_band(item.foreground))
    return out


@dataclass
class SuiteResult:
    """Rows of scores (one per dataset, item and method) and the fusions that failed."""

    rows: list[dict[str, object]]
    failures: list[dict[str, str]]


def _warm_up(spec: MethodSpec, item: Item) -> None:
    """One untimed fusion of a small crop, so that loading a model is not timed."""
    spec.fuse([s[:32, :32] for s in item.sources])


def run_suite(
    datasets: Sequence[Dataset],
    specs: dict[str, MethodSpec],
    cache: ResultCache,
    metric_names: Sequence[str] = DEFAULT_METRICS,
    console: Console | None = None,
) -> SuiteResult:
    """Fuse and score every item of every dataset with every method, reusing the cache.

    A method that raises on an item is recorded in :attr:`SuiteResult.failures` and skipped.

    Parameters
    ----------
    datasets : sequence of Dataset
    specs : dict
        Name -> :class:`MethodSpec`.
    cache : ResultCache
    metric_names : sequence of str
        No-reference metric names understood by :func:`gacn.metrics.compute`; each dataset adds
        its own (:func:`dataset_metrics`).
    console : rich.console.Console, optional
        Where the progress bar is drawn (stderr by default).

    Returns
    -------
    SuiteResult
    """
    names = metrics.parse_names(list(metric_names))
    rows: list[dict[str, object]] = []
    failures: list[dict[str, str]] = []
    warm: set[str] = set()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    total = sum(len(d.items) for d in datasets) * len(specs)
    with Progress(*columns, console=console or Console(stderr=True)) as progress:
        task = progress.add_task("benchmark", total=total)
        for dataset in datasets:
            dataset_names = dataset_metrics(dataset, names)
            for spec in specs.values():
                progress.update(task, description=f"{dataset.name}: {spec.name}")
                for item in dataset.items:
                    key = item_key(spec, item)
                    wanted = columns_for(item, spec, dataset_names)
                    record = cache.load(spec.name, dataset.name, item.name, key)
                    try:
                        if record is None:
                            if spec.name not in warm:
                                _warm_up(spec, item)
                                warm.add(spec.name)
                            t0 = time.perf_counter()
                            result = spec.fuse(item.sources)
                            seconds = time.perf_counter() - t0
                            if result.image.shape != item.sources[0].shape:
                                raise ValueError(f"result shape {result.image.shape} differs from the sources' "
                                                 f"{item.sources[0].shape}")
                            dmap = result.decision_map if spec.has_map and len(item.sources) == 2 else None
                            record = {"key": key, "seconds": seconds,
                                      "scores": score(item, result.image, dmap, wanted)}
                            cache.save(spec.name, dataset.name, item.name, record, result.image, dmap)
                        elif missing := [c for c in wanted if c not in record["scores"]]:
                            fused = cache.image(spec.name, dataset.name, item.name)
                            dmap = cache.decision_map(spec.name, dataset.name, item.name)
                            record["scores"].update(score(item, fused, dmap, missing))
                            cache.save(spec.name, dataset.name, item.name, record)
                    except Exception as exc:  # noqa: BLE001 - a failing method must not stop the benchmark
                        failures.append({"dataset": dataset.name, "item": item.name, "method": spec.name,
                                         "error": f"{type(exc).__name__}: {exc}"})
                    else:
                        rows.append({"dataset": dataset.name, "item": item.name, "method": spec.name,
                                     "seconds": record["seconds"],
                                     **{c: record["scores"][c] for c in wanted}})
                    progress.advance(task)
    return SuiteResult(rows, failures)


def write_csv(rows: Sequence[dict[str, object]], path: str | Path) -> None:
    """One line per row; the columns are the union of the rows' keys, in order of appearance."""
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with Path(path).open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v)
                             for k, v in row.items()})
