"""Reading and writing HF-named weight dictionaries (safetensors without torch; pytorch_model.bin with it)."""

from __future__ import annotations

import logging
import os
import zipfile

import numpy as np

from realm.errors import CheckpointError

logger = logging.getLogger(__name__)

SAFETENSORS_NAME = "model.safetensors"
PYTORCH_NAME = "pytorch_model.bin"


def find_weights_file(directory: str) -> str:
    """The weights file a checkpoint directory holds; callers name it (not the directory) in load errors."""
    if not os.path.isdir(directory):
        raise CheckpointError(f"{directory}: checkpoint directory not found")
    candidates = [os.path.join(directory, name) for name in (SAFETENSORS_NAME, PYTORCH_NAME)]
    for path in candidates:
        if os.path.exists(path):
            return path
    raise CheckpointError(
        f"{candidates[0]}: weights file not found (nor {candidates[1]}); "
        "a Google TF checkpoint is read with `realm convert --from-tf`"
    )


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        raise CheckpointError(
            f"{path}: cannot read safetensors weights ({size} bytes; truncated or corrupt?): {err}"
        ) from err


def read_pytorch_bin(path: str) -> dict[str, np.ndarray]:
    """Reads a torch pickle; torch is needed only for this legacy format (convert once, then use safetensors)."""
    try:
        import torch
    except ImportError as err:
        raise CheckpointError(
            f"{path}: reading pytorch_model.bin needs torch (pip install torch), "
            "or re-save the checkpoint as model.safetensors"
        ) from err
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"{path}: cannot read PyTorch weights (truncated or corrupt?): {err}") from err
    return {
        name: tensor.detach().float().numpy() if tensor.is_floating_point() else tensor.numpy()
        for name, tensor in state.items()
    }


def read_state_dict(path_or_dir: str) -> dict[str, np.ndarray]:
    path = find_weights_file(path_or_dir) if os.path.isdir(path_or_dir) else path_or_dir
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: weights file not found")
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    return read_pytorch_bin(path)


def write_safetensors(state: dict[str, np.ndarray], path: str, metadata: dict[str, str] | None = None) -> str:
    """Atomic write (temp file + rename), so a crash never leaves a truncated weights file behind."""
    from safetensors.numpy import save_file

    tmp = f"{path}.tmp-{os.getpid()}"
    arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
    save_file(arrays, tmp, metadata={"format": "pt", **(metadata or {})})
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
