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


def test_train_command_runs_and_resumes(tmp_path: Path, fake_bsds: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "run"
    base = [sys.executable, "-m", "gacn", "train", "--data", str(fake_bsds), "--out", str(out), "--batch", "2",
            "--crop", "48", "--val-every", "1", "--val-pairs", "4", "--fp32"]
    first = subprocess.run([*base, "--steps", "1"], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([*base, "--steps", "2"], capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "--resume" in again.stderr
    resumed = subprocess.run([*base, "--steps", "2", "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert '"step": 2' in resumed.stdout
    assert (out / "log.csv").read_text().count("\n") == 3
