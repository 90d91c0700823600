"""Training: it runs, writes its checkpoints, and resumes exactly."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from gacn.training.train import TrainConfig, Trainer


def _cfg(data: Path, out: Path, steps: int) -> TrainConfig:
    return TrainConfig(data=str(data), out=str(out), steps=steps, batch=2, crop=48, val_every=2, val_pairs=2,
                       bf16=False, lr_every=2)


def test_resume_is_exact(tmp_path: Path, fake_bsds: Path) -> None:
    straight = Trainer(_cfg(fake_bsds, tmp_path / "a", 4))
    straight.run()
    first = Trainer(_cfg(fake_bsds, tmp_path / "b", 2))
    first.run()
    resumed = Trainer(_cfg(fake_bsds, tmp_path / "b", 4), resume=True)
    assert resumed.step == 2
    resumed.run()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert resumed.sched.get_last_lr() == straight.sched.get_last_lr()
    out = tmp_path / "b"
    assert (out / "last.pt").is_file() and (out / "log.csv").is_file()
    weights = load_file(str(out / "best.safetensors"))
    assert "features.blocks.0.0.0.weight" in weights
    rows = (out / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 5
