"""The BERT encoder network REALM uses for its embedder, knowledge-augmented encoder and reader."""

from __future__ import annotations

import keras
from keras import ops

from realm.config import RealmConfig
from realm.modeling.layers.attention import attention_bias_from_mask
from realm.modeling.layers.embeddings import BertEmbeddings
from realm.modeling.layers.transformer import TransformerEncoderBlock


class BertEncoder(keras.layers.Layer):
    """Embeddings, `num_hidden_layers` transformer blocks and the tanh pooler over [CLS].

    Returns a dict with `sequence_output` [batch, seq, hidden] and `pooled_output` [batch, hidden], the two
    tensors every REALM head consumes.
    """

    def __init__(self, config: RealmConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        init = keras.initializers.TruncatedNormal(stddev=config.initializer_range)
        self.embeddings = BertEmbeddings(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size,
            layer_norm_eps=config.layer_norm_eps,
            dropout_rate=config.hidden_dropout_prob,
            initializer_range=config.initializer_range,
            name="embeddings",
        )
        self.blocks = [
            TransformerEncoderBlock(
                num_heads=config.num_attention_heads,
                intermediate_size=config.intermediate_size,
                activation=config.hidden_act,
                hidden_dropout=config.hidden_dropout_prob,
                attention_dropout=config.attention_probs_dropout_prob,
                layer_norm_eps=config.layer_norm_eps,
                kernel_initializer=init,
                name=f"layer_{i}",
            )
            for i in range(config.num_hidden_layers)
        ]
        self.pooler = keras.layers.Dense(config.hidden_size, activation="tanh", kernel_initializer=init, name="pooler")

    def build(self, input_shape):
        self.embeddings.build(input_shape)
        hidden_shape = (*input_shape, self.config.hidden_size)
        for block in self.blocks:
            block.build(hidden_shape)
        self.pooler.build((input_shape[0], self.config.hidden_size))

    @property
    def word_embeddings(self) -> keras.layers.Embedding:
        return self.embeddings.word_embeddings

    def call(self, input_ids, attention_mask=None, token_type_ids=None, training=False):
        if attention_mask is None:
            attention_mask = ops.ones_like(input_ids)
        hidden = self.embeddings(input_ids, token_type_ids=token_type_ids, training=training)
        bias = attention_bias_from_mask(attention_mask, hidden.dtype)
        for block in self.blocks:
            hidden = block(hidden, attention_bias=bias, training=training)
        pooled = self.pooler(hidden[:, 0, :])
        return {"sequence_output": hidden, "pooled_output": pooled}
