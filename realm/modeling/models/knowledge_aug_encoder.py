"""RealmKnowledgeAugEncoder: masked-LM over `[CLS] masked query [SEP] block [SEP]`, marginalised over blocks."""

from __future__ import annotations

import keras
from keras import ops

from realm.config import RealmConfig
from realm.modeling.layers.heads import MaskedLMHead
from realm.modeling.losses import gold_token_log_probs, realm_mlm_marginal_loss
from realm.modeling.networks.bert_encoder import BertEncoder


class RealmKnowledgeAugEncoder(keras.Model):
    """p(y | z, x) for each retrieved block z, combined with p(z | x) into REALM's marginal likelihood.

    Two ways to give the targets:
    - `labels` [batch, seq] with -100 for unmasked positions (HF's form): logits over every position;
    - `masked_positions` + `masked_labels` [batch, max_masks] (the original TF code's form): the MLM head runs
      only on the masked positions, which is what makes pre-training affordable at vocabulary size 30522.
    `mlm_mask` [batch, seq or max_masks] says which targets count; the loss averages over them.
    """

    def __init__(self, config: RealmConfig, **kwargs):
        kwargs.setdefault("name", "realm_knowledge_aug_encoder")
        super().__init__(**kwargs)
        self.config = config
        self.bert = BertEncoder(config, name="bert")
        self.bert.pooler.trainable = False  # kept for checkpoint compatibility; the [CLS] pooler is unused here
        self.mlm_head = MaskedLMHead(
            self.bert.word_embeddings,
            activation=config.hidden_act,
            layer_norm_eps=config.layer_norm_eps,
            initializer_range=config.initializer_range,
            name="mlm_head",
        )

    def call(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        relevance_score=None,
        labels=None,
        mlm_mask=None,
        masked_positions=None,
        masked_labels=None,
        training=False,
    ):
        """input_ids [batch, num_candidates, seq] (or [batch * num_candidates, seq] as HF accepts)."""
        seq = ops.shape(input_ids)[-1]
        if len(input_ids.shape) == 3:
            batch, num_candidates = ops.shape(input_ids)[0], ops.shape(input_ids)[1]
        elif relevance_score is not None:
            num_candidates = ops.shape(relevance_score)[1]
            batch = ops.shape(input_ids)[0] // num_candidates
        else:
            batch, num_candidates = ops.shape(input_ids)[0], 1

        def flat(x):
            return None if x is None else ops.reshape(x, (-1, seq))

        encoded = self.bert(flat(input_ids), flat(attention_mask), flat(token_type_ids), training=training)
        hidden = encoded["sequence_output"]
        if masked_positions is not None:
            positions = ops.repeat(ops.cast(masked_positions, "int32"), num_candidates, axis=0)
            hidden = ops.take_along_axis(hidden, positions[:, :, None], axis=1)
            targets = masked_labels
        else:
            targets = labels
        logits = self.mlm_head(hidden)
        outputs = {"logits": logits}
        if targets is None:
            return outputs
        if relevance_score is None:
            raise ValueError("relevance_score is required to compute the marginal masked-LM loss")
        positions_per_example = ops.shape(targets)[1]
        tiled_targets = ops.repeat(targets, num_candidates, axis=0)
        log_probs = gold_token_log_probs(logits, tiled_targets)
        log_probs = ops.reshape(log_probs, (batch, num_candidates, positions_per_example))
        if mlm_mask is None:
            mlm_mask = ops.ones_like(targets, dtype="float32")
        loss, marginal = realm_mlm_marginal_loss(ops.cast(relevance_score, "float32"), log_probs, mlm_mask)
        outputs.update(loss=loss, marginal_log_probs=marginal, candidate_log_probs=log_probs)
        return outputs

    def build_for_inference(self) -> RealmKnowledgeAugEncoder:
        self(ops.ones((1, 1, 2), "int32"))
        return self
