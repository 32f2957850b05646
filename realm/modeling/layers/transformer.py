"""BERT's post-LayerNorm transformer encoder block."""

from __future__ import annotations

import keras

from realm.modeling.activations import get_activation
from realm.modeling.layers.attention import SelfAttention


class TransformerEncoderBlock(keras.layers.Layer):
    """attention -> dropout -> residual + LayerNorm -> intermediate(act) -> output -> dropout -> residual + LN."""

    def __init__(
        self,
        num_heads: int,
        intermediate_size: int,
        activation: str = "gelu_new",
        hidden_dropout: float = 0.1,
        attention_dropout: float = 0.1,
        layer_norm_eps: float = 1e-12,
        kernel_initializer: keras.initializers.Initializer | str = "glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.activation_name = activation
        self.hidden_dropout = hidden_dropout
        self.attention_dropout_rate = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.attention = None
        self.attention_output_dropout = keras.layers.Dropout(hidden_dropout)
        self.attention_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, name="attention_ln")
        self.intermediate_dense = keras.layers.Dense(
            intermediate_size,
            activation=get_activation(activation),
            kernel_initializer=self.kernel_initializer,
            name="intermediate",
        )
        self.output_dense = None
        self.output_dropout = keras.layers.Dropout(hidden_dropout)
        self.output_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, name="output_ln")

    def build(self, input_shape):
        hidden = input_shape[-1]
        if hidden % self.num_heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of num_heads {self.num_heads}")
        self.attention = SelfAttention(
            self.num_heads,
            hidden // self.num_heads,
            dropout_rate=self.attention_dropout_rate,
            kernel_initializer=self.kernel_initializer,
            name="self_attention",
        )
        self.attention.build(input_shape)
        self.attention_layer_norm.build(input_shape)
        self.intermediate_dense.build(input_shape)
        self.output_dense = keras.layers.Dense(hidden, kernel_initializer=self.kernel_initializer, name="output")
        self.output_dense.build((*input_shape[:-1], self.intermediate_size))
        self.output_layer_norm.build(input_shape)

    def call(self, hidden_states, attention_bias=None, training=False):
        attended = self.attention(hidden_states, attention_bias=attention_bias, training=training)
        attended = self.attention_output_dropout(attended, training=training)
        hidden_states = self.attention_layer_norm(hidden_states + attended)
        intermediate = self.intermediate_dense(hidden_states)
        output = self.output_dropout(self.output_dense(intermediate), training=training)
        return self.output_layer_norm(hidden_states + output)
