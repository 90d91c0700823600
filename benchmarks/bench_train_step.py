"""Time one CPU training step of GACN under each speed setting (bf16 autocast, channels_last).

Prints seconds per step and the ratio to the plain fp32 / contiguous step measured in the same run.
Usage: python benchmarks/bench_train_step.py [--data ../shared/data] [--steps 6] [--batch 8] [--crop 112]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from gacn.training.train import TrainConfig, Trainer


def time_steps(trainer: Trainer, steps: int) -> float:
    trainer.train_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=112)
    args = parser.parse_args()
    print(f"threads {torch.get_num_threads()}, batch {args.batch}, crop {args.crop}")
    base = None
    for bf16 in (False, True):
        for channels_last in (False, True):
            with tempfile.TemporaryDirectory() as out:
                cfg = TrainConfig(data=args.data, out=out, batch=args.batch, crop=args.crop, bf16=bf16,
                                  channels_last=channels_last, val_pairs=4)
                sec = time_steps(Trainer(cfg), args.steps)
            base = base or sec
            print(f"bf16={bf16!s:5} channels_last={channels_last!s:5} {sec:.3f} s/step  ratio {sec / base:.2f}")


if __name__ == "__main__":
    main()
