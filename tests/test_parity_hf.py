"""Numerical parity with transformers 4.40.2's REALM on random tiny configs with the same weights.

Each test builds an HF model with random weights, saves it the way HF does, loads it with
`realm.from_pretrained` and compares outputs within 1e-4.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from realm import pretrained  # noqa: E402
from tests.conftest import TINY_HF_CONFIG  # noqa: E402

ATOL = 1e-4


def _hf_config(**overrides):
    return transformers.RealmConfig(**{**TINY_HF_CONFIG, **overrides})


def _save(hf_model, path, safe: bool = True) -> str:
    hf_model.save_pretrained(str(path), safe_serialization=safe)
    return str(path)


def _t(x):
    return torch.tensor(np.asarray(x), dtype=torch.long)


def _random_inputs(rng, batch_shape, seq, vocab, pad_from=None):
    ids = rng.randint(0, vocab, size=(*batch_shape, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    if pad_from is not None:
        mask.reshape(-1, seq)[0, pad_from:] = 0
    token_types = np.zeros_like(ids)
    token_types[..., seq // 2 :] = 1
    return ids, mask, token_types


@pytest.mark.parametrize("hidden_act", ["gelu_new", "gelu"])
def test_embedder_parity(tmp_path, rng, hidden_act):
    torch.manual_seed(0)
    hf = transformers.RealmEmbedder(_hf_config(hidden_act=hidden_act)).eval()
    ours = pretrained.from_pretrained(_save(hf, tmp_path))
    assert type(ours).__name__ == "RealmEmbedder"
    ids, mask, tt = _random_inputs(rng, (4,), 13, 99, pad_from=6)
    with torch.no_grad():
        ref = hf(input_ids=_t(ids), attention_mask=_t(mask), token_type_ids=_t(tt)).projected_score.numpy()
    out = ours(ids, mask, tt)["projected_score"].numpy()
    np.testing.assert_allclose(out, ref, atol=ATOL)


@pytest.mark.parametrize("shared", [True, False])
def test_scorer_parity(tmp_path, rng, shared):
    torch.manual_seed(1)
    config = _hf_config()
    query_embedder = None if shared else transformers.RealmEmbedder(config)
    hf = transformers.RealmScorer(config, query_embedder=query_embedder).eval()
    ours = pretrained.from_pretrained(_save(hf, tmp_path, safe=False))
    assert ours.share_query_embedder is shared
    assert_scorer_matches(ours, hf, rng)


def assert_scorer_matches(ours, hf, rng) -> None:
    """Relevance, query and candidate scores of our RealmScorer equal HF's on random padded inputs."""
    q_ids, q_mask, q_tt = _random_inputs(rng, (2,), 9, 99, pad_from=4)
    c_ids, c_mask, c_tt = _random_inputs(rng, (2, 3), 15, 99, pad_from=10)
    with torch.no_grad():
        ref = hf(
            input_ids=_t(q_ids),
            attention_mask=_t(q_mask),
            token_type_ids=_t(q_tt),
            candidate_input_ids=_t(c_ids),
            candidate_attention_mask=_t(c_mask),
            candidate_token_type_ids=_t(c_tt),
        )
    out = ours(q_ids, c_ids, q_mask, q_tt, c_mask, c_tt)
    for field in ("relevance_score", "query_score", "candidate_score"):
        np.testing.assert_allclose(out[field].numpy(), getattr(ref, field).numpy(), atol=ATOL, err_msg=field)


def test_knowledge_aug_encoder_parity(tmp_path, rng):
    torch.manual_seed(2)
    hf = transformers.RealmKnowledgeAugEncoder(_hf_config()).eval()
    ours = pretrained.from_pretrained(_save(hf, tmp_path, safe=False))
    batch, candidates, seq = 2, 3, 12
    ids, mask, tt = _random_inputs(rng, (batch, candidates), seq, 99, pad_from=9)
    relevance = rng.randn(batch, candidates).astype(np.float32)
    labels = np.full((batch, seq), -100, dtype=np.int64)
    labels[0, [2, 3]] = rng.randint(0, 99, size=2)
    labels[1, [5]] = rng.randint(0, 99, size=1)
    mlm_mask = (labels != -100).astype(np.int64)
    with torch.no_grad():
        ref = hf(
            input_ids=_t(ids),
            attention_mask=_t(mask),
            token_type_ids=_t(tt),
            relevance_score=torch.tensor(relevance),
            labels=_t(labels),
            mlm_mask=_t(mlm_mask),
        )
    out = ours(ids, mask, tt, relevance_score=relevance, labels=labels, mlm_mask=mlm_mask)
    np.testing.assert_allclose(out["logits"].numpy().reshape(ref.logits.shape), ref.logits.numpy(), atol=ATOL)
    np.testing.assert_allclose(out["loss"].numpy(), ref.loss.numpy(), atol=ATOL)

    # The original TF code's form (MLM head only at masked positions) gives the same loss.
    positions = np.array([[2, 3], [5, 0]], dtype=np.int32)
    masked_labels = np.array([[labels[0, 2], labels[0, 3]], [labels[1, 5], 0]], dtype=np.int64)
    masked_weights = np.array([[1, 1], [1, 0]], dtype=np.float32)
    gathered = ours(
        ids,
        mask,
        tt,
        relevance_score=relevance,
        masked_positions=positions,
        masked_labels=masked_labels,
        mlm_mask=masked_weights,
    )
    np.testing.assert_allclose(gathered["loss"].numpy(), ref.loss.numpy(), atol=ATOL)


