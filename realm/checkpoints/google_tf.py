"""Reading Google's original REALM/ORQA TensorFlow checkpoints (the `language/realm` and `language/orqa` code).

Their variable names are translated to HF tensor names (the same translation HF's
`load_tf_weights_in_realm` performs) and then loaded through the one HF weight map.
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np

from realm.errors import CheckpointError

logger = logging.getLogger(__name__)

_OPTIMIZER_PARTS = {
    "adam_v",
    "adam_m",
    "AdamWeightDecayOptimizer",
    "AdamWeightDecayOptimizer_1",
    "global_step",
}

# (prefix in the TF name, replacement before the HF prefix of the target sub-model)
_READER_RULES = (
    ("reader/module/bert/", "realm/"),
    ("reader/module/cls/", "cls/"),
    ("reader/dense/", "qa_outputs/dense_intermediate/"),
    ("reader/dense_1/", "qa_outputs/dense_output/"),
    ("reader/layer_normalization/", "qa_outputs/layer_normalization/"),
)
_EMBEDDER_RULES = (
    ("module/module/module/module/bert/", "realm/"),
    ("module/module/module/module/cls/predictions/", "cls/predictions/"),
    ("module/module/module/LayerNorm/", "cls/LayerNorm/"),
    ("module/module/module/dense/", "cls/dense/"),
    ("module/module/module/bert/", "realm/"),
    ("module/module/module/cls/predictions/", "cls/predictions/"),
    ("module/module/LayerNorm/", "cls/LayerNorm/"),
    ("module/module/dense/", "cls/dense/"),
    ("module/module/bert/", "realm/"),
)


def _apply_rules(name: str, rules, target_prefix: str) -> str | None:
    for old, new in rules:
        if name.startswith(old):
            return target_prefix + new + name[len(old) :]
    return None


def tf_name_to_hf_path(name: str, architecture: str) -> str | None:
    """Google TF variable name -> HF-style slash path for `architecture`, or None if it does not belong."""
    if _OPTIMIZER_PARTS & set(name.split("/")):
        return None
    if name == "block_emb":
        return "block_emb" if architecture == "RealmForOpenQA" else None
    if architecture == "RealmReader":
        return _apply_rules(name, _READER_RULES, "") if name.startswith("reader/") else None
    if architecture == "RealmForOpenQA":
        if name.startswith("reader/"):
            return _apply_rules(name, _READER_RULES, "reader/")
        if name.startswith(("bert/", "cls/")):  # an encoder checkpoint initialising the reader
            return "reader/" + ("realm/" + name[5:] if name.startswith("bert/") else name)
        return _apply_rules(name, _EMBEDDER_RULES, "embedder/")
    if architecture == "RealmKnowledgeAugEncoder":
        if name.startswith("bert/"):
            return "realm/" + name[5:]
        return name if name.startswith("cls/") else None
    if architecture in ("RealmEmbedder", "RealmScorer"):
        prefix = "" if architecture == "RealmEmbedder" else "embedder/"
        if name.startswith("bert/"):
            return prefix + "realm/" + name[5:]
        return _apply_rules(name, _EMBEDDER_RULES, prefix)
    raise CheckpointError(f"no TF checkpoint mapping for architecture {architecture!r}")


def hf_name_from_path(path: str) -> tuple[str, bool]:
    """Slash path -> dotted HF name; also whether the TF array is a kernel (stored [in, out], to transpose)."""
    parts = []
    for part in path.split("/"):
        match = re.fullmatch(r"([A-Za-z]+)_(\d+)", part)
        if match and match.group(1) == "layer":
            parts += [match.group(1), match.group(2)]
        else:
            parts.append(part)
    last = parts[-1]
    is_kernel = last == "kernel"
    if last in ("kernel", "gamma"):
        parts[-1] = "weight"
    elif last in ("beta", "output_bias"):
        parts[-1] = "bias"
    elif last.endswith("_embeddings"):
        parts.append("weight")
    return ".".join(parts), is_kernel


def resolve_tf_checkpoint(path: str) -> str:
    """The checkpoint prefix that `path` (a prefix, or a directory holding a `checkpoint` index) names; load
    errors name this prefix, the files actually read."""
    import tensorflow as tf

    if not os.path.isdir(path):
        return path
    prefix = tf.train.latest_checkpoint(path)
    if prefix is None:
        raise CheckpointError(f"{path}: no TensorFlow checkpoint found (no `checkpoint` index file)")
    return prefix


def read_tf_checkpoint(path: str, architecture: str) -> dict[str, np.ndarray]:
    """All of a TF checkpoint's model variables for `architecture`, HF-named and in torch layout."""
    import tensorflow as tf

    prefix = resolve_tf_checkpoint(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        variables = reader.get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"{prefix}: cannot read TensorFlow checkpoint: {err}") from err
    state: dict[str, np.ndarray] = {}
    for name in sorted(variables):
        mapped = tf_name_to_hf_path(name, architecture)
        if mapped is None:
            continue
        hf_name, is_kernel = hf_name_from_path(mapped)
        try:
            array = reader.get_tensor(name)
        except tf.errors.OpError as err:
            raise CheckpointError(f"{prefix}: cannot read variable {name} (truncated data file?): {err}") from err
        state[hf_name] = np.transpose(array) if is_kernel else array
    if not state:
        raise CheckpointError(f"{prefix}: no variables of a {architecture} in this TensorFlow checkpoint")
    logger.info("read %d variables for %s from %s", len(state), architecture, path)
    return state
