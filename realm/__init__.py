"""REALM in Keras 3: models, tokenizer, retrieval, checkpoints and data utilities (no KFP imports).

`realm.from_pretrained(path)` returns the right model class for an HF REALM checkpoint directory or one
written by this project; `realm.save_pretrained(model, path)` writes the same format.
"""

from __future__ import annotations

__version__ = "0.1.0"


def from_pretrained(path: str, architecture: str | None = None):
    from realm.pretrained import from_pretrained as _from_pretrained

    return _from_pretrained(path, architecture)


def save_pretrained(model, path: str, vocab_file: str | None = None) -> str:
    from realm.pretrained import save_pretrained as _save_pretrained

    return _save_pretrained(model, path, vocab_file)
