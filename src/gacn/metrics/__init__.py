"""No-reference and reference-based image-fusion metrics.

The twelve no-reference metrics of Liu et al. (IEEE TPAMI 34(1), 2012) plus two extras,
re-implemented to match Zheng Liu's MATLAB toolbox (``imageFusionMetrics``):

=========  ===============  =====================================  ============
name       family           paper                                  better
=========  ===============  =====================================  ============
Q_MI       information      Hossny et al. 2008                     higher
Q_TE       information      Nava et al. 2007 (Tsallis, q=0.43137)  higher
Q_NCIE     information      Wang et al. 2008                       higher
Q_G        features         Xydeas & Petrović 2000                 higher
Q_M        features         Wang & Liu 2008                        higher
Q_SF       features         Zheng et al. 2007                      closer to 0
Q_P        features         Zhao et al. 2007                       higher
Q_S        structural       Piella & Heijmans 2003                 higher
Q_C        structural       Cvejić et al. 2005                     higher
Q_Y        structural       Yang et al. 2008                       higher
Q_CV       perception       Chen & Varshney 2007                   lower
Q_CB       perception       Chen & Blum 2009                       higher
Q_TE_C     information      Cvejić et al. 2006 (Tsallis, q=1.85)   higher
Q_W        structural       Piella & Heijmans 2003 (weighted)      higher
SEAM       seams            flat-area seam ratio (gacn issue 15)   lower (~1)
=========  ===============  =====================================  ============

``SEAM`` (:func:`~gacn.metrics.seams.seam_ratio`) is not one of the toolbox's metrics: it is
computed only when asked for by name (:data:`EXTRA_NAMES`), and the default set stays the 14 of
:data:`NAMES`.

Usage::

    from gacn import metrics
    scores = metrics.compute(a, b, f)              # all 14, dict name -> float
    scores = metrics.compute(a, b, f, ["Q_G", "Q_M"])
    scores = metrics.compute(a, b, f, ["SEAM"])    # the flat-area seam ratio
    print(metrics.format_lines(scores))

Inputs are converted with :func:`to_gray` (gray 0..255 float64); see its docstring for the
colour and value-range rules. Every function in :data:`REGISTRY` takes three gray float64
arrays in 0..255 of equal shape and returns a float.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from gacn.io import read_image

from ._common import check_same_shape
from .features import q_g, q_m, q_sf
from .information import q_mi, q_ncie, q_te, q_te_c
from .perception import q_cb, q_cv
from .phase_congruency import phasecong, q_p
from .reference import map_accuracy, map_iou, psnr, ssim
from .seams import seam_ratio
from .structural import q_c, q_s, q_w, q_y

__all__ = [
    "EXTRA_NAMES",
    "INFO",
    "MIN_SIZE",
    "NAMES",
    "REGISTRY",
    "MetricInfo",
    "cli_report",
    "undefined_notes",
    "compute",
    "compute_files",
    "format_lines",
    "map_accuracy",
    "map_iou",
    "parse_names",
    "phasecong",
    "psnr",
    "q_c",
    "q_cb",
    "q_cv",
    "q_g",
    "q_m",
    "q_mi",
    "q_ncie",
    "q_p",
    "q_s",
    "q_sf",
    "q_te",
    "q_te_c",
    "q_w",
    "q_y",
    "read_image",
    "seam_ratio",
    "ssim",
    "to_gray",
    "to_json",
]

#: RGB -> gray weights of MATLAB ``rgb2gray``.
RGB2GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)

#: Smallest height/width accepted by :func:`compute` (the 11x11 'valid' SSIM window).
MIN_SIZE = 11

#: The 14 metric names, in the order of the reference toolbox (12 TPAMI metrics + 2 extras).
NAMES: list[str] = [
    "Q_MI",
    "Q_TE",
    "Q_NCIE",
    "Q_G",
    "Q_M",
    "Q_SF",
    "Q_P",
    "Q_S",
    "Q_C",
    "Q_Y",
    "Q_CV",
    "Q_CB",
    "Q_TE_C",
    "Q_W",
]

#: Metrics outside the reference toolbox, computed only when named (not in the default set).
EXTRA_NAMES: list[str] = ["SEAM"]

#: name -> function(a, b, f) on gray float64 arrays in 0..255.
REGISTRY: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "Q_MI": q_mi,
    "Q_TE": q_te,
    "Q_NCIE": q_ncie,
    "Q_G": q_g,
    "Q_M": q_m,
    "Q_SF": q_sf,
    "Q_P": q_p,
    "Q_S": q_s,
    "Q_C": q_c,
    "Q_Y": q_y,
    "Q_CV": q_cv,
    "Q_CB": q_cb,
    "Q_TE_C": q_te_c,
    "Q_W": q_w,
    "SEAM": seam_ratio,
}


class MetricInfo(tuple):
    """(family, better, range) of a metric; ``better`` is 'higher', 'lower' or 'zero'."""

    __slots__ = ()

    def __new__(cls, family: str, better: str, range_: str):
        return super().__new__(cls, (family, better, range_))

    family = property(lambda self: self[0])
    better = property(lambda self: self[1])
    range = property(lambda self: self[2])


INFO: dict[str, MetricInfo] = {
    "Q_MI": MetricInfo("information", "higher", "0..2"),
    "Q_TE": MetricInfo("information", "higher", ">0"),
    "Q_NCIE": MetricInfo("information", "higher", "0..1"),
    "Q_G": MetricInfo("features", "higher", "0..1"),
    "Q_M": MetricInfo("features", "higher", "0..3"),
    "Q_SF": MetricInfo("features", "zero", "-1..inf"),
    "Q_P": MetricInfo("features", "higher", "0..1"),
    "Q_S": MetricInfo("structural", "higher", "-1..1"),
    "Q_C": MetricInfo("structural", "higher", "0..1"),
    "Q_Y": MetricInfo("structural", "higher", "0..1"),
    "Q_CV": MetricInfo("perception", "lower", "0..inf"),
    "Q_CB": MetricInfo("perception", "higher", "0..1"),
    "Q_TE_C": MetricInfo("information", "higher", ">0"),
    "Q_W": MetricInfo("structural", "higher", "-1..1"),
    "SEAM": MetricInfo("seams", "lower", "0..inf, about 1 clean"),
}


def to_gray(img: np.ndarray) -> np.ndarray:
    """Convert an image to the metrics' input: a 2-D float64 gray image with values 0..255.

    Rules (matching how the reference cases were made):

    * Value range: ``uint8`` is used as is; ``uint16`` is divided by 257 (65535 -> 255);
      ``bool`` maps to 0/255; floating-point input is **assumed to be in 0..1** and is
      multiplied by 255 (no clipping); other integer types are taken as 0..255 values.
    * Colour: (H, W, 3) or (H, W, 4) arrays (alpha dropped) are converted with the MATLAB
      ``rgb2gray`` weights (0.298936021293775, 0.587043074451121, 0.114020904255103). For
      ``uint8`` the result is rounded half away from zero (``floor(x + 0.5)``) as MATLAB does
      for integer images; other types keep the unrounded weighted sum (computed after the
      range scaling above). (H, W, 1) is squeezed.

    Raises
    ------
    ValueError
        For arrays that are not 2-D gray, (H, W, 1), (H, W, 3) or (H, W, 4).
    """
    x = np.asarray(img)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim == 3 and x.shape[2] in (3, 4):
        x = x[..., :3]
    elif x.ndim != 2:
        raise ValueError(
            f"expected a gray (H, W) or colour (H, W, 3|4) image, got shape {x.shape}"
        )
    dt = x.dtype
    if dt == np.uint8:
        v = x.astype(np.float64)
    elif dt == np.uint16:
        v = x.astype(np.float64) / 257.0
    elif dt == np.bool_ or np.issubdtype(dt, np.floating):
        v = x.astype(np.float64) * 255.0
    elif np.issubdtype(dt, np.integer):
        v = x.astype(np.float64)
    else:
        raise ValueError(f"unsupported image dtype {dt}")
    if v.ndim == 3:
        w = RGB2GRAY_WEIGHTS
        v = w[0] * v[..., 0] + w[1] * v[..., 1] + w[2] * v[..., 2]
        if dt == np.uint8:
            v = np.floor(v + 0.5)
    return np.ascontiguousarray(v)


def parse_names(names: str | Iterable[str] | None) -> list[str]:
    """Normalise a metric selection to a list of known names (in the order given).

    Accepts ``None`` (all of :data:`NAMES`), a comma-separated string (``"Q_G,Q_M"``) or an
    iterable of names of :data:`NAMES` and :data:`EXTRA_NAMES`. Matching is case-insensitive.
    Raises ValueError for unknown names.

    Examples
    --------
    >>> parse_names("q_g, seam")
    ['Q_G', 'SEAM']
    """
    if names is None:
        return list(NAMES)
    if isinstance(names, str):
        items = [s.strip() for s in names.split(",") if s.strip()]
    else:
        items = [str(s).strip() for s in names]
    known = NAMES + EXTRA_NAMES
    if not items:
        raise ValueError("no metric names given; known names: " + ", ".join(known))
    upper = {n.upper(): n for n in known}
    out: list[str] = []
    unknown: list[str] = []
    for it in items:
        key = upper.get(it.upper())
        if key is None:
            unknown.append(it)
        elif key not in out:
            out.append(key)
    if unknown:
        raise ValueError(
            "unknown metric name(s): " + ", ".join(unknown) + "; known names: " + ", ".join(known)
        )
    return out


def compute(
    a: np.ndarray,
    b: np.ndarray,
    f: np.ndarray,
    names: str | Iterable[str] | None = None,
) -> dict[str, float]:
    """Compute fusion metrics of the fused image ``f`` from the sources ``a`` and ``b``.

    Parameters
    ----------
    a, b, f : arrays of the same height and width; gray or RGB, uint8/uint16/float (see
        :func:`to_gray` for the conversion and value range).
    names : ``None`` for all 14 metrics in :data:`NAMES` order, or a list / comma-separated
        string of names (which may include those of :data:`EXTRA_NAMES`, e.g. ``SEAM``).

    Returns
    -------
    dict[str, float]
        Metric name -> value, in the requested order. NaN can occur where the reference
        produces NaN (e.g. Q_Y on images with flat areas).

    Raises
    ------
    ValueError
        On unknown metric names, mismatched image shapes, or images smaller than
        :data:`MIN_SIZE` pixels in either dimension.
    """
    selected = parse_names(names)
    ga, gb, gf = to_gray(a), to_gray(b), to_gray(f)
    check_same_shape(ga, gb, gf)
    if min(ga.shape) < MIN_SIZE:
        raise ValueError(
            f"images must be at least {MIN_SIZE}x{MIN_SIZE} pixels (the SSIM-type metrics use "
            f"an 11x11 window), got {ga.shape[0]}x{ga.shape[1]}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN results are reported, not warned about
        return {n: float(REGISTRY[n](ga, gb, gf)) for n in selected}


def compute_files(
    a: str | Path, b: str | Path, f: str | Path, names: str | Iterable[str] | None = None
) -> dict[str, float]:
    """:func:`compute` on three image files (read with :func:`gacn.io.read_image`, dtype kept)."""
    selected = parse_names(names)  # fail on bad names before reading files
    return compute(read_image(a), read_image(b), read_image(f), selected)


#: Why a metric can be undefined (NaN) on valid images; the reference is NaN there too.
UNDEFINED: dict[str, str] = {
    "Q_C": "its weight σ_AF / (σ_AF + σ_BF) is 0/0 in some 7x7 window (a flat area, e.g. black)",
    "Q_Y": "its weight σ_A² / (σ_A² + σ_B²) is 0/0 in some 7x7 window where both sources are flat",
    "SEAM": "fewer than 1 % of the pixels are flat in both sources (or all of them are exactly constant)",
}


def undefined_notes(result: Mapping[str, float]) -> list[str]:
    """One line per NaN value of ``result`` saying which metric is undefined and why.

    Examples
    --------
    >>> undefined_notes({"Q_G": 0.5, "Q_Y": float("nan")})[0].split(":")[0]
    'Q_Y is undefined (NaN) on these images'
    """
    return [f"{n} is undefined (NaN) on these images: {UNDEFINED.get(n, 'a 0/0 in its formula')}"
            for n, v in result.items() if math.isnan(v)]


def format_lines(result: Mapping[str, float]) -> str:
    """Format results as ``NAME VALUE`` lines (value with ``%.10g``), names left-aligned."""
    if not result:
        return ""
    width = max(len(n) for n in result)
    return "\n".join(f"{n:<{width}} {v:.10g}" for n, v in result.items())


def to_json(result: Mapping[str, float]) -> str:
    """Format results as a JSON object; NaN and infinities become ``null``."""
    clean = {n: (v if math.isfinite(v) else None) for n, v in result.items()}
    return json.dumps(clean, indent=2)


def cli_report(
    a: str | Path,
    b: str | Path,
    f: str | Path,
    names: str | Iterable[str] | None = None,
    as_json: bool = False,
) -> tuple[str, list[str]]:
    """Everything ``gacn metrics A B F [--metrics Q_G,Q_M] [--json]`` prints.

    Reads the three files with :func:`read_image`, computes the selected metrics (comma
    separated names, case-insensitive; ``None`` = all 14) and returns either
    :func:`format_lines` or :func:`to_json` text, plus :func:`undefined_notes` (one line per
    NaN metric, for stderr). Raises ValueError on unknown names or mismatched shapes (the CLI
    should turn it into an error message and a non-zero exit).
    """
    result = compute_files(a, b, f, names)
    return (to_json(result) if as_json else format_lines(result)), undefined_notes(result)
