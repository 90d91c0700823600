"""Resumable training of the boundary refiner (:mod:`gacn.model.refiner`) behind a frozen GACN.

The refiner learns from what the network gets wrong, so its examples are the network's own maps:
a pool of synthetic pairs from the BSDS500 ``train`` photos (a third each by the method's recipe,
our full synthesis mix, and occlusion scenes with glowing bright foregrounds), each with the frozen network's map after the boundary guided filter, is made
once at the start and kept in the run folder (``pool.npy``), so a resumed run trains on the same
pool. Each step draws a batch from the pool, rotates it by a multiple of 90 degrees, and minimises
the binary cross-entropy against the true map over the band that the refiner re-decides; the
learning rate follows a one-cycle schedule over the run's planned steps, so a run is resumed with
the steps it was started with.
Validation scores the refined map on held-out pairs from the ``val`` photos, made the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import track

from gacn.fusion.pair import fuse_pair
from gacn.model import load_model, load_state, save_weights
from gacn.model.refiner import BoundaryRefiner, refiner_band
from gacn.training.synthesis import Photo, load_bsds, make_pair
from gacn.training.train import ResumableRun, synthesis_config

#: The refiner learns from pairs of these recipes (:func:`gacn.training.train.synthesis_config`) in
#: turn: the method's, our full mix, and occlusion scenes where bright defocused foregrounds glow.
REFINER_RECIPES = ("reference", "ours", "glow")
#: Columns of the refiner run's ``log.csv``.
REFINER_LOG_FIELDS = ["step", "elapsed_s", "lr", "loss", "val_acc", "val_acc_network"]


@dataclass
class RefinerConfig:
    """Hyper-parameters and run settings of one refiner training run."""

    data: str
    out: str
    steps: int = 3000
    batch: int = 16
    crop: int = 128
    lr: float = 2e-3
    pool: int = 6000
    val_pairs: int = 200
    val_every: int = 250
    ckpt_seconds: float = 180.0
    device: str = "cpu"
    threads: int = 0
    seed: int = 0
    gacn_weights: str | None = None
    init: str | None = None


def network_pairs(photos: list[Photo], n: int, crop: int, seed: int, weights: str | None, device: str,
                  label: str) -> np.ndarray:
    """``n`` synthetic pairs, by the recipes of :data:`REFINER_RECIPES` in turn, with the network's map.

    Returns a float16 array of shape (n, 4, crop, crop): source 1, source 2, true map, the
    network's map after the boundary guided filter.
    """
    model = load_model(weights, device)
    recipes = tuple(synthesis_config(name, crop) for name in REFINER_RECIPES)
    rng = np.random.default_rng(seed)
    out = np.empty((n, 4, crop, crop), np.float16)
    for i in track(range(n), description=label, transient=True):
        a, b, m = make_pair(rng, photos, recipes[i % len(recipes)])
        d = fuse_pair(a, b, model=model, device=device, refine=False).decision_map
        out[i] = np.stack([a, b, m, d])
    return out


class RefinerTrainer(ResumableRun):
    """Owns the refiner, its optimiser, schedule, pool of examples and checkpoints."""

    log_fields = REFINER_LOG_FIELDS

    def __init__(self, cfg: RefinerConfig, resume: bool = False) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model = BoundaryRefiner().to(cfg.device)
        if cfg.init:
            load_state(self.model, Path(cfg.init), "boundary refiner", cfg.device)
        self.optim = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.optim, cfg.lr, total_steps=cfg.steps, pct_start=0.05)
        self.rng = np.random.default_rng(cfg.seed)
        self.step = 0
        self.best_acc = -1.0
        self.elapsed = 0.0
        pool_path = self.out / "pool.npy"
        if pool_path.exists():
            pool = np.load(pool_path)
        else:
            pool = network_pairs(load_bsds(cfg.data, "train"), cfg.pool, cfg.crop, cfg.seed, cfg.gacn_weights,
                                 cfg.device, "making the pool")
            np.save(self.out / "pool.npy.tmp.npy", pool)
            (self.out / "pool.npy.tmp.npy").replace(pool_path)
        self.pool = torch.from_numpy(pool)
        self.val = torch.from_numpy(network_pairs(load_bsds(cfg.data, "val"), cfg.val_pairs, cfg.crop, 12345,
                                                  cfg.gacn_weights, cfg.device, "making the validation set"))
        if resume and (self.out / "last.pt").exists():
            planned = self._load(self.out / "last.pt")["config"]["steps"]
            if planned != cfg.steps:
                raise ValueError(f"the learning-rate schedule of {self.out} was set for {planned} steps: "
                                 f"resume it with --steps {planned}")

    def train_step(self) -> dict[str, float]:
        """One optimisation step on a batch from the pool; returns its loss."""
        self.model.train()
        index = torch.from_numpy(self.rng.integers(0, len(self.pool), self.cfg.batch))
        x = torch.rot90(self.pool[index].float(), int(self.rng.integers(4)), (2, 3)).to(self.cfg.device)
        a, b, m, d = x[:, 0:1], x[:, 1:2], x[:, 2:3], x[:, 3:4]
        band = refiner_band(d).float()
        bce = F.binary_cross_entropy_with_logits(self.model.logits(d, a, b), m, reduction="none")
        loss = (bce * band).sum() / band.sum().clamp_min(1.0)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        self.sched.step()
        self.step += 1
        return {"loss": loss.item()}

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        """Decision accuracy of the refined and of the network's map on the held-out pairs; keeps
        the best weights."""
        self.model.eval()
        right = [0.0, 0.0]
        for chunk in self.val.split(50):
            x = chunk.float().to(self.cfg.device)
            a, b, m, d = x[:, 0:1], x[:, 1:2], x[:, 2:3], x[:, 3:4]
            for k, out in enumerate((self.model(d, a, b), d)):
                right[k] += ((out > 0.5) == (m > 0.5)).float().sum().item()
        total = self.val[:, 0].numel()
        scores = {"val_acc": right[0] / total, "val_acc_network": right[1] / total}
        if scores["val_acc"] > self.best_acc:
            self.best_acc = scores["val_acc"]
            save_weights(self.model, self.out / "best.safetensors")
            (self.out / "best.json").write_text(json.dumps({"step": self.step, **scores}, indent=2))
        return scores
