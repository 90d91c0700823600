"""Time how long the ``gacn`` command takes to print its help and its fast errors.

Usage::

    python benchmarks/bench_startup.py [--repeat 5]

Runs, each ``--repeat`` times in a fresh interpreter: ``gacn --help``, ``gacn fuse --help``,
``gacn fuse missing.png x.png -o y.png`` (missing input) and ``gacn fuse a.png b.png -o y.xyz``
(unknown output format), and prints the median wall time of each. These should stay well
under 0.5 s: torch and the fusion pipeline are imported only when a command starts work.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def time_command(args: list[str], repeat: int) -> float:
    """Median wall time (seconds) of ``python -m gacn ARGS`` in fresh interpreters."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gacn", *args], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        existing = Path(tmp) / "a.png"
        existing.write_bytes(b"")
        cases = {
            "gacn --help": ["--help"],
            "gacn fuse --help": ["fuse", "--help"],
            "missing input": ["fuse", "missing.png", "x.png", "-o", "y.png"],
            "unknown output format": ["fuse", str(existing), str(existing), "-o", str(Path(tmp) / "y.xyz")],
        }
        for name, args in cases.items():
            print(f"{name:<24} {time_command(args, opts.repeat):.3f} s")


if __name__ == "__main__":
    main()
