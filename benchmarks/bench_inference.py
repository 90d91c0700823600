"""Inference speed and memory: the fast path against the plain fp32 path and enfuse, in one run.

For every Lytro pair (520x520) it times, best of ``--repeat``:

* ``plain fp32``: ``GACN.forward`` on the whole pair (NCHW, both sources in one batch), then
  the blend: the straightforward path, the baseline of every ratio;
* ``gacn.fuse``: the shipped path (lean inference, see ``gacn.model.inference``, and the
  boundary refinement of ``gacn.fusion.refine``);
* ``onnxruntime``: the network exported with ``gacn export-onnx`` run by ONNX Runtime, then the
  same boundary guided filter and blend (when onnx and onnxruntime are installed);
* ``enfuse``: the Debian ``enfuse`` tool with a hard contrast mask, including its TIFF
  round trip (it is a command-line tool), when installed;

and checks that the decision maps of ``gacn.fuse(..., refine=False)`` (the same network and
BGF, without the refinement that the plain path does not have) and ``plain fp32`` agree (the
fast path must keep >= 99.9 % of pixels on every pair). Read and write times are reported separately. The
same is done for one 1600x1200 pair (two frames of ``stacks/microscope_v4``). Peak RSS is
measured for each path in a fresh process (one fusion, model loaded). The FLOP floor is the
model's multiply-adds (counted with hooks) at the rate of a 2048x2048 fp32 matrix product
measured in the same run.

Usage: python benchmarks/bench_inference.py [--data ../shared/data] [--pairs 20] [--repeat 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import gacn
from gacn.baselines import enfuse_available, enfuse_fusion
from gacn.fusion.pair import cached_model, check_pair
from gacn.io import from_float, read_image, to_float, to_gray_float, write_image
from gacn.model import GACN
from gacn.model.guided_filter import boundary_guided_filter

REPO = Path(__file__).resolve().parents[1]


def plain_fuse(model: GACN, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plain fp32 path: one ``GACN.forward`` over the whole pair, then the colour blend."""
    a, b = check_pair(a, b)
    ga = torch.from_numpy(to_gray_float(a))[None, None]
    gb = torch.from_numpy(to_gray_float(b))[None, None]
    with torch.inference_mode():
        decision = model(ga, gb).decision[0, 0].numpy()
    fa, fb = to_float(a), to_float(b)
    w = decision[..., None] if fa.ndim == 3 else decision
    return from_float(w * fa + (1.0 - w) * fb, a.dtype), decision


