"""Plot training curves (``log.csv`` of ``gacn train`` runs) into one PNG.

Left: training loss (moving average over 50 steps); right: validation decision accuracy.

Usage: python benchmarks/plot_training.py NAME=RUN_DIR [NAME=RUN_DIR ...] [-o docs/figures/training_curves.png]
       [--loss-label "GA loss"]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def read_log(path: Path) -> dict[str, np.ndarray]:
    """Columns of a training log; validation columns keep only the rows that have them."""
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    steps = np.array([float(r["step"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    val = [(float(r["step"]), float(r["val_acc"])) for r in rows if r["val_acc"]]
    return {"step": steps, "loss": loss, "val_step": np.array([v[0] for v in val]),
            "val_acc": np.array([v[1] for v in val])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    parser.add_argument("-o", "--out", default="docs/figures/training_curves.png")
    parser.add_argument("--loss-label", default="GA loss", help="what the runs' loss is")
    args = parser.parse_args()
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6))
    for spec in args.runs:
        name, run = spec.split("=", 1)
        log = read_log(Path(run) / "log.csv")
        k = min(50, len(log["loss"]))
        smooth = np.convolve(log["loss"], np.ones(k) / k, mode="valid")
        ax_loss.plot(log["step"][k - 1:], smooth, label=name)
        ax_val.plot(log["val_step"], log["val_acc"], marker=".", label=name)
    ax_loss.set(xlabel="step", ylabel=f"{args.loss_label} (50-step mean)", title="training loss")
    ax_val.set(xlabel="step", ylabel="decision accuracy", title="validation (BSDS val pairs)", ylim=(0.8, 0.95))
    ax_val.legend(fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
