"""Enfuse (Enblend-Enfuse) focus stacking, through its command-line program."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import tifffile

from gacn.fusion.result import FusionResult, check_pair
from gacn.io import from_float, normalize_layout, to_float

#: Options for focus stacking: local contrast only, hard masks (no averaging on the finest scale).
ENFUSE_OPTIONS = (
    "--exposure-weight=0",
    "--saturation-weight=0",
    "--contrast-weight=1",
    "--hard-mask",
    "--contrast-window-size=5",
    "--gray-projector=luminance",
    "--compression=deflate",
)


def enfuse_available() -> bool:
    """Whether the ``enfuse`` program is on the PATH."""
    return shutil.which("enfuse") is not None


def _write_tiff(path: Path, image: np.ndarray) -> None:
    # OpenCV's TIFF writer sets the SampleFormat tag that enfuse's reader expects; it takes BGR.
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image):
        raise RuntimeError(f"could not write temporary file {path}")


def enfuse_fusion(a: np.ndarray, b: np.ndarray, timeout: float = 600.0) -> FusionResult:
    """Fuse two sources with the external ``enfuse`` program, as a focus stack.

    The sources are written to temporary TIFF files (8- or 16-bit as the input; float inputs
    go through 16-bit) and fused with Enfuse's contrast weighting only, ``--hard-mask``
    (each pixel's finest-scale weight goes wholly to the source with the higher local contrast
    in a 5x5 window, on the luminance), and Enfuse's own multiresolution spline blending::

        enfuse --exposure-weight=0 --saturation-weight=0 --contrast-weight=1 --hard-mask
               --contrast-window-size=5 --gray-projector=luminance

    Parameters
    ----------
    a, b : ndarray
        Gray or RGB sources of the same size (uint8, uint16 or float in 0..1).
    timeout : float
        Seconds before the program is abandoned.

    Returns
    -------
    FusionResult
        ``image`` has the dtype and channels of ``a``. ``decision_map`` is Enfuse's own hard
        mask of source 1 (saved with ``--save-masks``): 1 where source 1 won, 0 where source 2
        won, 0.5 on ties (Enfuse leaves a border of half the contrast window, 2 pixels, at
        0.5: it computes no contrast there). ``raw_decision_map`` is its soft (contrast) weight normalised over
        the two sources. ``timings`` holds the seconds spent in the program.

    Raises
    ------
    RuntimeError
        If ``enfuse`` is not installed (Debian/Ubuntu package ``enfuse``) or fails.

    References
    ----------
    .. [1] A. Mihal et al., Enblend/Enfuse, https://enblend.sourceforge.net/ (version 4.2).
    .. [2] T. Mertens, J. Kautz, F. Van Reeth, "Exposure fusion", Pacific Graphics (2007)
       382-390 (the weighting and blending scheme Enfuse implements).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    >>> flat = np.full((40, 50), 128, np.uint8)
    >>> if enfuse_available():
    ...     assert enfuse_fusion(sharp, flat).decision_map.mean() > 0.9
    """
    a, b = check_pair(a, b)
    exe = shutil.which("enfuse")
    if exe is None:
        raise RuntimeError("enfuse_fusion needs the 'enfuse' program (Debian/Ubuntu package 'enfuse') on the PATH")
    work_dtype = a.dtype if a.dtype in (np.uint8, np.uint16) else np.dtype(np.uint16)
    with tempfile.TemporaryDirectory(prefix="gacn-enfuse-") as tmp:
        folder = Path(tmp)
        for name, image in (("1.tif", a), ("2.tif", b)):
            _write_tiff(folder / name, from_float(to_float(image), work_dtype))
        cmd = [exe, *ENFUSE_OPTIONS, "--output=fused.tif", "--save-masks=soft-%n.tif:hard-%n.tif", "1.tif", "2.tif"]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(cmd, check=False, cwd=folder, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, env={**os.environ, "LC_ALL": "C"})
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"enfuse did not finish within {timeout} s") from None
        seconds = time.perf_counter() - t0
        if done.returncode != 0 or not (folder / "fused.tif").is_file():
            raise RuntimeError(f"enfuse failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
        fused = normalize_layout(tifffile.imread(folder / "fused.tif"), "enfuse output")
        hard = tifffile.imread(folder / "hard-1.tif").astype(np.float32) / 255.0
        soft = [tifffile.imread(folder / f"soft-{i}.tif").astype(np.float32) for i in (1, 2)]
    fused = from_float(to_float(fused), a.dtype) if fused.dtype != a.dtype else fused
    total = soft[0] + soft[1]
    soft_a = np.where(total > 0, soft[0] / np.maximum(total, 1e-12), 0.5).astype(np.float32)
    return FusionResult(image=fused, decision_map=np.clip(hard, 0.0, 1.0), raw_decision_map=soft_a,
                        timings={"enfuse": seconds})
