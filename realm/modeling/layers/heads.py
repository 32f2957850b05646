"""Task heads on top of the BERT encoder: retriever projection, tied masked-LM head, reader span scorer."""

from __future__ import annotations

import keras
from keras import ops

from realm.modeling.activations import get_activation
from realm.modeling.layers.attention import large_negative


class RetrieverProjection(keras.layers.Layer):
    """pooled [CLS] (tanh) -> dense(retriever_proj_size) -> LayerNorm: the REALM/ORQA retrieval embedding."""

    def __init__(self, proj_size: int, layer_norm_eps: float = 1e-12, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(
            proj_size,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            name="dense",
        )
        self.layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, name="layer_norm")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.layer_norm.build((*input_shape[:-1], self.dense.units))

    def call(self, pooled):
        return self.layer_norm(self.dense(pooled))


class MaskedLMHead(keras.layers.Layer):
    """BERT's MLM head: dense + activation + LayerNorm, then a decoder tied to the word-embedding table."""

    def __init__(
        self,
        embedding_layer: keras.layers.Embedding,
        activation: str = "gelu_new",
        layer_norm_eps: float = 1e-12,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embedding_layer = embedding_layer
        self.transform_dense = keras.layers.Dense(
            embedding_layer.output_dim,
            activation=get_activation(activation),
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            name="transform",
        )
        self.transform_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, name="transform_ln")

    def build(self, input_shape):
        self.transform_dense.build(input_shape)
        self.transform_layer_norm.build(input_shape)
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.embedding_layer.input_dim,), initializer="zeros"
        )

    def call(self, hidden_states):
        hidden_states = self.transform_layer_norm(self.transform_dense(hidden_states))
        table = ops.cast(self.embedding_layer.embeddings, hidden_states.dtype)
        logits = ops.matmul(hidden_states, ops.transpose(table))
        return logits + ops.cast(self.output_bias, logits.dtype)


def span_candidates(seq_length: int, max_span_width: int):
    """All spans of width 1..max_span_width inside `seq_length`, ordered by width then start (as ORQA/HF).

    Returns int32 tensors `starts`, `ends` of shape [num_spans]; the order matters because the predicted
    `candidate` index is reported in it.
    """
    starts, ends = [], []
    for width in range(1, max_span_width + 1):
        count = ops.maximum(seq_length - width + 1, 0)  # no span wider than the sequence
        starts.append(ops.arange(0, count, dtype="int32"))
        ends.append(ops.arange(0, count, dtype="int32") + (width - 1))
    return ops.concatenate(starts, axis=0), ops.concatenate(ends, axis=0)


class SpanScorer(keras.layers.Layer):
    """ORQA's reader head: start/end projections summed per candidate span -> ReLU -> LayerNorm -> logit.

    Spans that do not lie entirely inside the block (per `block_mask`) get a very negative logit.
    """

    def __init__(
        self,
        span_hidden_size: int,
        max_span_width: int,
        layer_norm_eps: float = 1e-3,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.span_hidden_size = span_hidden_size
        self.max_span_width = max_span_width
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.dense_intermediate = keras.layers.Dense(
            2 * span_hidden_size, kernel_initializer=init, name="dense_intermediate"
        )
        self.layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, name="layer_norm")
        self.dense_output = keras.layers.Dense(1, kernel_initializer=init, name="dense_output")

    def build(self, input_shape):
        self.dense_intermediate.build(input_shape)
        span_shape = (*input_shape[:-1], self.span_hidden_size)
        self.layer_norm.build(span_shape)
        self.dense_output.build(span_shape)

    def call(self, sequence_output, block_mask):
        """sequence_output [n, seq, hidden], block_mask [n, seq] -> logits [n, spans], starts [spans], ends."""
        seq_length = sequence_output.shape[1] or ops.shape(sequence_output)[1]
        starts, ends = span_candidates(seq_length, self.max_span_width)
        projected = self.dense_intermediate(sequence_output)
        start_proj, end_proj = ops.split(projected, 2, axis=-1)
        span_hidden = ops.take(start_proj, starts, axis=1) + ops.take(end_proj, ends, axis=1)
        span_hidden = self.layer_norm(ops.relu(span_hidden))
        logits = ops.squeeze(self.dense_output(span_hidden), axis=-1)
        mask = ops.cast(block_mask, logits.dtype)
        span_mask = ops.take(mask, starts, axis=1) * ops.take(mask, ends, axis=1)
        logits = logits + (1.0 - span_mask) * large_negative(logits.dtype)
        return logits, starts, ends
