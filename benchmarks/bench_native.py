"""gacn against focus-stack, enfuse and the oracle on native-detail sets with a known truth (2-24 MP).

The sets (:mod:`gacn.evaluation.native`) are made from the BSDS500 ``test`` photos tiled at
their own resolution, so every pixel of a 24 MP frame is real camera detail (nothing is
enlarged), and cached on disk (``--cache``, default ``$GACN_NATIVE_CACHE`` or
``~/.cache/gacn-native``; a 24 MP pair is made in about 45 s on 2 cores, then loaded):

* ``pair{size}-r{radius}``: two depth layers (a blob-shaped foreground tiling over a background
  tiling), occlusion-correct disc defocus of ``radius`` px, at the sizes of ``--sizes`` (6, 12,
  24 MP) and the radii of ``--radii``; ``pair1600x1200-r{radius}`` at ``--mid-radii``;
* ``surface{size}``: stacks of ``--frames`` frames of one continuous depth surface, equalised
  so that every frame is the truth over the same area, Gaussian defocus of ``--blur`` px per
  frame of depth distance, at the sizes of ``--surface``.

Each case is fused by, in one run:

* ``gacn fast`` (the default method): ``gacn.fuse`` in this process (its seconds; scored:
  PSNR of the fused image against the all-in-focus truth, over the whole image, and the map's
  accuracy: the decision map against the truth map for a pair, ``index_accuracy`` of
  :mod:`gacn.fusion.synthetic` on textured pixels for a stack), then ``gacn fuse FILES -o
  out.png`` as a program (wall seconds and peak RSS, comparable with the peers');
* ``gacn faithful`` (``--method gacn``) as a program, on the cases of ``--faithful`` (case
  names, ``small`` = cases up to 2 MP, ``all`` or ``none``), scored from its output and
  ``--map`` files;
* ``focus-stack`` (``--no-whitebalance --no-contrast --align-keep-size``: it has no switch
  to turn alignment off; the frames are registered, and the output keeps their size) and
  ``enfuse`` (hard mask, contrast weight only, as ``bench_stack.py``), as programs, scored
  from their outputs;
* ``oracle``: each pixel from the frame the truth names (for a pair, ``M I1 + (1 - M) I2``);
* ``best pick``: each pixel from the frame closest to the truth there (smallest squared error
  over the channels): the ceiling of any fusion that picks one frame per pixel. It lies above
  the oracle where the truth's frame is not the closest: in a pair's spill band (outside the
  foreground, within its blur), where the near frame's blurred background is often closer to
  the background than the far frame's mix of it with the blurred foreground.

gacn runs with ``crop=False`` (``--no-crop``): its default alignment of three or more frames
stays on, but the output keeps the frames' size (a spurious sub-pixel motion can otherwise
crop a row of a registered stack), so it is compared with the truth pixel for pixel.

Programs run with ``OMP_NUM_THREADS=2`` and are timed by :func:`bench_stack.measure` (wall,
CPU, peak RSS of the child). With ``--errors``, for every stack case, where the fast path's
wrong picks lie: by distance to the nearest change of the truth index, by how many frames
off, by texture, and whether the cheap focus measure's choice (the argmax over the frames of
:func:`gacn.fusion.measure.focus_measure`) was already wrong there or the error came later
(``raw_index_map`` / ``index_map`` / ``depth_map`` of the result).

Usage::

    python benchmarks/bench_native.py [--sizes 6,12,24] [--radii 20,40,80] [--mid-radii 20]
        [--surface 640x427,12] [--frames 6] [--blur 1.6] [--faithful small] [--no-enfuse]
        [--errors] [--work /tmp/gacn-bench-native] [--cache DIR] [--focus-stack PATH]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from bench_stack import ENFUSE_ARGS, data_dir, measure

import gacn
from gacn.evaluation.native import NativePair, frame_size, native_pair, native_surface_stack
from gacn.fusion.measure import focus_measure
from gacn.fusion.synthetic import SyntheticStack, index_accuracy, texture_mask
from gacn.io import to_gray_float
from gacn.metrics import map_accuracy, psnr

#: Cases up to this many pixels are ``small`` (``--faithful small``).
SMALL = 2_000_000

FOCUS_STACK_ARGS = ["--no-whitebalance", "--no-contrast", "--align-keep-size"]


@dataclass
class Case:
    """One benchmark case: its frames (arrays and files) and its truth."""

    name: str
    files: list[Path]
    frames: list[np.ndarray]
    truth: np.ndarray
    oracle: np.ndarray
    pair: NativePair | None = None
    stack: SyntheticStack | None = None

    @property
    def pixels(self) -> int:
        return self.truth.shape[0] * self.truth.shape[1]


@dataclass
class Row:
    """One method's figures on one case (None: not measured)."""

    case: str
    method: str
    psnr: float | None = None
    accuracy: float | None = None
    fuse_s: float | None = None
    wall_s: float | None = None
    peak_mb: float | None = None
    note: str = ""


