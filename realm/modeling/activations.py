"""Activation lookup by the names Hugging Face configs use, so a converted checkpoint computes the same function."""

from __future__ import annotations

from collections.abc import Callable

import keras


def _gelu_exact(x):
    return keras.activations.gelu(x, approximate=False)


def _gelu_tanh(x):
    # HF "gelu_new" / "gelu_pytorch_tanh": 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))), BERT's original GELU.
    return keras.activations.gelu(x, approximate=True)


_ACTIVATIONS: dict[str, Callable] = {
    "gelu": _gelu_exact,
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "relu": keras.activations.relu,
    "tanh": keras.activations.tanh,
}


def get_activation(name: str) -> Callable:
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(_ACTIVATIONS)}") from None
