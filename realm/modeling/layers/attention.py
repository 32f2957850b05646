"""Multi-head self-attention with BERT's parameter layout (per-head query/key/value projections)."""

from __future__ import annotations

import math

import keras
from keras import ops


def large_negative(dtype) -> float:
    """A finite 'minus infinity' for masking that survives float16 (as Keras' own softmax masking does)."""
    largest = 65504.0 if keras.backend.standardize_dtype(dtype) == "float16" else 3.4e38
    return -0.7 * largest


class SelfAttention(keras.layers.Layer):
    """Scaled dot-product self-attention over `[batch, seq, hidden]` with an additive key mask.

    Written out instead of `keras.layers.MultiHeadAttention` so the mask is a precomputed additive bias shared by
    all layers (computed once per forward pass) and the kernels have fixed, documented shapes for checkpoint
    conversion: query/key/value `[hidden, heads, head_size]`, output `[heads, head_size, hidden]`.
    """

    def __init__(
        self,
        num_heads: int,
        head_size: int,
        dropout_rate: float = 0.0,
        kernel_initializer: keras.initializers.Initializer | str = "glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_size = head_size
        self.dropout_rate = dropout_rate
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        proj = dict(
            equation="btd,dnh->btnh",
            output_shape=(None, num_heads, head_size),
            bias_axes="nh",
            kernel_initializer=self.kernel_initializer,
        )
        self.query_dense = keras.layers.EinsumDense(name="query", **proj)
        self.key_dense = keras.layers.EinsumDense(name="key", **proj)
        self.value_dense = keras.layers.EinsumDense(name="value", **proj)
        self.output_dense = None  # built once the hidden size is known
        self.attention_dropout = keras.layers.Dropout(dropout_rate)

    def build(self, input_shape):
        hidden = input_shape[-1]
        self.query_dense.build(input_shape)
        self.key_dense.build(input_shape)
        self.value_dense.build(input_shape)
        self.output_dense = keras.layers.EinsumDense(
            "btnh,nhd->btd",
            output_shape=(None, hidden),
            bias_axes="d",
            kernel_initializer=self.kernel_initializer,
            name="output",
        )
        self.output_dense.build((*input_shape[:-1], self.num_heads, self.head_size))

    def call(self, hidden_states, attention_bias=None, training=False):
        """attention_bias: `[batch, 1, 1, seq]` additive bias (0 for keys to attend, very negative otherwise)."""
        query = self.query_dense(hidden_states)
        key = self.key_dense(hidden_states)
        value = self.value_dense(hidden_states)
        query = query * ops.cast(1.0 / math.sqrt(self.head_size), query.dtype)
        scores = ops.einsum("bqnh,bknh->bnqk", query, key)
        if attention_bias is not None:
            scores = scores + ops.cast(attention_bias, scores.dtype)
        probs = ops.softmax(scores, axis=-1)
        probs = self.attention_dropout(probs, training=training)
        context = ops.einsum("bnqk,bknh->bqnh", probs, value)
        return self.output_dense(context)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "head_size": self.head_size,
            "dropout_rate": self.dropout_rate,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


def attention_bias_from_mask(attention_mask, dtype="float32"):
    """`[batch, seq]` 1/0 mask -> `[batch, 1, 1, seq]` additive bias for `SelfAttention`."""
    mask = ops.cast(attention_mask, dtype)
    return (1.0 - mask)[:, None, None, :] * large_negative(dtype)
