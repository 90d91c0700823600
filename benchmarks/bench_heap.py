"""glibc's mmap threshold: the fusion's time and peak memory under each setting, same run.

:func:`gacn.fusion.grid.bound_heap_growth` fixes glibc's mmap threshold, the size from which an
allocation gets its own mapping (and gives its memory back when freed) instead of coming from
the heap. A low threshold bounds the heap's fragmentation, but every large array is then fresh
memory, paid for in page faults when first written; a high one reuses freed blocks. Each case
runs in a child process per setting, the settings alternating, ``--repeat`` times:

* ``4 MB``     the threshold before (:data:`gacn.fusion.grid.MMAP_THRESHOLD` was 4 MB)
* ``32 MB``    the threshold now (glibc's own ceiling for its dynamic threshold)
* ``dynamic``  glibc's default: no setting (the threshold follows the largest freed block, up to 32 MB)

Printed per case and setting: the median seconds of ``gacn.fuse`` (in the child, after imports;
torch is imported only when the network runs, as in ``gacn fuse``), the largest peak RSS of the
child, and the seconds over the ``4 MB`` setting's.

Cases (:func:`bench_side_by_side.program_cases`): ``pair1600`` (two microscope frames),
``pair24`` (two pcb frames upscaled to 24 MP), ``v4_65`` (the 65-frame microscope sweep),
``stack24`` (ten 24 MP frames).

Usage::

    python benchmarks/bench_heap.py [--cases pair1600,pair24,v4_65,stack24] [--repeat 2] \\
        [--data ../shared/data] [--work /tmp/gacn-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench_side_by_side import program_cases

REPO = Path(__file__).resolve().parents[1]
#: setting name -> threshold in bytes (None: glibc's dynamic default, no setting made).
SETTINGS: dict[str, int | None] = {"4 MB": 4 << 20, "32 MB": 32 << 20, "dynamic": None}
CASES = ("pair1600", "pair24", "v4_65", "stack24")

#: The child: sets the threshold (or disables the setting), fuses, prints seconds and peak RSS.
CHILD = """
import json, resource, sys, time
import gacn
from gacn.fusion import grid, stack
threshold = json.loads(sys.argv[1])
if threshold is None:
    stack.bound_heap_growth = lambda: False
else:
    grid.MMAP_THRESHOLD = threshold
start = time.perf_counter()
gacn.fuse(sys.argv[2:])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(threshold: int | None, frames: list[Path]) -> dict:
    """One fusion of ``frames`` in a child process under ``threshold``: seconds and peak RSS."""
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(threshold), *map(str, frames)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    if done.returncode != 0:
        raise SystemExit(f"error: the child failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--work", type=Path, default=Path("/tmp/gacn-bench"), help="where the 24 MP frames are made")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    wanted = args.cases.split(",")
    unknown = [c for c in wanted if c not in CASES]
    if unknown or args.repeat < 1:
        sys.exit(f"error: unknown case(s) {', '.join(unknown)} (use {', '.join(CASES)}), or --repeat under 1")
    args.work.mkdir(parents=True, exist_ok=True)
    cases = program_cases(Path(args.data), args.work, wanted)
    print(f"load average {os.getloadavg()[0]:.2f} at start; {os.cpu_count()} CPUs; {args.repeat} run(s) each\n")
    print(f"{'case':10}{'setting':>9}{'median s':>10}{'peak RSS MB':>13}{'x 4 MB':>8}")
    for case in wanted:
        if case not in cases:
            print(f"{case:10} skipped: its frames are not in {args.data}")
            continue
        results: dict[str, list[dict]] = {name: [] for name in SETTINGS}
        for _ in range(args.repeat):
            for name, threshold in SETTINGS.items():
                results[name].append(run(threshold, cases[case]))
        base = statistics.median(r["seconds"] for r in results["4 MB"])
        for name, runs in results.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            print(f"{case:10}{name:>9}{seconds:10.2f}{max(r['rss_mb'] for r in runs):13.0f}{seconds / base:8.2f}",
                  flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
