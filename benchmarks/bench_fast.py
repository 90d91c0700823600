"""Quality gates of the fast path: ``method='fast'`` against the faithful ``method='gacn'``, same run.

Three rows per dataset: ``gacn`` (the faithful path), ``fast-plain`` (the fast path without
exposure matching and flat-area filling: the default before them) and ``fast`` (the default).

For each dataset, the means over its items of the scores the report uses (Q_G and Q_CB on the
Lytro pairs and the strong-defocus set, band PSNR on the halo scenes, map accuracy and PSNR on
the generated pairs), the share of the image the network computed on the fast path, and the
median seconds per item of each path (in process, after a warm-up call).

Usage: python benchmarks/bench_fast.py [--datasets lytro,defocus,halo,synthetic] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import gacn
from gacn.evaluation.datasets import load_dataset
from gacn.evaluation.scoring import score
from gacn.fusion import coarse

REPO = Path(__file__).resolve().parents[1]
COLUMNS = {"lytro": ["Q_G", "Q_CB"], "defocus": ["Q_G", "Q_CB"], "halo": ["band_PSNR", "map_acc"],
           "synthetic": ["map_acc", "PSNR"]}
#: The rows: label, method, options of :func:`gacn.fuse`.
ROWS = (("gacn", "gacn", {}), ("fast-plain", "fast", {"match_exposure": False, "fill_flat": False}),
        ("fast", "fast", {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--datasets", default="lytro,defocus,halo,synthetic")
    args = parser.parse_args()
    torch.set_num_threads(2)
    shares: list[float] = []
    decide = coarse.decide_stack

    def counted(*a: object, **k: object) -> dict:
        out = decide(*a, **k)  # type: ignore[arg-type]
        shares.append(float(out["share"]))
        return out

    coarse.decide_stack = counted  # type: ignore[assignment]
    for name in args.datasets.split(","):
        data = load_dataset(name, args.data)
        columns = COLUMNS[name]
        print(f"\n{name} ({len(data.items)} items)")
        print(f"{'method':10}" + "".join(f"{c:>11}" for c in columns) + f"{'median s':>11}{'network':>9}")
        for label, method, options in ROWS:
            shares.clear()
            rows, seconds = [], []
            gacn.fuse(data.items[0].sources, method=method, **options)  # warm-up
            shares.clear()
            for item in data.items:
                t = time.perf_counter()
                result = gacn.fuse(item.sources, method=method, **options)
                seconds.append(time.perf_counter() - t)
                rows.append(score(item, result.image, result.decision_map, columns))
            network = f"{np.mean(shares):9.2f}" if shares else f"{'1':>9}"
            print(f"{label:10}" + "".join(f"{np.mean([r[c] for r in rows]):11.4f}" for c in columns)
                  + f"{statistics.median(seconds):11.3f}" + network, flush=True)


if __name__ == "__main__":
    main()
