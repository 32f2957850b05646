"""Assigning an HF-named state dict to a built Keras REALM model, and extracting one from it."""

from __future__ import annotations

import logging

import numpy as np

from realm.checkpoints.weight_map import WeightSpec, is_ignorable, model_specs
from realm.errors import CheckpointError

logger = logging.getLogger(__name__)


def _to_keras(spec: WeightSpec, array: np.ndarray, source: str) -> np.ndarray:
    if tuple(array.shape) != spec.hf_shape:
        raise CheckpointError(
            f"{source}: tensor {spec.hf_name} has shape {tuple(array.shape)}, the model expects "
            f"{spec.hf_shape} (config and weights disagree?)"
        )
    if spec.transpose:
        array = array.T
    return np.asarray(array, dtype=np.float32).reshape(tuple(spec.variable.shape))


def assign_state_dict(
    specs: list[WeightSpec],
    state: dict[str, np.ndarray],
    source: str,
    *,
    allow_missing: tuple[str, ...] = (),
) -> list[str]:
    """Assign every spec from `state`; returns the names of tensors in `state` that nothing used.

    `source` is the weights file the tensors came from (not its directory): every error names it, so a user
    with several candidate files sees which one disagrees with the config. A missing tensor or a shape
    mismatch is raised before anything is assigned, so a failed load never leaves a model half-overwritten.
    """
    missing = [s.hf_name for s in specs if s.hf_name not in state and not s.hf_name.startswith(allow_missing)]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CheckpointError(f"{source}: missing {len(missing)} tensor(s) the model needs: {shown}")
    values = [(s, _to_keras(s, state[s.hf_name], source)) for s in specs if s.hf_name in state]
    for spec, value in values:
        spec.variable.assign(value)
    used = {s.hf_name for s in specs}
    return sorted(name for name in state if name not in used and not is_ignorable(name))


def load_state_dict(model, state: dict[str, np.ndarray], source: str) -> list[str]:
    unused = assign_state_dict(model_specs(model), state, source)
    if unused:
        logger.info("%s: %d tensor(s) not used by %s (e.g. %s)", source, len(unused), type(model).__name__, unused[0])
    return unused


def extract_state_dict(model) -> dict[str, np.ndarray]:
    """HF-named, HF-shaped copy of the model's weights (what `save_pretrained` writes)."""
    state: dict[str, np.ndarray] = {}
    for spec in model_specs(model):
        value = np.asarray(spec.variable.numpy(), dtype=np.float32)
        if spec.transpose:
            value = value.reshape(spec.hf_shape[::-1]).T
        state[spec.hf_name] = np.ascontiguousarray(value.reshape(spec.hf_shape))
    return state
