"""Resumable training of GACN on synthetic pairs made on the fly from BSDS500 photos.

Everything needed for an exact resume is checkpointed: model, optimiser, learning-rate
schedule, step, and the states of the numpy and torch random generators. A checkpoint is
written every few minutes, at the end, and on Ctrl-C; the weights with the best validation
accuracy are kept separately as safetensors.
"""

from __future__ import annotations

import csv
import json
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gacn.model import load_state, save_weights
from gacn.model.network import GACN
from gacn.training.loss import ga_loss
from gacn.training.synthesis import SynthesisConfig, load_bsds, make_batch


@dataclass
class TrainConfig:
    """Hyper-parameters and run settings of one training run."""

    data: str
    out: str
    steps: int = 3000
    batch: int = 8
    crop: int = 112
    lr: float = 1e-3
    lr_gamma: float = 0.8
    lr_every: int = 400
    val_every: int = 100
    val_pairs: int = 96
    ckpt_seconds: float = 180.0
    device: str = "cpu"
    bf16: bool = True
    channels_last: bool = False
    threads: int = 0
    seed: int = 0
    init: str | None = None
    loss: str = "ga"
    se: bool = True
    recipe: str = "ours"


#: Training losses: the method's GA loss (Dice + 1 - soft Q_G), or Dice alone (ablation).
LOSSES = ("ga", "dice")
#: Training data: our synthesis mix, or the reference recipe alone (ablation).
RECIPES = ("ours", "reference")


def synthesis_config(recipe: str, crop: int) -> SynthesisConfig:
    """The pair synthesis of a training recipe.

    ``"ours"`` is the full mix (method recipe and occlusion-correct defocus, Gaussian and disc
    blur up to 15 px, noise, offsets, scale changes); ``"reference"`` is the method's recipe
    alone: Gaussian blur of sigma 2 with the softened mask, small noise; ``"glow"`` is the full mix
    with occlusion-correct defocus only, 60 % of it a bright foreground over a dark background.
    """
    if recipe == "glow":
        return SynthesisConfig(size=crop, occlusion_prob=1.0, glow=0.6)
    if recipe == "reference":
        return SynthesisConfig(size=crop, occlusion_prob=0.0, disc_prob=0.0, gauss_sigma=(2.0, 2.0),
                               noise_std=(0.0, 0.01), scale=(256 / 481, 256 / 321), thin_prob=0.0,
                               jpeg_prob=0.0, breathing=0.0, exposure=0.0)
    return SynthesisConfig(size=crop)


LOG_FIELDS = ["step", "elapsed_s", "lr", "loss", "dice", "qg", "val_loss", "val_acc", "val_iou"]


