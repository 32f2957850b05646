"""RealmEmbedder: maps a query or a `[CLS] title [SEP] body [SEP]` candidate to its retrieval embedding."""

from __future__ import annotations

import keras
from keras import ops

from realm.config import RealmConfig
from realm.modeling.layers.heads import RetrieverProjection
from realm.modeling.networks.bert_encoder import BertEncoder


class RealmEmbedder(keras.Model):
    """BERT -> tanh pooler -> dense(retriever_proj_size) -> LayerNorm. Output field: `projected_score`."""

    def __init__(self, config: RealmConfig, **kwargs):
        kwargs.setdefault("name", "realm_embedder")
        super().__init__(**kwargs)
        self.config = config
        self.bert = BertEncoder(config, name="bert")
        self.projection = RetrieverProjection(
            config.retriever_proj_size, config.layer_norm_eps, config.initializer_range, name="projection"
        )

    def call(self, input_ids, attention_mask=None, token_type_ids=None, training=False):
        encoded = self.bert(input_ids, attention_mask, token_type_ids, training=training)
        return {"projected_score": self.projection(encoded["pooled_output"])}

    def build_for_inference(self) -> RealmEmbedder:
        """Create all variables with a tiny dummy batch so weights can be assigned before first use."""
        dummy = ops.ones((1, 2), dtype="int32")
        self(dummy, training=False)
        return self