def _reader_case(rng, beam, searcher, seq, answers):
    ids, mask, tt = _random_inputs(rng, (beam,), seq, 99)
    tt[:, :5] = 0
    tt[:, 5:] = 1
    mask[1, seq - 3 :] = 0
    block_mask = (tt == 1) & (mask == 1)
    block_mask[:, -1] = False  # the closing [SEP]
    relevance = rng.randn(searcher).astype(np.float32)
    starts = np.full((searcher, answers), -1, dtype=np.int64)
    ends = np.full((searcher, answers), -1, dtype=np.int64)
    starts[0, 0], ends[0, 0] = 6, 7
    starts[2, :2], ends[2, :2] = [8, 10], [8, 12]
    has_answers = (starts >= 0).any(axis=1)
    return ids, mask, tt, block_mask, relevance, starts, ends, has_answers


def test_reader_parity(tmp_path, rng):
    torch.manual_seed(3)
    hf = transformers.RealmReader(_hf_config()).eval()
    ours = pretrained.from_pretrained(_save(hf, tmp_path, safe=False))
    ids, mask, tt, block_mask, relevance, starts, ends, has_answers = _reader_case(rng, 3, 5, 16, 2)
    with torch.no_grad():
        ref = hf(
            input_ids=_t(ids),
            attention_mask=_t(mask),
            token_type_ids=_t(tt),
            relevance_score=torch.tensor(relevance),
            block_mask=torch.tensor(block_mask),
            start_positions=_t(starts),
            end_positions=_t(ends),
            has_answers=torch.tensor(has_answers),
        )
        hidden = hf.realm(input_ids=_t(ids), attention_mask=_t(mask), token_type_ids=_t(tt))[0]
        ref_logits, _, _ = hf.qa_outputs(hidden, torch.tensor(block_mask))
        ref_logits = ref_logits + torch.tensor(relevance[:3])[:, None]
    out = ours(
        ids,
        mask,
        tt,
        relevance_score=relevance,
        block_mask=block_mask,
        start_positions=starts,
        end_positions=ends,
        has_answers=has_answers,
    )
    valid = ref_logits.numpy() > -1e30
    np.testing.assert_allclose(out["logits"].numpy()[valid], ref_logits.numpy()[valid], atol=ATOL)
    assert np.all(out["logits"].numpy()[~valid] < -1e30)
    for field in ("block_idx", "candidate"):
        assert int(out[field]) == int(getattr(ref, field)), field
    assert int(out["start_pos"]) == int(ref.start_pos[0])
    assert int(out["end_pos"]) == int(ref.end_pos[0])
    for field in ("loss", "retriever_loss", "reader_loss"):
        np.testing.assert_allclose(out[field].numpy(), getattr(ref, field).numpy(), atol=ATOL, err_msg=field)
    np.testing.assert_array_equal(out["reader_correct"].numpy(), ref.reader_correct.numpy())
    np.testing.assert_array_equal(out["retriever_correct"].numpy(), ref.retriever_correct.numpy())


def test_reader_batched_equals_one_at_a_time(tmp_path, rng):
    torch.manual_seed(4)
    hf = transformers.RealmReader(_hf_config()).eval()
    ours = pretrained.from_pretrained(_save(hf, tmp_path, safe=False))
    cases = [_reader_case(rng, 3, 5, 16, 2) for _ in range(2)]
    singles = [
        ours(
            c[0],
            c[1],
            c[2],
            relevance_score=c[4],
            block_mask=c[3],
            start_positions=c[5],
            end_positions=c[6],
            has_answers=c[7],
        )
        for c in cases
    ]
    stacked = [np.stack([c[i] for c in cases]) for i in range(8)]
    batched = ours(
        stacked[0],
        stacked[1],
        stacked[2],
        relevance_score=stacked[4],
        block_mask=stacked[3],
        start_positions=stacked[5],
        end_positions=stacked[6],
        has_answers=stacked[7],
    )
    for b, single in enumerate(singles):
        for field in ("block_idx", "start_pos", "end_pos", "reader_loss", "retriever_loss"):
            np.testing.assert_allclose(batched[field].numpy()[b], single[field].numpy(), atol=ATOL)
    np.testing.assert_allclose(batched["loss"].numpy(), np.mean([s["loss"].numpy() for s in singles]), atol=ATOL)
