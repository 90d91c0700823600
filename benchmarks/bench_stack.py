"""Focus-stack benchmark: wall time and peak memory per strategy, and enfuse for comparison.

Each run is a separate process (``gacn fuse`` or ``enfuse``) started by a small measuring
process, so the peak RSS reported is that run's alone (the whole process: Python, torch,
the model and the images); its CPU time (user + system) is reported beside the wall time,
as it depends less on what else the machine is running. Cases read the shared data (``$GACN_DATA``, default
``../shared/data`` beside the repository):

* ``pair``   two 1600x1200 frames of ``stacks/microscope_v4`` (V020, V045)
* ``v4_6``   six frames of ``stacks/microscope_v4`` evenly spread over the sweep
* ``v4_65``  all 65 frames of ``stacks/microscope_v4``
* ``pcb``    the 7 frames of ``stacks/pcb`` (2048x1536)
* ``triples`` the four Lytro triples (520x520, 3 frames each)

Usage::

    nice -n 10 python benchmarks/bench_stack.py --cases pair,v4_6 --strategies running,calibration,serial \
        --threads 2 --out bench_out

``--synthetic`` instead scores every strategy on synthetic stacks with ground truth
(:mod:`gacn.fusion.synthetic`): index accuracy on textured pixels (of ``index_map``, the
frames blended, and of ``depth_map``, the regularised depth map) and PSNR against the sharp
photo, for a 6-frame, a dense 10-frame, a sparse 3-frame and a sparse unaligned 4-frame stack;
``--refine-off`` adds ``running`` and ``serial`` without the boundary refiner. The name ``fast``
among the strategies runs the fast method (``--method fast``; ``fast-bare`` without exposure
matching and flat-area filling, with ``--synthetic``); the others run the faithful
method (``--method gacn``) with that strategy.

A strategy written ``running-plain`` (or ``serial-plain``) runs without the boundary refiner
(``--no-refine``), and its time is compared with the refined run's.

Prints one line per run and writes ``results.json`` (and the fused images, maps) to ``--out``.
enfuse runs with the usual focus-stacking settings (contrast weight only, hard mask) when it
is installed; it does not align, so it gets the frames as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ENFUSE_ARGS = ["--exposure-weight=0", "--saturation-weight=0", "--contrast-weight=1", "--hard-mask",
               "--contrast-window-size=5"]


def data_dir() -> Path:
    """$GACN_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("GACN_DATA", REPO.parent / "shared" / "data"))


def cases(root: Path) -> dict[str, list[list[Path]]]:
    """Input lists per case (a case may hold several stacks, e.g. the four triples)."""
    v4 = sorted((root / "stacks" / "microscope_v4").glob("V*.jpg"))
    pcb = sorted((root / "stacks" / "pcb").glob("pcb_*.jpg"))
    triples = [sorted(d.glob("[ABC].jpg")) for d in sorted((root / "triples").glob("lytro_triple_*"))]
    out: dict[str, list[list[Path]]] = {}
    if len(v4) == 65:
        out["pair"] = [[v4[19], v4[44]]]
        out["v4_6"] = [[v4[int(i)] for i in np.linspace(0, 64, 6).round()]]
        out["v4_65"] = [v4]
    if pcb:
        out["pcb"] = [pcb]
    if triples:
        out["triples"] = triples
    return out


