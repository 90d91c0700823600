"""Focus-stack benchmark: wall time and peak memory per strategy, and enfuse for comparison.

Each run is a separate process (``gacn fuse`` or ``enfuse``) started by a small measuring
process, so the peak RSS reported is that run's alone (the whole process: Python, torch,
the model and the images). Cases read the shared data (``$GACN_DATA``, default
``../shared/data`` beside the repository):

* ``pair``   two 1600x1200 frames of ``stacks/microscope_v4`` (V020, V045)
* ``v4_6``   six frames of ``stacks/microscope_v4`` evenly spread over the sweep
* ``v4_65``  all 65 frames of ``stacks/microscope_v4``
* ``pcb``    the 7 frames of ``stacks/pcb`` (2048x1536)
* ``triples`` the four Lytro triples (520x520, 3 frames each)

Usage::

    nice -n 10 python benchmarks/bench_stack.py --cases pair,v4_6 --strategies running,calibration,serial \
        --threads 2 --out bench_out

Prints one line per run and writes ``results.json`` (and the fused images, maps) to ``--out``.
enfuse runs with the usual focus-stacking settings (contrast weight only, hard mask) when it
is installed; it does not align, so it gets the frames as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
             "print(json.dumps({'wall_s': time.perf_counter()-t, 'rc': rc, "
             "'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))")
    proc = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="pair,v4_6,pcb,triples")
    parser.add_argument("--strategies", default="running,calibration,serial")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each run")
    parser.add_argument("--no-enfuse", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench_stack_out"))
    args = parser.parse_args()
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
                    cmd = [*gacn_cmd, *map(str, files), "-o", f"{stem}.png", "--strategy", strategy,
                           "--map", f"{stem}_map.png"]
                runs.append(measure(cmd, env))
            row = {"case": case, "strategy": strategy, "frames": len(available[case][0]),
                   "stacks": len(runs), "wall_s": sum(r["wall_s"] for r in runs),
                   "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "rc": max(r["rc"] for r in runs),
                   "load": os.getloadavg()[0]}
            results.append(row)
            print(f"{case:8s} {strategy:12s} frames {row['frames']:3d} x{row['stacks']}  wall {row['wall_s']:8.1f} s  "
                  f"peak RSS {row['peak_rss_mb']:7.0f} MB  rc {row['rc']}  load {row['load']:.2f}", flush=True)
        by = {r["strategy"]: r["wall_s"] for r in results if r["case"] == case}
        if "calibration" in by and "serial" in by:
            print(f"{case:8s} calibration / serial time = {by['calibration'] / by['serial']:.2f}", flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
