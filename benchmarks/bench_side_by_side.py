"""gacn fast, gacn faithful, enfuse and focus-stack side by side, in one run, on the same machine.

Cases (the shared data, ``$GACN_DATA``, default ``../shared/data``; the 24 MP frames are made
once in ``--work`` by upscaling pcb frames with OpenCV's Lanczos filter and saving JPEG 95):

* ``lytro``    the 20 Lytro pairs (520x520), in process: ``gacn.fuse`` (median over the pairs of
  the best of ``--repeat`` calls) against enfuse with its file round trip
  (:func:`gacn.baselines.enfuse.enfuse_fusion`, hard mask) and focus-stack as a program
* ``pair1600`` two 1600x1200 frames of the microscope sweep (V020, V045)
* ``v4_65``    all 65 frames of the microscope sweep (1600x1200)
* ``pcb``      the 7 pcb frames (2048x1536)
* ``pair24``   pcb frames 001 and 005 upscaled to 6000x4000 (24 MP)
* ``stack24``  10 frames of 6000x4000: the 7 pcb frames upscaled, then 002, 004 and 006 again
* ``native24`` (with ``--native``, or named in ``--cases``) a 6000x4000 native-detail pair: BSDS500
  ``test`` photos tiled at their own resolution in two depth layers, disc defocus of 40 px
  (:func:`gacn.evaluation.native.native_pair`, cached in ``~/.cache/gacn-native``); every pixel
  real detail, unlike the upscaled ``pair24``

Every program case runs as a child process (``gacn fuse``, ``enfuse``, ``focus-stack``), whose
wall time, CPU time (user + system) and peak RSS are measured (:func:`bench_stack.measure`).
The faithful path (``--method gacn``) runs only on the cases of ``--faithful`` (it takes
minutes to hours on the big ones). The last column is each run's wall time over focus-stack's.

Usage::

    python benchmarks/bench_side_by_side.py --cases lytro,pair1600,v4_65,pcb,pair24,stack24 \\
        --faithful lytro,pair1600 --work /tmp/gacn-bench [--native]

Needs ``enfuse`` (``apt-get install enfuse``) and focus-stack (``bash ../shared/peers/focus-stack/build.sh``;
its path with ``--focus-stack`` or on the PATH); a missing peer is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_stack import ENFUSE_ARGS, data_dir, measure

REPO = Path(__file__).resolve().parents[1]
CASES = ("lytro", "pair1600", "v4_65", "pcb", "pair24", "stack24")
BIG = (6000, 4000)
#: Disc radius (px) of the ``native24`` pair.
NATIVE_RADIUS = 40
#: pcb frames (0-based) of the 24 MP cases.
BIG_CASES = {"pair24": [0, 4], "stack24": [0, 1, 2, 3, 4, 5, 6, 1, 3, 5]}


def big_frames(work: Path, pcb: list[Path], indices: list[int]) -> list[Path]:
    """pcb frames upscaled to 24 MP JPEGs in ``work`` (made once, reused)."""
    import cv2

    out = []
    for n, k in enumerate(indices):
        path = work / f"big_{n:02d}_pcb{k + 1:03d}.jpg"
        if not path.exists():
            img = cv2.imread(str(pcb[k]), cv2.IMREAD_COLOR)
            cv2.imwrite(str(path), cv2.resize(img, BIG, interpolation=cv2.INTER_LANCZOS4),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
        out.append(path)
    return out


def program_cases(root: Path, work: Path, wanted: list[str]) -> dict[str, list[Path]]:
    """Input frames of the wanted cases run as programs (the 24 MP frames are made here)."""
    v4 = sorted((root / "stacks" / "microscope_v4").glob("V*.jpg"))
    pcb = sorted((root / "stacks" / "pcb").glob("pcb_*.jpg"))
    cases: dict[str, list[Path]] = {}
    if len(v4) == 65:
        cases["pair1600"] = [v4[19], v4[44]]
        cases["v4_65"] = v4
    if len(pcb) == 7:
        cases["pcb"] = pcb
        cases.update({name: big_frames(work, pcb, indices) for name, indices in BIG_CASES.items() if name in wanted})
    if "native24" in wanted and (root / "train" / "bsds500").is_dir():
        from gacn.evaluation.native import native_pair

        pair = native_pair("24", NATIVE_RADIUS, root=root)
        cases["native24"] = [pair.files["near"], pair.files["far"]]
    return cases


def commands(case: str, frames: list[Path], out: Path, focus_stack: str | None, faithful: bool
             ) -> dict[str, list[str]]:
    """The command line of every tool for one case."""
    files = [str(p) for p in frames]
    gacn = [sys.executable, "-m", "gacn", "fuse", *files]
    runs = {"gacn fast": [*gacn, "-o", str(out / f"{case}_fast.jpg")]}  # JPEG, as focus-stack writes
    if faithful:
        runs["gacn faithful"] = [*gacn, "-o", str(out / f"{case}_faithful.jpg"), "--method", "gacn"]
    if shutil.which("enfuse"):
        runs["enfuse"] = ["enfuse", *ENFUSE_ARGS, "-o", str(out / f"{case}_enfuse.tif"), *files]
    if focus_stack:
        runs["focus-stack"] = [focus_stack, f"--output={out / f'{case}_focus-stack.jpg'}", *files]
    return runs


def lytro_case(root: Path, repeat: int, faithful: bool, focus_stack: str | None, out: Path) -> list[dict]:
    """Median per-pair seconds on the Lytro pairs: gacn in process, enfuse with its files, focus-stack."""
    import numpy as np
    import torch

    import gacn
    from gacn.baselines.enfuse import enfuse_available, enfuse_fusion
    from gacn.io import read_image

    torch.set_num_threads(2)
    folder = root / "pairs" / "lytro"
    pairs = [(folder / f"lytro_{i:02d}_1.png", folder / f"lytro_{i:02d}_2.png") for i in range(1, 21)]
    pairs = [p for p in pairs if p[0].exists()]
    images = [(read_image(a), read_image(b)) for a, b in pairs]
    tools: dict[str, object] = {"gacn fast": lambda a, b: gacn.fuse([a, b])}
    if faithful:
        tools["gacn faithful"] = lambda a, b: gacn.fuse([a, b], method="gacn")
    if enfuse_available():
        tools["enfuse"] = enfuse_fusion
    rows = []
    for name, fn in tools.items():
        fn(*images[0])  # warm-up: model loading, first allocations
        times = []
        for a, b in images:
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                fn(a, b)  # type: ignore[operator]
                best = min(best, time.perf_counter() - t)
            times.append(best)
        rows.append({"case": "lytro", "tool": name, "wall_s": statistics.median(times), "cpu_s": None,
                     "peak_rss_mb": None, "note": f"median of {len(times)} pairs, best of {repeat}"})
    if focus_stack:
        times = [measure([focus_stack, f"--output={out / 'lytro_focus-stack.jpg'}", str(a), str(b)],
                         dict(os.environ))["wall_s"] for a, b in pairs]
        rows.append({"case": "lytro", "tool": "focus-stack", "wall_s": float(np.median(times)), "cpu_s": None,
                     "peak_rss_mb": None, "note": f"median of {len(times)} pairs, program"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--faithful", default="lytro,pair1600", help="cases that also run --method gacn")
    parser.add_argument("--repeat", type=int, default=3, help="calls per Lytro pair (the best is kept)")
    parser.add_argument("--focus-stack", default=shutil.which("focus-stack") or "/tmp/fs/build/focus-stack")
    parser.add_argument("--work", type=Path, default=Path("bench_side_by_side_out"))
    parser.add_argument("--native", action="store_true", help="add the native24 case (a native-detail 24 MP pair)")
    args = parser.parse_args()
    root = data_dir()
    args.work.mkdir(parents=True, exist_ok=True)
    focus_stack = args.focus_stack if args.focus_stack and Path(args.focus_stack).is_file() else None
    if not focus_stack:
        print("focus-stack not found: build it with bash ../shared/peers/focus-stack/build.sh", flush=True)
    if not shutil.which("enfuse"):
        print("enfuse not found: apt-get install enfuse", flush=True)
    faithful = set(args.faithful.split(","))
    wanted = args.cases.split(",") + (["native24"] if args.native and "native24" not in args.cases.split(",") else [])
    available = program_cases(root, args.work, wanted)
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    print(f"load average {os.getloadavg()[0]:.2f} at start; {os.cpu_count()} CPUs", flush=True)
    rows: list[dict] = []
    for case in wanted:
        if case == "lytro":
            case_rows = lytro_case(root, args.repeat, "lytro" in faithful, focus_stack, args.work)
        elif case in available:
            case_rows = []
            for tool, cmd in commands(case, available[case], args.work, focus_stack, case in faithful).items():
                run = measure(cmd, env)
                case_rows.append({"case": case, "tool": tool, **run, "note": "" if run["rc"] == 0 else f"exit {run['rc']}"})
        else:
            print(f"{case}: no data, skipped", flush=True)
            continue
        peer = next((r["wall_s"] for r in case_rows if r["tool"] == "focus-stack"), None)
        for r in case_rows:
            r["vs_focus_stack"] = r["wall_s"] / peer if peer else None
            fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
            print(f"{case:9s} {r['tool']:14s} wall {fmt(r['wall_s'], '8.2f')} s  CPU {fmt(r['cpu_s'], '8.1f')} s  "
                  f"peak RSS {fmt(r['peak_rss_mb'], '6.0f')} MB  x focus-stack {fmt(r['vs_focus_stack'], '5.2f')}  "
                  f"{r['note']}", flush=True)
        rows += case_rows
        (args.work / "side_by_side.json").write_text(json.dumps(rows, indent=1))
    print(f"load average {os.getloadavg()[0]:.2f} at the end", flush=True)


if __name__ == "__main__":
    main()