def decision_scores(decision: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Accuracy and IoU of a decision map thresholded at 0.5 against a target map."""
    pred = decision > 0.5
    truth = target > 0.5
    acc = (pred == truth).float().mean().item()
    inter = (pred & truth).sum().item()
    union = (pred | truth).sum().item()
    return acc, (inter / union if union else 1.0)


def validation_set(data: str, n: int, size: int, seed: int = 12345) -> tuple[torch.Tensor, ...]:
    """A fixed set of ``n`` synthetic pairs from the BSDS ``val`` photos (same every run)."""
    photos = load_bsds(data, "val")
    rng = np.random.default_rng(seed)
    a, b, m = make_batch(rng, photos, n, SynthesisConfig(size=size))
    return torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(m)


@torch.inference_mode()
def evaluate(model: GACN, val: tuple[torch.Tensor, ...], device: str, chunk: int = 16) -> dict[str, float]:
    """Validation loss, decision accuracy and IoU (map after BGF) on a fixed set of pairs."""
    model.eval()
    a_all, b_all, m_all = val
    losses, decisions = [], []
    for i in range(0, len(a_all), chunk):
        a, b, m = (t[i : i + chunk].to(device) for t in (a_all, b_all, m_all))
        out = model(a, b)
        losses.append(ga_loss(out.raw_decision, m, a, b, out.fused)[0].item() * len(a))
        decisions.append(out.decision.cpu())
    acc, iou = decision_scores(torch.cat(decisions), m_all)
    return {"val_loss": sum(losses) / len(a_all), "val_acc": acc, "val_iou": iou}


class ResumableRun:
    """Checkpoints, CSV log and the interruptible training loop shared by the training runs.

    A subclass sets ``cfg`` (a dataclass with ``out``, ``steps``, ``val_every``, ``ckpt_seconds``,
    ``device``), ``out``, ``model``, ``optim``, ``sched``, ``rng``, ``step``, ``best_acc`` and
    ``elapsed``, and implements :meth:`train_step` and :meth:`validate`.
    """

    cfg: Any
    out: Path
    model: torch.nn.Module
    optim: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    rng: np.random.Generator
    step: int
    best_acc: float
    elapsed: float
    #: Columns of ``log.csv``.
    log_fields: list[str] = LOG_FIELDS

    def _load(self, path: Path) -> dict[str, Any]:
        """Restore the run from a checkpoint; returns the checkpoint."""
        state = torch.load(path, map_location=self.cfg.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.sched.load_state_dict(state["sched"])
        self.rng.bit_generator.state = state["np_rng"]
        torch.set_rng_state(state["torch_rng"])
        self.step = state["step"]
        self.best_acc = state["best_acc"]
        self.elapsed = state["elapsed"]
        return state

    def save_checkpoint(self) -> None:
        """Write ``last.pt`` atomically with everything an exact resume needs."""
        state = {
            "model": self.model.state_dict(),
            "optim": self.optim.state_dict(),
            "sched": self.sched.state_dict(),
            "np_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
            "best_acc": self.best_acc,
            "elapsed": self.elapsed,
            "config": asdict(self.cfg),
        }
        tmp = self.out / "last.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.out / "last.pt")

    def _log(self, row: dict[str, float]) -> None:
        path = self.out / "log.csv"
        new = not path.exists()
        with path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.log_fields)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in self.log_fields})

    def train_step(self) -> dict[str, float]:
        """One optimisation step; returns the logged training figures (``loss`` at least)."""
        raise NotImplementedError

    def validate(self) -> dict[str, float]:
        """Evaluate, keep the best weights, and return the scores (``val_acc`` at least)."""
        raise NotImplementedError

    def run(self) -> dict[str, float]:
        """Train up to ``cfg.steps`` steps with a progress bar; checkpoint on time, end and Ctrl-C.

        Ctrl-C finishes the current step, writes the checkpoint and raises KeyboardInterrupt.
        """
        cfg = self.cfg
        last_ckpt = time.monotonic()
        columns = [TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                   TimeElapsedColumn(), TimeRemainingColumn()]
        scores: dict[str, float] = {}
        stop = {"requested": False}

        def request_stop(signum: int, frame: object) -> None:
            stop["requested"] = True

        previous = signal.signal(signal.SIGINT, request_stop)
        with Progress(*columns) as progress:
            task = progress.add_task("train", total=cfg.steps, completed=self.step, info="")
            try:
                while self.step < cfg.steps and not stop["requested"]:
                    t0 = time.monotonic()
                    figures = self.train_step()
                    self.elapsed += time.monotonic() - t0
                    row: dict[str, float] = {"step": self.step, "elapsed_s": round(self.elapsed, 1),
                                             "lr": self.sched.get_last_lr()[0], **figures}
                    if self.step % cfg.val_every == 0 or self.step == cfg.steps:
                        scores = self.validate()
                        row.update(scores)
                    self._log(row)
                    info = (f"loss {figures['loss']:.3f} {1.0 / max(time.monotonic() - t0, 1e-9):.2f} it/s "
                            f"best acc {self.best_acc:.4f}")
                    progress.update(task, completed=self.step, info=info)
                    if time.monotonic() - last_ckpt > cfg.ckpt_seconds:
                        self.save_checkpoint()
                        last_ckpt = time.monotonic()
            finally:
                signal.signal(signal.SIGINT, previous)
                self.save_checkpoint()
        if stop["requested"]:
            raise KeyboardInterrupt
        return {"step": self.step, "best_acc": self.best_acc, **scores}


class Trainer(ResumableRun):
    """Owns the model, optimiser, schedule and data generator of one run, and their checkpoints."""

    def __init__(self, cfg: TrainConfig, resume: bool = False) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        if cfg.loss not in LOSSES or cfg.recipe not in RECIPES:
            raise ValueError(f"loss must be one of {LOSSES} and recipe one of {RECIPES}")
        self.model = GACN(se=cfg.se)
        if cfg.init:
            load_state(self.model, Path(cfg.init), "GACN network", cfg.device)
        self.model = self.model.to(cfg.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optim = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.StepLR(self.optim, cfg.lr_every, cfg.lr_gamma)
        self.rng = np.random.default_rng(cfg.seed)
        self.step = 0
        self.best_acc = -1.0
        self.elapsed = 0.0
        self.photos = load_bsds(cfg.data, "train")
        self.val = validation_set(cfg.data, cfg.val_pairs, cfg.crop)
        self.synth = synthesis_config(cfg.recipe, cfg.crop)
        if resume and (self.out / "last.pt").exists():
            self._load(self.out / "last.pt")

    def train_step(self) -> dict[str, float]:
        """One optimisation step on a fresh synthetic batch; returns its loss, Dice and soft Q_G."""
        cfg = self.cfg
        self.model.train()
        a, b, m = (torch.from_numpy(x).to(cfg.device) for x in make_batch(self.rng, self.photos, cfg.batch, self.synth))
        if cfg.channels_last:
            a, b = a.contiguous(memory_format=torch.channels_last), b.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=torch.device(cfg.device).type, dtype=torch.bfloat16, enabled=cfg.bf16):
            out = self.model(a, b)
        loss, dice, qg = ga_loss(out.raw_decision, m, a, b, out.fused)
        if cfg.loss == "dice":
            loss = dice
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        self.sched.step()
        self.step += 1
        return {"loss": loss.item(), "dice": dice.item(), "qg": qg.item()}

    def validate(self) -> dict[str, float]:
        """Evaluate, keep the best weights, and return the scores."""
        scores = evaluate(self.model, self.val, self.cfg.device)
        if scores["val_acc"] > self.best_acc:
            self.best_acc = scores["val_acc"]
            save_weights(self.model, self.out / "best.safetensors")
            (self.out / "best.json").write_text(json.dumps({"step": self.step, **scores}, indent=2))
        return scores
