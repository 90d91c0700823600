"""Time each fusion metric, and all of them, on a 520x520 triple.

Usage::

    python benchmarks/bench_metrics.py [--repeat 5] [--shared PATH]

Uses ``$GACN_SHARED/data/pairs/lytro/lytro_01_{1,2}.png`` (default: the ``shared`` folder
next to the repository root) converted to gray, with F their rounded pixel average; falls
back to a synthetic 520x520 triple when the data is absent. Prints, per metric, the first
call (which includes one-off set-up such as the Q_P filter bank, cached per image size) and
the median over ``--repeat`` further calls, then the totals and one end-to-end
``gacn.metrics.compute`` call.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    from gacn import metrics
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from gacn import metrics


def load_triple(shared: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    d = shared / "data" / "pairs" / "lytro"
    pa, pb = d / "lytro_01_1.png", d / "lytro_01_2.png"
    if pa.is_file() and pb.is_file():
        a = metrics.to_gray(metrics.read_image(pa))
        b = metrics.to_gray(metrics.read_image(pb))
        f = np.floor((a + b) / 2 + 0.5)
        return a, b, f, f"{pa.name} + {pb.name}, F = rounded average, {a.shape[0]}x{a.shape[1]}"
    from scipy import ndimage

    rng = np.random.default_rng(0)
    base = ndimage.gaussian_filter(rng.normal(size=(520, 520)), 1.0)
    base = (base - base.min()) / (base.max() - base.min()) * 255
    blur = ndimage.gaussian_filter(base, 2.5)
    a = base.copy()
    a[:, 260:] = blur[:, 260:]
    b = base.copy()
    b[:, :260] = blur[:, :260]
    a, b = np.floor(a + 0.5), np.floor(b + 0.5)
    f = np.floor((a + b) / 2 + 0.5)
    return a, b, f, "synthetic 520x520 triple (lytro data not found)"


def main(argv: list[str] | None = None) -> int:
    default_shared = Path(
        os.environ.get("GACN_SHARED", Path(__file__).resolve().parents[1].parent / "shared")
    )
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed repeats after the first call")
    ap.add_argument("--shared", type=Path, default=default_shared)
    args = ap.parse_args(argv)

    a, b, f, desc = load_triple(args.shared)
    print(f"data: {desc}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, cpus {os.cpu_count()}")
    print()
    print(f"{'metric':<8} {'value':>12} {'first ms':>10} {'median ms':>10}")
    first_total = 0.0
    med_total = 0.0
    for name in metrics.NAMES:
        fn = metrics.REGISTRY[name]
        t0 = time.perf_counter()
        val = fn(a, b, f)
        t_first = time.perf_counter() - t0
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn(a, b, f)
            times.append(time.perf_counter() - t0)
        t_med = statistics.median(times) if times else t_first
        first_total += t_first
        med_total += t_med
        print(f"{name:<8} {val:>12.6g} {t_first * 1e3:>10.1f} {t_med * 1e3:>10.1f}")
    print(f"{'TOTAL':<8} {'':>12} {first_total * 1e3:>10.1f} {med_total * 1e3:>10.1f}")

    times = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        metrics.compute(a / 255.0, b / 255.0, f / 255.0)
        times.append(time.perf_counter() - t0)
    print(f"compute(all 14), median of {len(times)}: {statistics.median(times) * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
