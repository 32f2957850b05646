"""RealmScorer: relevance of each candidate to its query, from (possibly shared) query and candidate embedders."""

from __future__ import annotations

import keras
from keras import ops

from realm.config import RealmConfig
from realm.modeling.models.embedder import RealmEmbedder


class RealmScorer(keras.Model):
    """relevance_score[b, c] = query_score[b] · candidate_score[b, c].

    REALM shares one embedder for queries and documents (`share_query_embedder=True`, HF's default when no
    query embedder is given); ORQA-style separate towers are available with `share_query_embedder=False`.
    """

    def __init__(self, config: RealmConfig, share_query_embedder: bool = True, **kwargs):
        kwargs.setdefault("name", "realm_scorer")
        super().__init__(**kwargs)
        self.config = config
        self.share_query_embedder = share_query_embedder
        self.embedder = RealmEmbedder(config, name="embedder")
        self.query_embedder = self.embedder if share_query_embedder else RealmEmbedder(config, name="query_embedder")

    def call(
        self,
        input_ids,
        candidate_input_ids,
        attention_mask=None,
        token_type_ids=None,
        candidate_attention_mask=None,
        candidate_token_type_ids=None,
        training=False,
    ):
        """input_ids [batch, q_len]; candidate_* [batch, num_candidates, c_len]."""
        query_score = self.query_embedder(input_ids, attention_mask, token_type_ids, training=training)[
            "projected_score"
        ]
        batch = ops.shape(candidate_input_ids)[0]
        num_candidates = ops.shape(candidate_input_ids)[1]
        seq = ops.shape(candidate_input_ids)[2]

        def flat(x):
            return None if x is None else ops.reshape(x, (-1, seq))

        candidate_score = self.embedder(
            flat(candidate_input_ids),
            flat(candidate_attention_mask),
            flat(candidate_token_type_ids),
            training=training,
        )["projected_score"]
        candidate_score = ops.reshape(candidate_score, (batch, num_candidates, -1))
        relevance_score = ops.einsum("bd,bnd->bn", query_score, candidate_score)
        return {
            "relevance_score": relevance_score,
            "query_score": query_score,
            "candidate_score": candidate_score,
        }

    def build_for_inference(self) -> RealmScorer:
        self(ops.ones((1, 2), "int32"), ops.ones((1, 1, 2), "int32"))
        return self