def cases(args: argparse.Namespace) -> Iterator[Case]:
    """The cases of the arguments, one at a time (big frames are not all held at once)."""
    root, cache = data_dir(), args.cache
    pairs = [(s, float(r)) for s in _list(args.sizes) for r in _list(args.radii)]
    pairs += [("1600x1200", float(r)) for r in _list(args.mid_radii)]
    for size, radius in pairs:
        t = time.perf_counter()
        pair = native_pair(size, radius, args.seed, root, cache)
        print(f"  pair {size} r{radius:g}: {time.perf_counter() - t:.1f} s to make or load", flush=True)
        yield Case(f"pair{size}-r{radius:g}", [pair.files["near"], pair.files["far"]], pair.frames, pair.truth,
                   pair.oracle, pair=pair)
    for size in _list(args.surface):
        t = time.perf_counter()
        stack, files = native_surface_stack(size, args.frames, args.blur, args.seed, root, cache)
        print(f"  surface {size}: {time.perf_counter() - t:.1f} s to make or load", flush=True)
        oracle = np.take_along_axis(np.stack(stack.frames), stack.truth[None, ..., None].astype(np.intp), 0)[0]
        yield Case(f"surface{size}", files, stack.frames, stack.sharp, oracle, stack=stack)


def _list(text: str) -> list[str]:
    return [t for t in text.split(",") if t and t != "none"]


def accuracy_of(case: Case, decision: np.ndarray | None = None, index: np.ndarray | None = None) -> float | None:
    """Map accuracy: the decision map (weight of the near frame) against the truth map of a
    pair, or the index map's :func:`index_accuracy` for a stack."""
    if case.pair is not None and decision is not None:
        return map_accuracy(decision, case.pair.mask)
    if case.stack is not None and index is not None:
        return index_accuracy(index, case.stack)
    return None


def run_fast(case: Case, work: Path, env: dict[str, str]) -> tuple[Row, gacn.FusionResult]:
    """The fast path in process (scored, timed) and as a program (timed)."""
    start = time.perf_counter()
    result = gacn.fuse(case.frames, crop=False)
    seconds = time.perf_counter() - start
    row = Row(case.name, "gacn fast", psnr(result.image, case.truth),
              accuracy_of(case, result.decision_map, result.index_map), seconds)
    run = measure([sys.executable, "-m", "gacn", "fuse", *map(str, case.files), "--no-crop", "-o",
                   str(work / f"{case.name}_fast.png")],
                  env)
    row.wall_s, row.peak_mb = run["wall_s"], run["peak_rss_mb"]
    row.note = "" if run["rc"] == 0 else f"program exit {run['rc']}"
    return row, result


def run_program(case: Case, method: str, cmd: list[str], output: Path, env: dict[str, str],
                map_file: Path | None = None) -> Row:
    """A program's run on a case, scored from its output (and map) file."""
    run = measure(cmd, env)
    row = Row(case.name, method, wall_s=run["wall_s"], peak_mb=run["peak_rss_mb"])
    if run["rc"] != 0 or not output.is_file():
        row.note = f"exit {run['rc']}"
        return row
    image = read_output(output)
    if image.shape[:2] != case.truth.shape[:2]:
        row.note = f"output {image.shape[1]}x{image.shape[0]}, truth {case.truth.shape[1]}x{case.truth.shape[0]}"
        return row
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image.astype(np.float64) / 257), 0, 255).astype(np.uint8)
    row.psnr = psnr(image, case.truth)
    if map_file is not None and map_file.is_file():
        raw = cv2.imread(str(map_file), cv2.IMREAD_UNCHANGED)
        raw = raw[..., 0] if raw.ndim == 3 else raw
        row.accuracy = accuracy_of(case, decision=raw.astype(np.float32) / 255.0, index=raw.astype(np.uint16))
    return row


