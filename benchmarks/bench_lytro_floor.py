"""What a 520x520 Lytro pair costs in process, step by step, against enfuse: the floor of the network.

The target of issue #14 puts ``gacn.fuse`` on a Lytro pair at or under enfuse's time. This prints,
for the 20 Lytro pairs in one run (median of the per-pair best of ``--repeat``, 2 torch threads):

* ``gacn.fuse``          the shipped default (fast path), in process;
* ``network fp32``       the network's raw decision alone on the whole pair (the lean path of
  :mod:`gacn.model.inference`): the cascade's footprint on a Lytro pair is most of the pair;
* ``network bf16``       the same under ``torch.autocast`` in bfloat16 (oneDNN uses AMX where the
  CPU has it), with the share of pixels whose decision agrees with fp32;
* ``filters``            the boundary guided filter and the boundary refiner on the whole map;
* ``enfuse``             :func:`gacn.baselines.enfuse.enfuse_fusion` (hard mask), its TIFF round
  trip included, when installed.

Usage: python benchmarks/bench_lytro_floor.py [--data ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

import gacn
from gacn.baselines import enfuse_available, enfuse_fusion
from gacn.fusion.pair import blend_map, cached_model
from gacn.io import read_image, to_gray_float
from gacn.model import inference

REPO = Path(__file__).resolve().parents[1]


def best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    folder = Path(args.data) / "pairs" / "lytro"
    names = sorted(p.name[:-6] for p in folder.glob("*_1.png"))
    if not names:
        raise SystemExit(f"no Lytro pairs in {folder}")
    model = cached_model(None, "cpu")
    rows: dict[str, list[float]] = {}
    agree = []
    for name in names:
        a, b = (read_image(folder / f"{name}_{k}.png") for k in (1, 2))
        ga, gb = (torch.from_numpy(to_gray_float(x))[None, None].contiguous(memory_format=torch.channels_last)
                  for x in (a, b))

        def bf16() -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return inference.raw_decision(model, ga, gb)

        rows.setdefault("gacn.fuse", []).append(best(lambda: gacn.fuse([a, b]), args.repeat)[0])
        t32, raw = best(lambda: inference.raw_decision(model, ga, gb), args.repeat)
        t16, raw16 = best(bf16, args.repeat)
        rows.setdefault("network fp32", []).append(t32)
        rows.setdefault("network bf16", []).append(t16)
        agree.append(float(((raw16.float() > 0.5) == (raw > 0.5)).float().mean()))
        with torch.inference_mode():
            rows.setdefault("filters", []).append(best(lambda: blend_map(raw, ga, gb), args.repeat)[0])
        if enfuse_available():
            rows.setdefault("enfuse", []).append(best(lambda: enfuse_fusion(a, b), args.repeat)[0])
    print(f"{len(names)} Lytro pairs, median of each pair's best of {args.repeat} (seconds)")
    enfuse = statistics.median(rows["enfuse"]) if "enfuse" in rows else None
    for label, values in rows.items():
        median = statistics.median(values)
        ratio = f"  {median / enfuse:5.2f} x enfuse" if enfuse else ""
        print(f"{label:14s} {median:7.3f}{ratio}")
    print(f"bf16 decisions agreeing with fp32: median {statistics.median(agree):.4f}, worst {min(agree):.4f}")
    print(f"CPU with AMX tiles (bf16 matrix units): {'yes' if _amx() else 'no'}")


def _amx() -> bool:
    """Whether the CPU advertises AMX tiles (Linux /proc/cpuinfo)."""
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


if __name__ == "__main__":
    main()
