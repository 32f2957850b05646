"""Any warm-start checkpoint a user can point a run at, turned into one local BERT directory.

REALM starts every tower from BERT. A cluster user has the weights in one of a few shapes: a Hugging Face BERT
directory, Google's original BERT-base TF checkpoint (`bert_model.ckpt` + `bert_config.json`), or one of Google's
REALM/ORQA TF checkpoints (an ICT embedder or a pre-trained encoder, whose variables are `module/.../bert/...`);
locally or on `gs://`. Training code should not care which: `resolve_init_checkpoint` copies remote files
locally and converts through the existing TF reader (realm.checkpoints.google_tf) into a HF-layout BERT directory
(config.json, model.safetensors, vocab.txt) that `warm_start_from_bert` loads, failing with a message that says
what was expected before any training starts.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil

from realm.config import BERT_FIELDS
from realm.errors import CheckpointError

logger = logging.getLogger(__name__)

CONFIG_NAMES = ("bert_config.json", "config.json")
ACCEPTED = (
    "a Hugging Face BERT directory (config.json + model.safetensors or pytorch_model.bin), or a Google BERT-base or "
    "REALM/ORQA TensorFlow checkpoint (a prefix such as .../bert_model.ckpt, a directory with a `checkpoint` file, "
    "or a TF Hub module directory with variables/), local or gs://"
)


def is_remote(path: str) -> bool:
    return "://" in path


def _copy_remote(uri: str, workdir: str) -> str:
    """Copy a remote directory, or a checkpoint prefix with its shards and the config/vocab beside it, locally."""
    import tensorflow as tf

    local_root = os.path.join(workdir, "remote")
    os.makedirs(local_root, exist_ok=True)
    uri = uri.rstrip("/")
    try:
        if tf.io.gfile.isdir(uri):
            for directory, _, files in tf.io.gfile.walk(uri):
                relative = os.path.relpath(directory, uri) if directory != uri else ""
                os.makedirs(os.path.join(local_root, relative), exist_ok=True)
                for name in files:
                    tf.io.gfile.copy(f"{directory}/{name}", os.path.join(local_root, relative, name), overwrite=True)
            logger.info("copied %s to %s", uri, local_root)
            return local_root
        parent, prefix = uri.rsplit("/", 1)
        wanted = [f for f in tf.io.gfile.listdir(parent) if f.startswith(prefix) or f in (*CONFIG_NAMES, "vocab.txt")]
    except tf.errors.OpError as err:
        raise CheckpointError(f"{uri}: cannot read the checkpoint ({err.message})") from None
    if not any(f.startswith(prefix) for f in wanted):
        raise CheckpointError(f"{uri}: no such checkpoint; expected {ACCEPTED}")
    for name in wanted:
        tf.io.gfile.copy(f"{parent}/{name}", os.path.join(local_root, name), overwrite=True)
    logger.info("copied %d files of %s to %s", len(wanted), uri, local_root)
    return os.path.join(local_root, prefix)


def _tf_checkpoint_prefix(path: str) -> str | None:
    """The TF checkpoint prefix `path` names (a prefix, a directory with a `checkpoint` index, or a TF Hub module
    or SavedModel directory), or None when it is none of those."""
    if os.path.exists(path + ".index"):
        return path
    if os.path.isdir(path):
        variables = os.path.join(path, "variables", "variables")
        if os.path.exists(variables + ".index"):
            return variables
        if os.path.exists(os.path.join(path, "checkpoint")):
            from realm.checkpoints.google_tf import resolve_tf_checkpoint

            return resolve_tf_checkpoint(path)
        indexes = sorted(f for f in os.listdir(path) if f.endswith(".index"))
        if len(indexes) == 1:
            return os.path.join(path, indexes[0][: -len(".index")])
    return None


def _beside(prefix: str, names: tuple[str, ...]) -> str | None:
    """A file named one of `names` next to the checkpoint, one level up, or in a TF Hub module's assets/."""
    here = os.path.dirname(prefix)
    for directory in (here, os.path.join(here, "assets"), os.path.dirname(here), os.path.join(here, "..", "assets")):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.exists(path):
                return os.path.normpath(path)
    return None