def measure(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``cmd`` in a child process; wall seconds, peak RSS (MB) and exit status."""
    probe = ("import json,resource,subprocess,sys,time; t=time.perf_counter(); "
             "rc=subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode; "
             "u=resource.getrusage(resource.RUSAGE_CHILDREN); "
             "print(json.dumps({'wall_s': time.perf_counter()-t, 'rc': rc, 'cpu_s': u.ru_utime+u.ru_stime, "
             "'peak_rss_mb': u.ru_maxrss/1024}))")
    proc = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def method_options(name: str) -> dict[str, str | bool]:
    """``gacn.fuse`` options for a run name: ``fast`` is the fast method, ``fast-bare`` the fast
    method without exposure matching and flat areas decided from their surroundings (the default
    before them; synthetic runs only), a strategy name the faithful method (``gacn``) with that
    strategy."""
    if name == "fast-bare":
        return {"method": "fast", "strategy": "running", "match_exposure": False, "fill_flat": False}
    return {"method": "fast", "strategy": "running"} if name == "fast" else {"method": "gacn", "strategy": name}


#: Suffix of a strategy name (``running-plain``) that runs it with ``--no-refine``.
PLAIN = "-plain"

SYNTHETIC = {
    "6 frames": dict(n_frames=6),
    "10 frames": dict(n_frames=10),
    "sparse 3": dict(n_frames=3, max_blur=8.0),
    "sparse 4 unaligned": dict(n_frames=4, max_blur=8.0, breathing=0.01, shift=2.0),
}


def synthetic(strategies: list[str], threads: int, refine_off: bool = False) -> list[dict[str, object]]:
    """Index accuracy and PSNR per strategy on synthetic stacks of three photos (with
    ``refine_off``, also without the boundary refiner for the strategies that use it)."""
    import skimage.data
    import torch

    import gacn
    from gacn.fusion.synthetic import index_accuracy, make_stack, psnr

    torch.set_num_threads(threads)
    rows = []
    photos = {"astronaut": skimage.data.astronaut(), "coffee": skimage.data.coffee(), "chelsea": skimage.data.chelsea()}
    runs = [(strategy, True) for strategy in strategies]
    if refine_off:
        runs += [(strategy, False) for strategy in strategies if strategy != "calibration"]
    for name, kw in SYNTHETIC.items():
        for strategy, refine in runs:
            label = strategy if refine else f"{strategy} (no refiner)"
            acc, depth, db, secs = [], [], [], 0.0
            for photo in photos.values():
                s = make_stack(photo, size=(192, 256), **kw)
                aligned = "breathing" in kw  # the middle frame, the reference, has the truth's geometry
                t = time.perf_counter()
                r = gacn.fuse(s.frames, **method_options(strategy), align=aligned, crop=False, refine=refine)
                secs += time.perf_counter() - t
                inner = (slice(8, -8), slice(8, -8)) if aligned else (slice(None), slice(None))
                acc.append(index_accuracy(r.index_map, s))
                depth.append(index_accuracy(r.depth_map, s))
                db.append(psnr(r.image[inner], s.sharp[inner]))
            row = {"stack": name, "strategy": label, "index_accuracy": float(np.mean(acc)),
                   "depth_accuracy": float(np.mean(depth)), "psnr_db": float(np.mean(db)), "seconds": secs}
            rows.append(row)
            print(f"{name:20s} {label:24s} index accuracy {row['index_accuracy']:.3f}  "
                  f"depth map {row['depth_accuracy']:.3f}  PSNR {row['psnr_db']:.2f} dB  {secs:.1f} s", flush=True)
    return rows


def montage(panels: list[tuple[str, Path]], out: Path, width: int = 400, columns: int = 2) -> None:
    """Downscaled, labelled grid of result images (fused images, depth-map previews)."""
    import cv2

    tiles = []
    for label, path in panels:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            sys.exit(f"cannot read {path}")
        img = cv2.resize(img, (width, round(img.shape[0] * width / img.shape[1])), interpolation=cv2.INTER_AREA)
        cv2.putText(img, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(img)
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    cv2.imwrite(str(out), np.vstack(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="pair,v4_6,pcb,triples")
    parser.add_argument("--strategies", default="running,calibration,serial")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each run")
    parser.add_argument("--no-enfuse", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench_stack_out"))
    parser.add_argument("--synthetic", action="store_true", help="score the strategies on synthetic stacks")
    parser.add_argument("--refine-off", action="store_true",
                        help="with --synthetic: also score running and serial without the boundary refiner")
    parser.add_argument("--montage", type=Path, help="write a montage of LABEL=IMAGE panels (see --panels)")
    parser.add_argument("--panels", nargs="*", default=[], help="LABEL=IMAGE_PATH for --montage")
    args = parser.parse_args()
    if args.montage:
        montage([(p.split("=", 1)[0], Path(p.split("=", 1)[1])) for p in args.panels], args.montage)
        return
    if args.synthetic:
        args.out.mkdir(parents=True, exist_ok=True)
        rows = synthetic(args.strategies.split(","), args.threads, args.refine_off)
        (args.out / "synthetic.json").write_text(json.dumps(rows, indent=1))
        return
    root = data_dir()
    available = cases(root)
    if not available:
        sys.exit(f"no stacks found under {root} (set GACN_DATA)")
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    gacn_cmd = [sys.executable, "-m", "gacn", "fuse"]
    enfuse = None if args.no_enfuse else shutil.which("enfuse")
    results = []
    print(f"load average {os.getloadavg()[0]:.2f} at start; torch threads {args.threads}", flush=True)
    for case in args.cases.split(","):
        if case not in available:
            print(f"{case}: no data, skipped", flush=True)
            continue
        strategies = args.strategies.split(",") + (["enfuse"] if enfuse else [])
        for strategy in strategies:
            runs = []
            for k, files in enumerate(available[case]):
                stem = args.out / f"{case}{k if len(available[case]) > 1 else ''}_{strategy}"
                if strategy == "enfuse":
                    cmd = [enfuse, *ENFUSE_ARGS, "-o", f"{stem}.tif", *map(str, files)]
                else:
                    plain = strategy.endswith(PLAIN)
                    options = method_options(strategy.removesuffix(PLAIN))
                    cmd = [*gacn_cmd, *map(str, files), "-o", f"{stem}.png", "--method", options["method"],
                           "--strategy", options["strategy"],
                           "--map", f"{stem}_map.png", *(["--no-refine"] if plain else [])]
                runs.append(measure(cmd, env))
            row = {"case": case, "strategy": strategy, "frames": len(available[case][0]),
                   "stacks": len(runs), "wall_s": sum(r["wall_s"] for r in runs), "cpu_s": sum(r["cpu_s"] for r in runs),
                   "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "rc": max(r["rc"] for r in runs),
                   "load": os.getloadavg()[0]}
            results.append(row)
            print(f"{case:8s} {strategy:12s} frames {row['frames']:3d} x{row['stacks']}  wall {row['wall_s']:8.1f} s  CPU {row['cpu_s']:8.1f} s  "
                  f"peak RSS {row['peak_rss_mb']:7.0f} MB  rc {row['rc']}  load {row['load']:.2f}", flush=True)
        by = {r["strategy"]: r for r in results if r["case"] == case}
        for name in args.strategies.split(","):
            if name.endswith(PLAIN) and name.removesuffix(PLAIN) in by:
                ref, bare = by[name.removesuffix(PLAIN)], by[name]
                print(f"{case:8s} {name.removesuffix(PLAIN)} with / without the refiner: wall "
                      f"{ref['wall_s'] / bare['wall_s']:.2f}, CPU {ref['cpu_s'] / bare['cpu_s']:.2f}", flush=True)
        if "calibration" in by and "serial" in by:
            cal, ser = by["calibration"], by["serial"]
            print(f"{case:8s} calibration / serial: wall {cal['wall_s'] / ser['wall_s']:.2f}, "
                  f"CPU {cal['cpu_s'] / ser['cpu_s']:.2f}", flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
