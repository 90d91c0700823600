"""The GACN network and its weights: loading the shipped model or a user's file."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gacn.io import InputError
from gacn.model.network import GACN, count_parameters

__all__ = ["GACN", "count_parameters", "default_weights_path", "load_model", "save_weights"]

WEIGHTS_NAME = "gacn.safetensors"


def default_weights_path() -> Path:
    """Path of the weights shipped inside the package (found in an installed wheel too)."""
    return Path(str(resources.files("gacn.model").joinpath("weights", WEIGHTS_NAME)))


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Save a module's state (parameters and BatchNorm statistics) as safetensors, atomically."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(path)


def load_state(model: torch.nn.Module, path: Path, what: str, device: str) -> None:
    """Fill ``model`` with the safetensors weights at ``path``, or say in one line why they cannot be used.

    Raises
    ------
    InputError
        If the file is missing, corrupt, or does not fit ``model`` (``what`` names it in the
        message), or ``device`` is a CUDA device that is not available.
    """
    if not path.is_file():
        raise InputError(f"{what} weights file not found: {path}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"corrupt or unreadable {what} weights file {path}: {exc}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise InputError(f"weights file {path} does not match the {what}") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda requested but no CUDA device is available")


def load_model(weights: str | os.PathLike | None = None, device: str = "cpu") -> GACN:
    """Build GACN in eval mode, channels-last, with the given (or the shipped) weights on ``device``.

    Raises
    ------
    InputError
        If the weights file is missing, corrupt, or does not fit the network, or the device
        is not available.
    """
    model = GACN()
    load_state(model, Path(weights) if weights is not None else default_weights_path(), "GACN network", device)
    # channels_last: about 1.4x faster convolutions on CPU, decision maps agree on >= 99.99 % of pixels
    return model.to(device, memory_format=torch.channels_last).eval()