def _infer_bert_config(state: dict, source: str) -> dict:
    """BERT sizes from the weights themselves, for checkpoints shipped without a config (REALM's TF Hub modules).
    Heads cannot be seen in the weights: BERT's 64-wide heads are assumed, and said."""
    try:
        vocab_size, hidden = state["realm.embeddings.word_embeddings.weight"].shape
        positions = state["realm.embeddings.position_embeddings.weight"].shape[0]
        types = state["realm.embeddings.token_type_embeddings.weight"].shape[0]
        intermediate = state["realm.encoder.layer.0.intermediate.dense.weight"].shape[0]
    except KeyError as missing:
        raise CheckpointError(f"{source}: not a BERT checkpoint (no {missing.args[0]}); expected {ACCEPTED}") from None
    layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"realm\.encoder\.layer\.(\d+)\.", k)))
    heads = max(1, hidden // 64)
    logger.warning("%s: no bert_config.json beside it; assuming %d attention heads of 64", source, heads)
    return dict(
        model_type="bert",
        vocab_size=int(vocab_size),
        hidden_size=int(hidden),
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=int(intermediate),
        hidden_act="gelu",
        max_position_embeddings=int(positions),
        type_vocab_size=int(types),
    )


def _convert_tf(prefix: str, out: str) -> str:
    """A Google BERT or REALM/ORQA TF checkpoint -> a HF-layout BERT directory."""
    import tensorflow as tf

    from realm.checkpoints.google_tf import read_tf_checkpoint
    from realm.checkpoints.state_dict import write_safetensors
    from realm.resources import default_vocab_file

    try:
        names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"{prefix}: cannot read TensorFlow checkpoint: {err}") from None
    # BERT-base and REALM's encoder name their variables bert/...; ORQA/REALM embedders module/.../bert/...
    architecture = "RealmKnowledgeAugEncoder" if "bert/embeddings/word_embeddings" in names else "RealmEmbedder"
    state = {k: v for k, v in read_tf_checkpoint(prefix, architecture).items() if k.startswith(("realm.", "cls."))}
    config_file = _beside(prefix, CONFIG_NAMES)
    if config_file:
        with open(config_file, encoding="utf-8") as f:
            given = json.load(f)
        config = {"model_type": "bert", **{k: given[k] for k in BERT_FIELDS if k in given}}
    else:
        config = _infer_bert_config(state, prefix)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    write_safetensors(state, os.path.join(out, "model.safetensors"), metadata={"source": prefix})
    shutil.copy(_beside(prefix, ("vocab.txt",)) or default_vocab_file(), os.path.join(out, "vocab.txt"))
    logger.info("converted the %s TF checkpoint %s (%d tensors) to %s", architecture, prefix, len(state), out)
    return out


def _check_bert_dir(path: str) -> str:
    from realm.checkpoints.state_dict import find_weights_file

    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        model_type = json.load(f).get("model_type", "bert")
    if model_type != "bert":
        raise CheckpointError(
            f"{path}: a {model_type!r} checkpoint; a warm start takes {ACCEPTED} (convert a Hugging Face REALM "
            "checkpoint's tower with `realm convert`, then pass its embedder as --init-embedder)"
        )
    find_weights_file(path)
    return path


def resolve_init_checkpoint(path: str, workdir: str) -> str:
    """A local HF-layout BERT directory holding `path`'s weights (`path` itself when it already is one).

    `workdir` receives remote copies and conversions; keep it for as long as the directory is used.
    """
    if not path:
        raise CheckpointError(f"no checkpoint given; expected {ACCEPTED}")
    local = _copy_remote(path, workdir) if is_remote(path) else path
    prefix = _tf_checkpoint_prefix(local)
    if prefix is None and os.path.isdir(local) and os.path.exists(os.path.join(local, "config.json")):
        return _check_bert_dir(local)
    if prefix is None:
        raise CheckpointError(f"{path}: not a checkpoint this project reads; expected {ACCEPTED}")
    return _convert_tf(prefix, os.path.join(workdir, "bert"))