def ort_session(threads: int) -> object | None:
    """An ONNX Runtime session on the exported network, or None without onnx/onnxruntime."""
    try:
        import onnxruntime

        from gacn.model.onnx import export_onnx
    except ImportError:
        return None
    path = export_onnx(Path(tempfile.mkdtemp(prefix="gacn-onnx-")) / "gacn.onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_fuse(session: object, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ONNX Runtime path: raw map from the exported network, then the BGF and the blend."""
    a, b = check_pair(a, b)
    ga, gb = to_gray_float(a)[None, None], to_gray_float(b)[None, None]
    raw = torch.from_numpy(session.run(None, {"a": ga, "b": gb})[0])
    decision = boundary_guided_filter(raw, torch.from_numpy(ga), torch.from_numpy(gb))[0, 0].numpy()
    fa, fb = to_float(a), to_float(b)
    w = decision[..., None] if fa.ndim == 3 else decision
    return from_float(w * fa + (1.0 - w) * fb, a.dtype), decision


def macs_per_pixel(model: GACN) -> float:
    """Multiply-adds of the convolutions and linear layers per pixel of a pair."""
    total = 0

    def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * (module.in_channels // module.groups) * k
        elif isinstance(module, torch.nn.Linear):
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    side = 128
    with torch.inference_mode():
        model(torch.rand(1, 1, side, side), torch.rand(1, 1, side, side))
    for h in handles:
        h.remove()
    return total / (side * side)


def gemm_rate(threads: int) -> float:
    """Multiply-adds per second of a 2048x2048 fp32 matrix product (best of 5)."""
    x = torch.rand(2048, 2048)
    torch.mm(x, x)
    best = min(_timed(lambda: torch.mm(x, x)) for _ in range(5))
    return 2048 ** 3 / best


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


PROBE = """
import json, sys, time, torch
sys.path.insert(0, {bench!r})
from bench_inference import plain_fuse
import gacn
from gacn.fusion.pair import cached_model
from gacn.io import read_image
torch.set_num_threads({threads})
a, b = read_image({a!r}), read_image({b!r})
model = cached_model(None, "cpu")
def hwm():
    # VmHWM belongs to this process image; ru_maxrss would include the parent's peak at fork
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
before = hwm()
t = time.perf_counter()
gacn.fuse([a, b]) if {path!r} == "gacn.fuse" else plain_fuse(model, a, b)
print(json.dumps({{"peak_mb": hwm(), "loaded_mb": before, "first_call_s": time.perf_counter() - t}}))
"""


def peak_rss(path: str, a: Path, b: Path, threads: int) -> dict[str, float]:
    """Peak RSS of a fresh process that loads the model and fuses one pair with ``path``."""
    code = PROBE.format(bench=str(Path(__file__).parent), threads=threads, a=str(a), b=str(b), path=path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def agreement(d1: np.ndarray, d2: np.ndarray) -> float:
    """Share of pixels where two decision maps pick the same source."""
    return float(((d1 > 0.5) == (d2 > 0.5)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    lytro = sorted((data / "pairs" / "lytro").glob("*_1.*"))[: args.pairs]
    if not lytro:
        raise SystemExit(f"no Lytro pairs under {data / 'pairs' / 'lytro'}")
    model = cached_model(None, "cpu")
    has_enfuse = enfuse_available()
    session = ort_session(args.threads)

    mac_px = macs_per_pixel(model)
    rate = gemm_rate(args.threads)
    print(f"threads {args.threads}; model {mac_px / 1e3:.1f} K multiply-adds per pixel of a pair; "
          f"fp32 GEMM {rate / 1e9:.1f} G multiply-adds/s (the floor's rate)")

    tmp = Path(tempfile.mkdtemp(prefix="gacn-bench-"))
    rows = []
    print(f"\n{'pair':10} {'read':>6} {'plain':>6} {'fuse':>6} {'ratio':>6} {'agree %':>8} {'write':>6} {'enfuse':>7} "
          f"{'x enfuse':>8} {'onnxrt':>7} {'ratio':>6} {'agree %':>8}")
    for first in lytro:
        second = first.with_name(first.name.replace("_1.", "_2."))
        t_read, (a, b) = best_of(lambda: (read_image(first), read_image(second)), 1)
        gacn.fuse([a, b])  # warm the primitives for this size outside the timings
        t_plain, (_, d_plain) = best_of(lambda: plain_fuse(model, a, b), args.repeat)
        t_fast, res = best_of(lambda: gacn.fuse([a, b]), args.repeat)
        out = tmp / f"{first.stem}.png"
        t_write, _ = best_of(lambda: write_image(out, res.image), 1)
        t_enf = best_of(lambda: enfuse_fusion(a, b), args.repeat)[0] if has_enfuse else float("nan")
        t_ort, agree_ort = float("nan"), float("nan")
        if session is not None:
            t_ort, (_, d_ort) = best_of(lambda: ort_fuse(session, a, b), args.repeat)
            agree_ort = agreement(d_ort, d_plain)
        row = {"pair": first.stem[:-2], "read_s": t_read, "plain_s": t_plain, "fuse_s": t_fast,
               "speedup": t_plain / t_fast, "agree": agreement(gacn.fuse([a, b], refine=False).decision_map, d_plain),
               "write_s": t_write,
               "enfuse_s": t_enf, "x_enfuse": t_fast / t_enf, "ort_s": t_ort, "ort_speedup": t_plain / t_ort,
               "ort_agree": agree_ort}
        rows.append(row)
        print(f"{row['pair']:10} {t_read:6.3f} {t_plain:6.3f} {t_fast:6.3f} {row['speedup']:6.2f} "
              f"{100 * row['agree']:8.3f} {t_write:6.3f} {t_enf:7.3f} {row['x_enfuse']:8.2f} {t_ort:7.3f} "
              f"{row['ort_speedup']:6.2f} {100 * agree_ort:8.3f}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "pair"}
    pixels = 520 * 520
    floor = mac_px * pixels / rate
    print(f"{'mean':10} {mean['read_s']:6.3f} {mean['plain_s']:6.3f} {mean['fuse_s']:6.3f} {mean['speedup']:6.2f} "
          f"{100 * min(r['agree'] for r in rows):8.3f} {mean['write_s']:6.3f} {mean['enfuse_s']:7.3f} "
          f"{mean['x_enfuse']:8.2f} {mean['ort_s']:7.3f} {mean['ort_speedup']:6.2f} "
          f"{100 * min(r['ort_agree'] for r in rows):8.3f}   (agree: minimum)")
    print(f"520x520: gacn.fuse {pixels / 1e6 / mean['fuse_s']:.2f} MP/s, plain {pixels / 1e6 / mean['plain_s']:.2f} MP/s; "
          f"FLOP floor {floor:.3f} s -> share reached: gacn.fuse {floor / mean['fuse_s']:.0%}, "
          f"plain {floor / mean['plain_s']:.0%}")

    big = data / "stacks" / "microscope_v4"
    big_pair = (big / "V020.jpg", big / "V045.jpg")
    if all(p.exists() for p in big_pair):
        a, b = read_image(big_pair[0]), read_image(big_pair[1])
        gacn.fuse([a, b])
        t_plain, (_, d_plain) = best_of(lambda: plain_fuse(model, a, b), 1)
        t_fast, res = best_of(lambda: gacn.fuse([a, b]), args.repeat)
        t_enf = best_of(lambda: enfuse_fusion(a, b), args.repeat)[0] if has_enfuse else float("nan")
        mp = a.shape[0] * a.shape[1] / 1e6
        floor = mac_px * a.shape[0] * a.shape[1] / rate
        print(f"\n1600x1200 (V020+V045): plain {t_plain:.2f} s, gacn.fuse {t_fast:.2f} s (x{t_plain / t_fast:.2f}, "
              f"{mp / t_fast:.2f} MP/s, floor share {floor / t_fast:.0%}), agree "
              f"{100 * agreement(gacn.fuse([a, b], refine=False).decision_map, d_plain):.3f} %, "
              f"enfuse {t_enf:.2f} s (ours x{t_fast / t_enf:.2f})")

    print("\npeak RSS, one fusion in a fresh process (model loaded first):")
    cases = [("520x520", (lytro[0], lytro[0].with_name(lytro[0].name.replace("_1.", "_2."))))]
    if all(p.exists() for p in big_pair):
        cases.append(("1600x1200", big_pair))
    for label, (pa, pb) in cases:
        for path in ("plain fp32", "gacn.fuse"):
            r = peak_rss(path, pa, pb, args.threads)
            print(f"  {label:9} {path:10}  peak {r['peak_mb']:6.0f} MB  (after loading {r['loaded_mb']:.0f} MB; "
                  f"first call {r['first_call_s']:.2f} s)")


if __name__ == "__main__":
    main()
