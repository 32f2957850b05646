"""BERT input embeddings: word + absolute position + token type, then LayerNorm and dropout."""

from __future__ import annotations

import keras
from keras import ops


class BertEmbeddings(keras.layers.Layer):
    """The word table is exposed (`word_embeddings`) because the masked-LM head ties its decoder to it."""

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        max_position_embeddings: int,
        type_vocab_size: int,
        layer_norm_eps: float = 1e-12,
        dropout_rate: float = 0.1,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_position_embeddings = max_position_embeddings
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.word_embeddings = keras.layers.Embedding(
            vocab_size, hidden_size, embeddings_initializer=init, name="word_embeddings"
        )
        self.position_embeddings = keras.layers.Embedding(
            max_position_embeddings, hidden_size, embeddings_initializer=init, name="position_embeddings"
        )
        self.token_type_embeddings = keras.layers.Embedding(
            type_vocab_size, hidden_size, embeddings_initializer=init, name="token_type_embeddings"
        )
        self.layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, name="layer_norm")
        self.dropout = keras.layers.Dropout(dropout_rate)

    def build(self, input_shape):
        self.word_embeddings.build(input_shape)
        self.position_embeddings.build(input_shape)
        self.token_type_embeddings.build(input_shape)
        self.layer_norm.build((*input_shape, self.word_embeddings.output_dim))

    def call(self, input_ids, token_type_ids=None, training=False):
        seq_length = ops.shape(input_ids)[1]
        if token_type_ids is None:
            token_type_ids = ops.zeros_like(input_ids)
        positions = ops.arange(seq_length, dtype="int32")[None, :]
        embedded = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings(token_type_ids)
        )
        return self.dropout(self.layer_norm(embedded), training=training)
