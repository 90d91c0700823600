"""The benchmark report: Markdown tables of means with the best values in bold and a mean rank,
box plots per dataset, a montage of one scene per dataset and a chart of the fusion times.

Needs matplotlib (``pip install gacn[report]``). Figures are small PNGs (palette-quantised).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy.stats import rankdata

from gacn.baselines import laplacian_energy_selection
from gacn.evaluation.datasets import HALO_BAND, Dataset, Item
from gacn.evaluation.scoring import (
    REFERENCE_COLUMNS,
    MethodSpec,
    ResultCache,
    SuiteResult,
    dataset_metrics,
    direction,
    write_csv,
)
from gacn.io import to_gray_float

#: Header arrows for the direction of a column.
_ARROW = {"higher": "↑", "lower": "↓", "zero": "→0"}

#: Column titles in tables and plots.
_TITLE = {"seconds": "s/fusion", "map_acc": "map acc", "band_PSNR": "band PSNR", "SEAM": "seam ratio"}


def sort_key(column: str, value: float) -> float:
    """A key that is smaller for better values of ``column`` (see :func:`~gacn.evaluation.scoring.direction`).

    Examples
    --------
    >>> sort_key("Q_G", 0.7) < sort_key("Q_G", 0.6), sort_key("Q_CV", 10.0) < sort_key("Q_CV", 20.0)
    (True, True)
    """
    better = direction(column)
    if better == "higher":
        return -value
    return abs(value) if better == "zero" else value


def method_means(rows: Sequence[dict[str, object]], dataset: str, columns: Sequence[str]
                 ) -> dict[str, dict[str, float]]:
    """Mean of each column per method over a dataset's rows; NaN values are left out, and a
    column with no value for a method is absent from its dict."""
    means: dict[str, dict[str, float]] = {}
    for row in rows:
        if row["dataset"] == dataset:
            means.setdefault(str(row["method"]), {})
    for method, cells in means.items():
        sel = [r for r in rows if r["dataset"] == dataset and r["method"] == method]
        for column in columns:
            values = [float(r[column]) for r in sel if column in r]  # type: ignore[arg-type]
            finite = [v for v in values if not math.isnan(v)]
            if finite:
                cells[column] = float(np.mean(finite))
    return means


def best_methods(means: dict[str, dict[str, float]], column: str) -> set[str]:
    """The methods with the best mean of ``column`` (ties included)."""
    keyed = {m: sort_key(column, c[column]) for m, c in means.items() if column in c}
    if not keyed:
        return set()
    best = min(keyed.values())
    return {m for m, k in keyed.items() if k == best or math.isclose(k, best, rel_tol=1e-9)}


def mean_ranks(means: dict[str, dict[str, float]], columns: Sequence[str]) -> dict[str, float]:
    """Each method's rank (1 = best, ties averaged) per column, averaged over the columns it has.

    Examples
    --------
    >>> means = {"a": {"Q_G": 0.9, "Q_CV": 50.0}, "b": {"Q_G": 0.5, "Q_CV": 10.0}, "c": {"Q_G": 0.1, "Q_CV": 90.0}}
    >>> mean_ranks(means, ["Q_G", "Q_CV"])
    {'a': 1.5, 'b': 1.5, 'c': 3.0}
    """
    ranks: dict[str, list[float]] = {m: [] for m in means}
    for column in columns:
        have = [m for m in means if column in means[m]]
        if not have:
            continue
        for m, r in zip(have, rankdata([sort_key(column, means[m][column]) for m in have])):
            ranks[m].append(float(r))
    return {m: float(np.mean(r)) if r else math.nan for m, r in ranks.items()}


def format_value(column: str, value: float) -> str:
    """A table cell: dB with 2 decimals, seconds with 3, other scores with 4; ∞ for infinity."""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if column in ("PSNR", "band_PSNR"):
        return f"{value:.2f}"
    return f"{value:.3f}" if column == "seconds" else f"{value:.4f}"


def markdown_table(means: dict[str, dict[str, float]], columns: Sequence[str]) -> str:
    """Methods x columns table of means, the best of each column in bold, and a mean-rank column.

    The mean rank is taken over every column but ``seconds``; its best value is bold too.
    Missing values are shown as ``–``.
    """
    quality = [c for c in columns if c != "seconds"]
    ranks = mean_ranks(means, quality)
    best = {c: best_methods(means, c) for c in columns}
    rank_best = min(ranks.values(), default=math.nan)
    head = [f"{_TITLE.get(c, c)} {_ARROW[direction(c)]}" for c in columns] + ["mean rank ↓"]
    lines = ["| method | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for method, cells in means.items():
        out = []
        for column in columns:
            if column not in cells:
                out.append("–")
                continue
            text = format_value(column, cells[column])
            out.append(f"**{text}**" if method in best[column] else text)
        rank = ranks[method]
        text = "–" if math.isnan(rank) else f"{rank:.2f}"
        out.append(f"**{text}**" if rank == rank_best else text)
        lines.append(f"| {method} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def save_png(fig: object, path: Path, dpi: int = 100) -> None:
    """Save a matplotlib figure as a 256-colour PNG (a fraction of the RGBA PNG's size)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")  # type: ignore[attr-defined]
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    image.save(path, optimize=True)


def boundary_window(item: Item, side: int) -> tuple[int, int]:
    """Top-left corner of a ``side`` x ``side`` window on a textured focus boundary.

    The boundary is the one of the foreground (halo scenes), else of the truth mask, else of
    a Laplacian-energy choice between the first and last sources; the window maximises
    ``m (1 - m)`` (``m``: the mask's mean over the window) times the mean gradient magnitude.
    """
    if item.foreground is not None:
        mask = item.foreground.astype(np.float32)
    elif item.truth_mask is not None:
        mask = (item.truth_mask >= 0.5).astype(np.float32)
    else:
        mask = laplacian_energy_selection(item.sources[0], item.sources[-1]).decision_map
    gray = to_gray_float(item.truth if item.truth is not None else item.sources[0])
    grad = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    m = cv2.boxFilter(mask, -1, (side, side), borderType=cv2.BORDER_REFLECT)
    score = m * (1.0 - m) * cv2.boxFilter(grad, -1, (side, side), borderType=cv2.BORDER_REFLECT)
    h, w = mask.shape
    half = side // 2
    inner = score[half : h - side + half + 1, half : w - side + half + 1]
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(y), int(x)


def _show(ax: object, image: np.ndarray, title: str, box: tuple[int, int, int] | None = None) -> None:
    from matplotlib.patches import Rectangle

    if image.ndim == 2:
        vmax = 1.0 if np.issubdtype(image.dtype, np.floating) else 255
        ax.imshow(image, cmap="gray", vmin=0, vmax=vmax, interpolation="antialiased")  # type: ignore[attr-defined]
    else:
        ax.imshow(image, interpolation="antialiased")  # type: ignore[attr-defined]
    ax.set_title(title, fontsize=7)  # type: ignore[attr-defined]
    if box is not None:
        y0, x0, side = box
        ax.add_patch(Rectangle((x0, y0), side, side, fill=False, edgecolor="red", linewidth=0.8))  # type: ignore
    ax.set_axis_off()  # type: ignore[attr-defined]


def montage(dataset: Dataset, item: Item, specs: Sequence[MethodSpec], cache: ResultCache, path: Path) -> None:
    """One scene: sources, truth, each method's result, decision maps and zoomed boundary crops.

    Row 1: the sources and truth (the red square is the zoomed window), their zooms and the
    truth mask; row 2: each method's result; row 3 (two-source scenes): the decision maps of the methods
    that make a decision; row 4: each result zoomed on the window.
    """
    from matplotlib.figure import Figure

    side = max(32, min(item.sources[0].shape[:2]) // 6)
    y0, x0 = boundary_window(item, side)
    box = (y0, x0, side)
    window = (slice(y0, y0 + side), slice(x0, x0 + side))
    top = [(f"source {i + 1}", s) for i, s in enumerate(item.sources)]
    if item.truth is not None:
        top.append(("truth", item.truth))
    maps = {s.name: cache.decision_map(s.name, dataset.name, item.name) for s in specs
            if s.has_map and len(item.sources) == 2}
    maps = {k: v for k, v in maps.items() if v is not None}
    ncols = max(len(specs), 2 * len(top) + (item.truth_mask is not None))
    nrows = 4 if maps else 3
    fig = Figure(figsize=(1.3 * ncols, 1.45 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for col, (title, image) in enumerate(top):
        _show(axes[0, col], image, title, box)
        _show(axes[0, len(top) + col], image[window], f"{title} (zoom)")
    if item.truth_mask is not None:
        _show(axes[0, 2 * len(top)], item.truth_mask, "truth mask", box)
    for col, spec in enumerate(specs):
        fused = cache.image(spec.name, dataset.name, item.name)
        _show(axes[1, col], fused, spec.name)
        _show(axes[nrows - 1, col], fused[window], f"{spec.name} (zoom)")
        if spec.name in maps:
            _show(axes[2, col], maps[spec.name], f"{spec.name} map")
    fig.tight_layout(pad=0.3)
    save_png(fig, path)


def boxplots(rows: Sequence[dict[str, object]], dataset: str, columns: Sequence[str], methods: Sequence[str],
             path: Path) -> None:
    """One panel per score column: the distribution over the dataset's items, one box per method."""
    from matplotlib.figure import Figure

    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel()[len(columns):]:
        ax.set_axis_off()
    for ax, column in zip(axes.ravel(), columns):
        data = []
        for method in methods:
            values = [float(r[column]) for r in rows  # type: ignore[arg-type]
                      if r["dataset"] == dataset and r["method"] == method and column in r]
            data.append([v for v in values if math.isfinite(v)])
        ax.boxplot(data, tick_labels=list(methods), widths=0.6, flierprops={"markersize": 2})
        ax.set_title(f"{_TITLE.get(column, column)} {_ARROW[direction(column)]}", fontsize=9)
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(dataset, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def time_chart(rows: Sequence[dict[str, object]], datasets: Sequence[str], methods: Sequence[str],
               path: Path) -> None:
    """Grouped bars: mean seconds per fusion for each method, one bar per dataset, log scale."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.9 * len(methods) + 2), 3.6))
    ax = fig.subplots()
    width = 0.8 / max(len(datasets), 1)
    x = np.arange(len(methods))
    for i, dataset in enumerate(datasets):
        heights = []
        for method in methods:
            values = [float(r["seconds"]) for r in rows  # type: ignore[arg-type]
                      if r["dataset"] == dataset and r["method"] == method]
            heights.append(float(np.mean(values)) if values else math.nan)
        ax.bar(x + (i - (len(datasets) - 1) / 2) * width, heights, width, label=dataset)
    ax.set_xticks(x, list(methods), rotation=30, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per fusion")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path)


def _columns(rows: Sequence[dict[str, object]], dataset: Dataset, metric_names: Sequence[str]) -> list[str]:
    present = {k for r in rows if r["dataset"] == dataset.name for k in r}
    return [c for c in dataset_metrics(dataset, metric_names) + list(REFERENCE_COLUMNS) if c in present]


def write_report(
    out_dir: str | Path,
    datasets: Sequence[Dataset],
    specs: dict[str, MethodSpec],
    result: SuiteResult,
    cache: ResultCache,
    metric_names: Sequence[str],
    command: str,
) -> Path:
    """Write ``results.md``, ``results.csv`` (one line per dataset, item and method) and
    ``figures/`` (``box_DATASET.png``, ``montage_DATASET.png``, ``time.png``) under ``out_dir``.

    A hand-written ``ablations.md`` in ``out_dir`` (the ablation table, made by
    ``benchmarks/ablations.py`` from training runs) is included as a section.

    Parameters
    ----------
    out_dir : str or Path
        Report folder (created).
    datasets : sequence of Dataset
    specs : dict
        The methods run, name -> :class:`~gacn.evaluation.scoring.MethodSpec`.
    result : SuiteResult
        From :func:`~gacn.evaluation.scoring.run_suite`.
    cache : ResultCache
        Where the fused images and maps for the montages are read.
    metric_names : sequence of str
        The no-reference metrics that were computed.
    command : str
        The command line, quoted in the report.

    Returns
    -------
    Path
        The Markdown file.
    """
    import torch

    out = Path(out_dir)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    rows = result.rows
    write_csv(rows, out / "results.csv")
    methods = list(specs)
    gacn_version = specs["gacn"].version if "gacn" in specs else "not run"
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `{command}` (cached fusions in the cache folder are reused; delete it to re-time).",
        "",
        ("- No-reference metrics (`gacn.metrics`, gray): higher is better except Q_CV (lower). "
         "`seam ratio` (the `exposure` set; `SEAM` in `results.csv`): the flat-area seam ratio, the mean Sobel "
         "gradient of the fused image over the pixels flat in both sources (9×9 std < 2 grey levels) "
         "over the larger of the sources' there; about 1 for a clean fusion, higher with every blotch "
         "edge where the decision switches between sources of different exposure (lower is better; "
         "undefined where under 1 % is flat). "
         "For the triples, which have three sources, each no-reference metric is the mean over the "
         "three pairs of sources; pairwise methods fuse a triple serially (1 with 2, then the result "
         "with 3) and GACN uses `gacn.fuse` on the three images (default strategy, no alignment)."),
        ("- With a ground truth (generated sets): `PSNR` and `SSIM` of the fused image against the "
         "all-in-focus image; `map acc`: pixel accuracy of the method's decision map (binarised at 0.5) "
         "against the truth mask, for the methods that make a decision (not `average`, `source-1`; "
         "for `laplacian-pyramid` and `dwt` the map is their coefficient vote, for `gff` its base-layer "
         "weight); `band PSNR` (halo scenes): PSNR in "
         f"the {HALO_BAND} px band just outside the foreground, where a defocused bright foreground "
         "spills over the background."),
        ("- Best mean per column in **bold**; `mean rank`: the method's rank per column (1 = best), "
         "averaged over every column but the time."),
        (f"- `s/fusion`: wall time of one fusion on this machine ({os.cpu_count()} CPUs, "
         f"{torch.get_num_threads()} torch threads), other load included; compare within a run only."),
        f"- GACN: {gacn_version}.",
        ("- Lytro pairs and triples: M. Nejati, S. Samavi, S. Shirani, \"Multi-focus image fusion using "
         "dictionary-based sparse representation\", Information Fusion 25 (2015). Generated sets: "
         "scikit-image sample photos (none of them in BSDS500, the training set). Strong defocus: "
         "frames far apart in the shared pcb sweep (focus-stack examples, P. Aimonen 2019, MIT) and "
         "microscope V-4 sweep (LGPL-2.1), registered by `gacn.fusion.align` before any method sees them."),
        "",
    ]
    for dataset in datasets:
        columns = _columns(rows, dataset, metric_names)
        means = method_means(rows, dataset.name, columns + ["seconds"])
        if not means:
            continue
        ran = [m for m in methods if m in means]
        lines += [f"## {dataset.name} ({len(dataset.items)} scenes)", "", dataset.description + ".", "",
                  markdown_table(means, columns + ["seconds"]), ""]
        box = figures / f"box_{dataset.name}.png"
        boxplots(rows, dataset.name, columns, ran, box)
        scene = dataset.items[0]
        shot = figures / f"montage_{dataset.name}.png"
        montage(dataset, scene, [specs[m] for m in ran], cache, shot)
        lines += [f"![{dataset.name} box plots](figures/{box.name})", "",
                  f"Scene `{scene.name}` (red square: the zoomed window, on a focus boundary):", "",
                  f"![{dataset.name} montage](figures/{shot.name})", ""]
    time_chart(rows, [d.name for d in datasets], methods, figures / "time.png")
    lines += ["## Time per fusion", "", "![time per fusion](figures/time.png)", ""]
    ablations = out / "ablations.md"
    if ablations.exists():
        lines += [ablations.read_text().strip(), ""]
    if result.failures:
        lines += ["## Failures", "", "| dataset | scene | method | error |", "|---|---|---|---|"]
        lines += [f"| {f['dataset']} | {f['item']} | {f['method']} | {f['error']} |" for f in result.failures]
        lines.append("")
    path = out / "results.md"
    path.write_text("\n".join(lines))
    return path
