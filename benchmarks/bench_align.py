"""Alignment benchmark: estimated motion of still and moving stacks, an earlier align.py against today's.

A focus stack that did not move must not be warped (a warp resamples and softens the frame,
and the output is cropped), and one that moved must be registered. For every frame this
prints, for the earlier :mod:`gacn.fusion.align` (``--old``, a git revision) and today's, the
largest displacement of its estimated transform (pixels, over the frame), the distance between
the two estimates and, where the truth is known, the error of each against it (largest
corner distance):

* ``rocket``, ``bsds``: :func:`gacn.fusion.synthetic.make_surface_stack` (6 frames, 640x427,
  no motion) of scikit-image's rocket and of a tiling of BSDS500 test photos, with the fused
  PSNR against the sharp photo (``gacn.fuse``, fast method, uncropped, 8-px margin left out)
  with alignment off and on;
* ``astro``, ``astro-breathing``: :func:`gacn.fusion.synthetic.make_stack` (5 frames,
  640x427, defocus up to 4 px) without and with focus breathing (0.2 % per frame and shifts
  of up to 0.5 px), and the same PSNRs;
* ``pcb``: the 7 frames of ``stacks/pcb`` (2048x1536, focus breathing);
* ``v4``: 10 frames spread over the ``stacks/microscope_v4`` sweep (1600x1200).

The data are read from ``$GACN_DATA`` (default ``../shared/data``); the PSNRs take about a
minute on two cores.

Usage::

    python benchmarks/bench_align.py [--old d0b2fc0] [--no-fuse]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from unittest import mock

import cv2
import numpy as np

import gacn
from gacn.evaluation.datasets import default_data_dir
from gacn.evaluation.native import bsds_photos, tile
from gacn.fusion import align
from gacn.fusion.synthetic import SyntheticStack, make_stack, make_surface_stack, psnr
from gacn.io import to_gray_float


def old_align(revision: str) -> ModuleType:
    """The module ``src/gacn/fusion/align.py`` as it was at a git revision."""
    source = subprocess.run(["git", "show", f"{revision}:src/gacn/fusion/align.py"], check=True,
                            capture_output=True, text=True, cwd=Path(__file__).parent).stdout
    path = Path(tempfile.mkdtemp()) / "align_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("align_old", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corner_error(a: np.ndarray, b: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest distance (pixels) between where two transforms send the frame's corners."""
    h, w = shape
    pts = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float)
    return float(np.linalg.norm(pts @ a.T - pts @ b.T, axis=1).max())


def read(files: list[Path]) -> list[np.ndarray]:
    return [np.ascontiguousarray(cv2.imread(str(f), cv2.IMREAD_COLOR)[..., ::-1]) for f in files]


def fused_psnr(stack: SyntheticStack, estimate) -> tuple[float, float]:
    """PSNR of the fused stack against its sharp photo, alignment off and on (with ``estimate``).

    Uncropped (the reference frame's grid), leaving out a margin of 8 px that a warp fills by
    repeating the border.
    """
    inner = (slice(8, -8), slice(8, -8))
    off = psnr(gacn.fuse(stack.frames, align=False).image[inner], stack.sharp[inner])
    with mock.patch("gacn.fusion.stack.estimate_transform", estimate):
        on = gacn.fuse(stack.frames, align=True, crop=False).image
    return off, psnr(on[inner], stack.sharp[inner])


def report(name: str, frames: list[np.ndarray], old: ModuleType, truth: list[np.ndarray] | None = None) -> None:
    """One line per frame: displacement (and error against the truth) of the old and new estimates."""
    gray = [to_gray_float(f) for f in frames]
    mid = len(gray) // 2
    shape = gray[mid].shape
    for k, g in enumerate(gray):
        if k == mid:
            continue
        a, b = old.estimate_transform(gray[mid], g), align.estimate_transform(gray[mid], g)
        line = (f"{name:16s} {k:2d}  {align.max_motion(a, shape):8.3f}  {align.max_motion(b, shape):8.3f}"
                f"  {corner_error(a, b, shape):8.3f}")
        if truth is not None:
            line += (f"  {align.max_motion(truth[k], shape):8.3f}  {corner_error(a, truth[k], shape):8.3f}"
                     f"  {corner_error(b, truth[k], shape):8.3f}")
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default="d0b2fc0", help="git revision of the earlier align.py")
    parser.add_argument("--no-fuse", action="store_true", help="skip the fused PSNRs")
    args = parser.parse_args()
    old = old_align(args.old)
    data = default_data_dir()
    synthetic = {
        "rocket": make_surface_stack(),
        "bsds": make_surface_stack(tile(bsds_photos(data), (427, 640), np.random.default_rng(0))),
        "astro": make_stack(n_frames=5, size=(427, 640), max_blur=4.0),
        "astro-breathing": make_stack(n_frames=5, size=(427, 640), max_blur=4.0, breathing=0.002, shift=0.5),
    }
    print(f"{'stack':16s} {'k':>2s}  {'old px':>8s}  {'new px':>8s}  {'old-new':>8s}  {'true px':>8s}  {'old err':>8s}"
          f"  {'new err':>8s}")
    for name, stack in synthetic.items():
        report(name, stack.frames, old, stack.matrices)
    stacks = data / "stacks"
    report("pcb", read(sorted((stacks / "pcb").glob("pcb_*.jpg"))), old)
    report("v4", read(sorted((stacks / "microscope_v4").glob("V*.jpg"))[::7][:10]), old)
    if args.no_fuse:
        return
    print(f"\n{'stack':16s}  {'PSNR off':>8s}  {'old on':>8s}  {'new on':>8s}  (dB against the sharp photo)")
    for name, stack in synthetic.items():
        off, on_old = fused_psnr(stack, old.estimate_transform)
        _, on_new = fused_psnr(stack, align.estimate_transform)
        print(f"{name:16s}  {off:8.2f}  {on_old:8.2f}  {on_new:8.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
