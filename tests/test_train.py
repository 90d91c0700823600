"""Training: it runs, writes its checkpoints, and resumes exactly."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gacn.model.refiner import load_refiner
from gacn.training.refiner import RefinerConfig, RefinerTrainer
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


def _refiner_cfg(data: Path, out: Path, steps: int) -> RefinerConfig:
    return RefinerConfig(data=str(data), out=str(out), steps=steps, batch=2, crop=48, pool=6, val_pairs=3,
                         val_every=2)


def test_refiner_training_resumes_exactly(tmp_path: Path, fake_bsds: Path) -> None:
    straight = RefinerTrainer(_refiner_cfg(fake_bsds, tmp_path / "a", 4))
    straight.run()
    first = RefinerTrainer(_refiner_cfg(fake_bsds, tmp_path / "b", 4))
    step = first.train_step

    def step_then_interrupt() -> dict[str, float]:
        figures = step()
        if first.step == 2:
            signal.raise_signal(signal.SIGINT)
        return figures

    first.train_step = step_then_interrupt  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        first.run()
    with pytest.raises(ValueError, match="--steps 4"):
        RefinerTrainer(_refiner_cfg(fake_bsds, tmp_path / "b", 5), resume=True)
    resumed = RefinerTrainer(_refiner_cfg(fake_bsds, tmp_path / "b", 4), resume=True)
    assert resumed.step == 2
    assert torch.equal(resumed.pool, first.pool)
    resumed.run()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    out = tmp_path / "b"
    assert (out / "pool.npy").is_file() and (out / "best.safetensors").is_file()
    rows = (out / "log.csv").read_text().strip().splitlines()
    assert rows[0] == "step,elapsed_s,lr,loss,val_acc,val_acc_network" and len(rows) == 5
    load_refiner(out / "best.safetensors")


def test_train_refiner_command_refuses_to_overwrite_a_run(tmp_path: Path, fake_bsds: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "run"
    base = [sys.executable, "-m", "gacn", "train-refiner", "--data", str(fake_bsds), "--out", str(out), "--batch", "2",
            "--crop", "48", "--pool", "4", "--val-pairs", "2", "--val-every", "1"]
    first = subprocess.run([*base, "--steps", "1"], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert '"step": 1' in first.stdout
    again = subprocess.run([*base, "--steps", "2"], capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "--resume" in again.stderr


def test_refiner_fine_tuning_starts_from_the_given_weights(tmp_path: Path, fake_bsds: Path) -> None:
    import dataclasses

    from gacn.model.refiner import default_refiner_path

    cfg = dataclasses.replace(_refiner_cfg(fake_bsds, tmp_path / "ft", 1), init=str(default_refiner_path()))
    tuned = RefinerTrainer(cfg)
    shipped = load_refiner()
    for key, value in shipped.state_dict().items():
        assert torch.equal(value, tuned.model.state_dict()[key]), key
    fresh = RefinerTrainer(_refiner_cfg(fake_bsds, tmp_path / "fresh", 1))
    assert not torch.equal(fresh.model.net[0].weight, shipped.net[0].weight)


def test_train_refiner_command_refuses_missing_init_weights(tmp_path: Path, fake_bsds: Path) -> None:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "gacn", "train-refiner", "--data", str(fake_bsds), "--out",
                          str(tmp_path / "run"), "--init", str(tmp_path / "missing.safetensors")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "missing.safetensors" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "run").exists()


def test_train_refiner_command_refuses_corrupt_init_weights(tmp_path: Path, fake_bsds: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    run = subprocess.run([sys.executable, "-m", "gacn", "train-refiner", "--data", str(fake_bsds), "--out",
                          str(tmp_path / "run"), "--batch", "2", "--crop", "48", "--pool", "2", "--val-pairs", "1",
                          "--steps", "1", "--init", str(bad)], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "corrupt" in run.stderr and "Traceback" not in run.stderr
