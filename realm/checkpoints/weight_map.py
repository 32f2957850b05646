"""Which Hugging Face tensor name feeds which Keras variable, for every REALM model class.

HF's state-dict names are the lingua franca: HF checkpoints load through this table directly, Google's TF
checkpoints are renamed to HF names first (`google_tf.py`), plain BERT checkpoints are prefixed (`bert.py`),
and this project's own `save_pretrained` writes HF names too, so every format meets in one place.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from realm.modeling.layers.heads import MaskedLMHead, RetrieverProjection, SpanScorer
from realm.modeling.networks.bert_encoder import BertEncoder


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """One tensor: its HF name and shape, the Keras variable, and whether HF stores it transposed.

    `transpose` marks torch `nn.Linear` weights, stored `[out, in]`; Keras kernels are `[in..., out...]`
    (with attention kernels split into heads), so conversion is transpose-then-reshape.
    """

    hf_name: str
    variable: keras.Variable
    hf_shape: tuple[int, ...]
    transpose: bool = False


def _linear(prefix: str, dense, in_dims: int = 1) -> list[WeightSpec]:
    kernel_shape = tuple(dense.kernel.shape)
    fan_in = math.prod(kernel_shape[:in_dims])
    fan_out = math.prod(kernel_shape[in_dims:])
    return [
        WeightSpec(f"{prefix}.weight", dense.kernel, (fan_out, fan_in), transpose=True),
        WeightSpec(f"{prefix}.bias", dense.bias, (fan_out,)),
    ]


def _layer_norm(prefix: str, layer: keras.layers.LayerNormalization) -> list[WeightSpec]:
    size = int(layer.gamma.shape[0])
    return [
        WeightSpec(f"{prefix}.weight", layer.gamma, (size,)),
        WeightSpec(f"{prefix}.bias", layer.beta, (size,)),
    ]


def _embedding(name: str, layer: keras.layers.Embedding) -> WeightSpec:
    return WeightSpec(name, layer.embeddings, tuple(layer.embeddings.shape))


def bert_specs(bert: BertEncoder, prefix: str) -> list[WeightSpec]:
    """HF `BertModel` / `RealmBertModel` names (`embeddings.*`, `encoder.layer.N.*`, `pooler.dense.*`)."""
    emb = bert.embeddings
    specs = [
        _embedding(f"{prefix}embeddings.word_embeddings.weight", emb.word_embeddings),
        _embedding(f"{prefix}embeddings.position_embeddings.weight", emb.position_embeddings),
        _embedding(f"{prefix}embeddings.token_type_embeddings.weight", emb.token_type_embeddings),
        *_layer_norm(f"{prefix}embeddings.LayerNorm", emb.layer_norm),
    ]
    for i, block in enumerate(bert.blocks):
        p = f"{prefix}encoder.layer.{i}."
        attention = block.attention
        specs += _linear(p + "attention.self.query", attention.query_dense)
        specs += _linear(p + "attention.self.key", attention.key_dense)
        specs += _linear(p + "attention.self.value", attention.value_dense)
        specs += _linear(p + "attention.output.dense", attention.output_dense, in_dims=2)
        specs += _layer_norm(p + "attention.output.LayerNorm", block.attention_layer_norm)
        specs += _linear(p + "intermediate.dense", block.intermediate_dense)
        specs += _linear(p + "output.dense", block.output_dense)
        specs += _layer_norm(p + "output.LayerNorm", block.output_layer_norm)
    specs += _linear(f"{prefix}pooler.dense", bert.pooler)
    return specs


def projection_specs(projection: RetrieverProjection, prefix: str) -> list[WeightSpec]:
    return _linear(f"{prefix}dense", projection.dense) + _layer_norm(f"{prefix}LayerNorm", projection.layer_norm)


def mlm_head_specs(head: MaskedLMHead, prefix: str) -> list[WeightSpec]:
    size = int(head.output_bias.shape[0])
    return [
        *_linear(f"{prefix}transform.dense", head.transform_dense),
        *_layer_norm(f"{prefix}transform.LayerNorm", head.transform_layer_norm),
        WeightSpec(f"{prefix}bias", head.output_bias, (size,)),
    ]


def span_scorer_specs(scorer: SpanScorer, prefix: str) -> list[WeightSpec]:
    return [
        *_linear(f"{prefix}dense_intermediate", scorer.dense_intermediate),
        *_linear(f"{prefix}dense_output", scorer.dense_output),
        *_layer_norm(f"{prefix}layer_normalization", scorer.layer_norm),
    ]


# Tensors HF checkpoints carry that have no Keras counterpart: buffers, tied copies, heads a class ignores.
def is_ignorable(hf_name: str) -> bool:
    return (
        hf_name.endswith("position_ids")
        or hf_name.endswith("cls.predictions.decoder.weight")
        or hf_name.endswith("cls.predictions.decoder.bias")
    )


def model_specs(model) -> list[WeightSpec]:
    """The full table for one of the five REALM model classes (built models only)."""
    from realm.modeling.models import (
        RealmEmbedder,
        RealmForOpenQA,
        RealmKnowledgeAugEncoder,
        RealmReader,
        RealmScorer,
    )

    def embedder(m: RealmEmbedder, prefix: str) -> list[WeightSpec]:
        return bert_specs(m.bert, prefix + "realm.") + projection_specs(m.projection, prefix + "cls.")

    def reader(m: RealmReader, prefix: str) -> list[WeightSpec]:
        return (
            bert_specs(m.bert, prefix + "realm.")
            + mlm_head_specs(m.mlm_head, prefix + "cls.predictions.")
            + span_scorer_specs(m.span_scorer, prefix + "qa_outputs.")
        )

    if isinstance(model, RealmEmbedder):
        return embedder(model, "")
    if isinstance(model, RealmScorer):
        specs = embedder(model.embedder, "embedder.")
        if not model.share_query_embedder:
            specs += embedder(model.query_embedder, "query_embedder.")
        return specs
    if isinstance(model, RealmKnowledgeAugEncoder):
        return bert_specs(model.bert, "realm.") + mlm_head_specs(model.mlm_head, "cls.predictions.")
    if isinstance(model, RealmReader):
        return reader(model, "")
    if isinstance(model, RealmForOpenQA):
        return (
            embedder(model.embedder, "embedder.")
            + reader(model.reader, "reader.")
            + [WeightSpec("block_emb", model.block_emb, tuple(model.block_emb.shape))]
        )
    raise TypeError(f"no weight map for {type(model).__name__}")
