"""RealmReader: extracts an answer span from the top retrieved blocks, scoring spans plus block relevance."""

from __future__ import annotations

import keras
from keras import ops

from realm.config import RealmConfig
from realm.modeling.layers.attention import large_negative
from realm.modeling.layers.heads import MaskedLMHead, SpanScorer
from realm.modeling.losses import marginal_log_loss
from realm.modeling.networks.bert_encoder import BertEncoder


class RealmReader(keras.Model):
    """Batched ORQA/REALM reader.

    Inputs for `batch` questions, each with `reader_beam_size` (R) retrieved blocks of `seq` tokens:
    input_ids / attention_mask / token_type_ids / block_mask [batch, R, seq], relevance_score [batch, S>=R]
    (the retriever logits of the searched blocks, best first). HF's single-question form ([R, seq], [S]) is
    accepted too and gives unbatched outputs.

    Training targets (optional): has_answers [batch, S] (block contains an answer), start_positions /
    end_positions [batch, >=R, num_answers] token positions of answer occurrences, padded with -1.
    """

    def __init__(self, config: RealmConfig, **kwargs):
        kwargs.setdefault("name", "realm_reader")
        super().__init__(**kwargs)
        self.config = config
        self.bert = BertEncoder(config, name="bert")
        self.bert.pooler.trainable = False  # kept for checkpoint compatibility; the [CLS] pooler is unused here
        # Kept only so HF/Google reader checkpoints (which carry an MLM head) convert without loss.
        self.mlm_head = MaskedLMHead(
            self.bert.word_embeddings,
            config.hidden_act,
            config.layer_norm_eps,
            config.initializer_range,
            name="mlm_head",
        )
        self.mlm_head.build((None, config.hidden_size))  # never called in the forward pass
        self.span_scorer = SpanScorer(
            config.span_hidden_size,
            config.max_span_width,
            config.reader_layer_norm_eps,
            config.initializer_range,
            name="span_scorer",
        )

    def call(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        relevance_score=None,
        block_mask=None,
        start_positions=None,
        end_positions=None,
        has_answers=None,
        span_mask=None,
        span_bias=None,
        per_block_spans=False,
        training=False,
    ):
        """`span_mask` [batch, R, spans] (optional): 0 rules a candidate span out of the prediction (not the loss),
        in the order of `span_candidates` over this input's length. `span_bias` (optional, broadcast to
        [batch, R, spans]) is added to the scores the prediction ranks spans by, never to the loss: a prior over
        spans (e.g. against wide ones) that inference applies to a reader trained without it.

        `per_block_spans` ranks spans for the prediction by REALM's p(z | x) p(s | z, x) (Guu et al. 2020, eq. for
        open-QA fine-tuning): span scores normalised within each block, plus the log-softmax of the blocks'
        relevance. Off, they rank by the joint softmax over every span of every block (ORQA's and HF's), where a
        block whose spans score high overall outweighs the retriever's ranking. Neither changes the loss."""
        if relevance_score is None:
            raise ValueError("relevance_score is required: the reader adds the block's retrieval logit to spans")
        if block_mask is None:
            raise ValueError("block_mask is required: spans may only be taken from the block's own tokens")
        unbatched = len(input_ids.shape) == 2
        if unbatched:
            input_ids, attention_mask, token_type_ids, block_mask, relevance_score = (
                None if x is None else x[None]
                for x in (input_ids, attention_mask, token_type_ids, block_mask, relevance_score)
            )
            start_positions, end_positions, has_answers = (
                None if x is None else x[None] for x in (start_positions, end_positions, has_answers)
            )
        batch, beam, seq = ops.shape(input_ids)[0], ops.shape(input_ids)[1], ops.shape(input_ids)[2]
        beam = input_ids.shape[1] or beam

        def flat(x):
            return None if x is None else ops.reshape(x, (-1, seq))

        hidden = self.bert(flat(input_ids), flat(attention_mask), flat(token_type_ids), training=training)[
            "sequence_output"
        ]
        span_logits, starts, ends = self.span_scorer(hidden, flat(block_mask))
        num_spans = ops.shape(starts)[0]
        span_logits = ops.reshape(span_logits, (batch, beam, num_spans))
        relevance_score = ops.cast(relevance_score, span_logits.dtype)
        reader_logits = span_logits + relevance_score[:, :beam, None]
        predicted_logits = reader_logits
        if span_bias is not None:
            predicted_logits = predicted_logits + ops.cast(span_bias, reader_logits.dtype)
        allowed = None
        if span_mask is not None:
            allowed = ops.cast(ops.reshape(span_mask, (batch, beam, num_spans)), reader_logits.dtype)
            predicted_logits = predicted_logits + (1.0 - allowed) * large_negative(reader_logits.dtype)
        if per_block_spans:
            predicted_logits = self._per_block(predicted_logits, relevance_score[:, :beam], allowed)

        flat_logits = ops.reshape(predicted_logits, (batch, -1))
        best = ops.cast(ops.argmax(flat_logits, axis=-1), "int32")
        block_idx = best // num_spans
        candidate = best % num_spans
        outputs = {
            "logits": reader_logits,
            # What the prediction ranks spans by: the logits with `span_bias` and `span_mask` applied.
            "predicted_logits": predicted_logits,
            # The score the prediction won with: its span's logit plus its block's, with the prior of `span_bias`.
            "predicted_score": ops.take_along_axis(flat_logits, best[:, None], axis=1)[:, 0],
            "block_idx": block_idx,
            "candidate": candidate,
            "start_pos": ops.take(starts, candidate),
            "end_pos": ops.take(ends, candidate),
            "candidate_starts": starts,
            "candidate_ends": ends,
        }

        if start_positions is not None and end_positions is not None and has_answers is not None:
            gold_starts = ops.cast(start_positions[:, :beam], "int32")  # [batch, R, answers]
            gold_ends = ops.cast(end_positions[:, :beam], "int32")
            is_start = ops.equal(starts[None, None, None, :], gold_starts[..., None])
            is_end = ops.equal(ends[None, None, None, :], gold_ends[..., None])
            reader_correct = ops.any(ops.logical_and(is_start, is_end), axis=2)  # [batch, R, spans]
            retriever_correct = ops.cast(has_answers, "bool")
            retriever_loss = marginal_log_loss(ops.cast(relevance_score, "float32"), retriever_correct)
            reader_loss = marginal_log_loss(
                ops.reshape(ops.cast(reader_logits, "float32"), (batch, -1)),
                ops.reshape(reader_correct, (batch, -1)),
            )
            outputs.update(
                loss=ops.mean(retriever_loss + reader_loss),
                retriever_loss=retriever_loss,
                reader_loss=reader_loss,
                retriever_correct=retriever_correct,
                reader_correct=reader_correct,
            )

        if unbatched:
            for key in (
                "logits",
                "predicted_score",
                "block_idx",
                "candidate",
                "start_pos",
                "end_pos",
                "retriever_loss",
                "reader_loss",
                "retriever_correct",
                "reader_correct",
            ):
                if key in outputs:
                    outputs[key] = outputs[key][0]
        return outputs

    @staticmethod
    def _per_block(predicted_logits, relevance, allowed):
        """log p(z | x) + log p(s | z, x) from the joint form's span + relevance logits (masked spans stay out)."""
        within_block = predicted_logits - relevance[:, :, None]
        normalised = within_block - ops.logsumexp(within_block, axis=-1, keepdims=True)
        if allowed is not None:  # a block with no allowed span keeps none (its log-sum-exp was the mask's)
            normalised = ops.where(allowed > 0, normalised, large_negative(normalised.dtype))
        return normalised + ops.log_softmax(relevance, axis=-1)[:, :, None]

    def build_for_inference(self) -> RealmReader:
        self(ops.ones((1, 1, 2), "int32"), relevance_score=ops.zeros((1, 1)), block_mask=ops.ones((1, 1, 2)))
        return self