def read_output(path: Path) -> np.ndarray:
    """A program's output (PNG or TIFF, gray, RGB or RGBA: enfuse writes RGBA) as RGB."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)


def best_pick(frames: list[np.ndarray], truth: np.ndarray) -> np.ndarray:
    """Each pixel from the frame closest to ``truth`` there (squared error summed over channels)."""
    best = frames[0].copy()
    error = np.sum(np.square(frames[0].astype(np.int32) - truth), axis=2)
    for frame in frames[1:]:
        e = np.sum(np.square(frame.astype(np.int32) - truth), axis=2)
        closer = e < error
        best[closer], error[closer] = frame[closer], e[closer]
    return best


def distance_to_change(index: np.ndarray) -> np.ndarray:
    """Distance (px) of every pixel to the nearest pixel whose 4-neighbour has another index."""
    change = np.zeros(index.shape, bool)
    change[:, 1:] |= index[:, 1:] != index[:, :-1]
    change[:, :-1] |= index[:, 1:] != index[:, :-1]
    change[1:] |= index[1:] != index[:-1]
    change[:-1] |= index[1:] != index[:-1]
    return cv2.distanceTransform((~change).astype(np.uint8), cv2.DIST_L2, 5)


def correct(index: np.ndarray, stack: SyntheticStack, tolerance: float = 0.25) -> np.ndarray:
    """Per pixel, whether ``index`` passes :func:`index_accuracy`'s rule."""
    spacing = 1.0 / (len(stack.focus) - 1)
    err = np.abs(stack.depth - stack.focus[index.astype(int)])
    best = np.abs(stack.depth - stack.focus[stack.truth.astype(int)])
    return err <= best + tolerance * spacing + 1e-6


def error_report(case: Case, result: gacn.FusionResult) -> list[str]:
    """Where the fast path's wrong picks of a stack lie (see the module docstring), as lines."""
    stack = case.stack
    textured = texture_mask(stack.sharp)
    cheap = np.argmax(np.stack([focus_measure(to_gray_float(f)) for f in stack.frames]), axis=0)
    maps = {"cheap argmax": cheap, "raw_index_map": result.raw_index_map, "index_map": result.index_map,
            "depth_map": result.depth_map}
    ok = {name: correct(m, stack) for name, m in maps.items() if m is not None}
    lines = [f"{case.name}: index accuracy on textured pixels ({textured.mean():.1%} of the image): "
             + ", ".join(f"{name} {o[textured].mean():.4f}" for name, o in ok.items())]
    wrong = textured & ~ok["index_map"]
    n_wrong = max(int(wrong.sum()), 1)
    lines.append(f"  index_map wrong on {int(wrong.sum())} textured pixels; of them the cheap argmax was wrong too on "
                 f"{(wrong & ~ok['cheap argmax']).sum() / n_wrong:.1%}, raw_index_map wrong on "
                 f"{(wrong & ~ok['raw_index_map']).sum() / n_wrong:.1%}; cheap right but index_map wrong: "
                 f"{(textured & ok['cheap argmax'] & ~ok['index_map']).sum()} px, cheap wrong but index_map right: "
                 f"{(textured & ~ok['cheap argmax'] & ok['index_map']).sum()} px")
    dist = distance_to_change(stack.truth)
    edges = (0, 3, 6, 11, 21, 41, np.inf)
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = textured & (dist >= lo) & (dist < hi)
        if band.any():
            parts.append(f"{lo:g}-{hi - 1:g} px: {band.sum() / textured.sum():.1%} of px, error "
                         f"{(wrong & band).sum() / band.sum():.2%}, {(wrong & band).sum() / n_wrong:.1%} of errors")
    lines.append("  by distance to the nearest change of truth index: " + "; ".join(parts))
    off = np.abs(result.index_map.astype(int) - stack.truth.astype(int))[wrong]
    lines.append("  frames off among the errors: " + ", ".join(
        f"{k}: {(off == k).mean():.1%}" for k in range(1, int(off.max(initial=1)) + 1) if (off == k).any()))
    sharp_gray = to_gray_float(stack.sharp)
    mean = cv2.blur(sharp_gray, (7, 7))
    std = np.sqrt(np.maximum(cv2.blur(sharp_gray * sharp_gray, (7, 7)) - mean * mean, 0))
    parts = []
    for lo, hi in ((0.02, 0.04), (0.04, 0.08), (0.08, np.inf)):
        band = textured & (std >= lo) & (std < hi)
        if band.any():
            parts.append(f"{lo:g}-{hi:g}: {band.sum() / textured.sum():.1%} of px, error "
                         f"{(wrong & band).sum() / band.sum():.2%}")
    lines.append("  by texture (7x7 std of the sharp luma): " + "; ".join(parts))
    frac = np.abs(stack.depth * (len(stack.focus) - 1) - stack.truth)
    parts = []
    for lo, hi in ((0, 0.25), (0.25, 0.4), (0.4, 0.51)):
        band = textured & (frac >= lo) & (frac < hi)
        parts.append(f"{lo:g}-{hi:g}: error {(wrong & band).sum() / max(band.sum(), 1):.2%}, "
                     f"{(wrong & band).sum() / n_wrong:.1%} of errors")
    lines.append("  by depth distance to the truth's plane (frames): " + "; ".join(parts))
    return lines


def fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def show(row: Row) -> Row:
    """Print one row as soon as it is measured; return it."""
    print(f"{row.case:22s} {row.method:14s} PSNR {fmt(row.psnr, '6.2f')}  acc {fmt(row.accuracy, '.4f')}  "
          f"fuse {fmt(row.fuse_s, '.2f')} s  wall {fmt(row.wall_s, '.2f')} s  peak {fmt(row.peak_mb, '.0f')} MB  "
          f"{row.note}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="6,12,24", help="pair sizes: 6, 12, 24 (MP) or WxH; 'none'")
    parser.add_argument("--radii", default="20,40,80", help="disc radii (px) of the pairs")
    parser.add_argument("--mid-radii", default="20", help="disc radii of the 1600x1200 pair ('none': no such pair)")
    parser.add_argument("--surface", default="640x427,12", help="sizes of the continuous-depth stacks; 'none'")
    parser.add_argument("--frames", type=int, default=6, help="frames per continuous-depth stack")
    parser.add_argument("--blur", type=float, default=1.6, help="Gaussian sigma (px) per frame of depth distance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faithful", default="small",
                        help="cases that also run --method gacn: names, 'small' (up to 2 MP), 'all' or 'none'")
    parser.add_argument("--no-enfuse", action="store_true", help="leave enfuse out")
    parser.add_argument("--errors", action="store_true", help="where the fast path's errors lie, per stack case")
    parser.add_argument("--focus-stack",
                        default=shutil.which("focus-stack") or "/tmp/focus-stack-build/build/focus-stack")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "gacn-bench-native",
                        help="outputs of the programs")
    parser.add_argument("--cache", type=Path, default=None, help="generated sets (default ~/.cache/gacn-native)")
    args = parser.parse_args()
    for size in _list(args.sizes) + _list(args.surface):
        frame_size(size)  # a bad size name fails here, not after minutes of work
    args.work.mkdir(parents=True, exist_ok=True)
    focus_stack = args.focus_stack if args.focus_stack and Path(args.focus_stack).is_file() else None
    enfuse = None if args.no_enfuse else shutil.which("enfuse")
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    print(f"command: python {shlex.join(sys.argv)}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
          f"focus-stack: {focus_stack or 'not found'}; enfuse: {enfuse or 'not used'}", flush=True)
    photo = skimage.data.astronaut()[:128, :128]
    gacn.fuse([photo, cv2.GaussianBlur(photo, (0, 0), 3)])  # warm-up: the models loaded once
    rows: list[Row] = []
    reports: list[str] = []
    for case in cases(args):
        faithful = (args.faithful == "all" or case.name in args.faithful.split(",")
                    or (args.faithful == "small" and case.pixels <= SMALL))
        fast, result = run_fast(case, args.work, env)
        rows.append(show(fast))
        if args.errors and case.stack is not None:
            lines = error_report(case, result)
            print("\n".join(lines), flush=True)
            reports += lines
        del result
        files = list(map(str, case.files))
        if faithful:
            out, map_file = args.work / f"{case.name}_faithful.png", args.work / f"{case.name}_faithful_map.png"
            cmd = [sys.executable, "-m", "gacn", "fuse", *files, "--no-crop", "-o", str(out), "--method", "gacn",
                   "--map", str(map_file)]
            rows.append(show(run_program(case, "gacn faithful", cmd, out, env, map_file)))
        if focus_stack:
            out = args.work / f"{case.name}_focus-stack.png"
            cmd = [focus_stack, *FOCUS_STACK_ARGS, f"--output={out}", *files]
            rows.append(show(run_program(case, "focus-stack", cmd, out, env)))
        if enfuse:
            out = args.work / f"{case.name}_enfuse.tif"
            rows.append(show(run_program(case, "enfuse", [enfuse, *ENFUSE_ARGS, "-o", str(out), *files], out, env)))
        rows.append(show(Row(case.name, "oracle", psnr(case.oracle, case.truth), 1.0)))
        rows.append(show(Row(case.name, "best pick", psnr(best_pick(case.frames, case.truth), case.truth))))
        del case
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end\n")
    print("| case | method | PSNR vs truth (dB) | map / index accuracy | fuse in process (s) | program wall (s) "
          "| program peak RSS (MB) | note |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.case} | {r.method} | {fmt(r.psnr, '.2f')} | {fmt(r.accuracy, '.4f')} | {fmt(r.fuse_s, '.2f')} "
              f"| {fmt(r.wall_s, '.2f')} | {fmt(r.peak_mb, '.0f')} | {r.note} |")
    if reports:
        print("\n" + "\n".join(reports))


if __name__ == "__main__":
    main()
