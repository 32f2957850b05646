"""Parity at real model sizes (MiniLM-L6-H384 and BERT-base). Slow on CPU: `pytest -m heavy`."""

from __future__ import annotations

import numpy as np
import pytest

from realm import pretrained

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.heavy

SIZES = {
    "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "base": dict(),
}


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("architecture", ["RealmEmbedder", "RealmReader"])
def test_full_size_parity(tmp_path, size, architecture):
    torch.manual_seed(0)
    config = transformers.RealmConfig(**SIZES[size])
    hf = getattr(transformers, architecture)(config).eval()
    hf.save_pretrained(str(tmp_path), safe_serialization=False)
    ours = pretrained.from_pretrained(str(tmp_path))
    rng = np.random.RandomState(0)
    seq = 288 if architecture == "RealmEmbedder" else 320
    ids = rng.randint(1000, 30000, size=(config.reader_beam_size, seq)).astype(np.int32)
    token_types = np.zeros_like(ids)
    token_types[:, 20:] = 1
    ids_t, tt_t = torch.tensor(ids, dtype=torch.long), torch.tensor(token_types, dtype=torch.long)
    if architecture == "RealmEmbedder":
        with torch.no_grad():
            ref = hf(input_ids=ids_t, token_type_ids=tt_t).projected_score.numpy()
        np.testing.assert_allclose(ours(ids, None, token_types)["projected_score"].numpy(), ref, atol=1e-4)
    else:
        block_mask = token_types.astype(bool)
        block_mask[:, -1] = False
        relevance = rng.randn(config.searcher_beam_size).astype(np.float32)
        with torch.no_grad():
            ref = hf(
                input_ids=ids_t,
                token_type_ids=tt_t,
                attention_mask=torch.ones_like(ids_t),
                relevance_score=torch.tensor(relevance),
                block_mask=torch.tensor(block_mask),
            )
        out = ours(ids, np.ones_like(ids), token_types, relevance_score=relevance, block_mask=block_mask)
        assert int(out["block_idx"]) == int(ref.block_idx)
        assert int(out["start_pos"]) == int(ref.start_pos[0]) and int(out["end_pos"]) == int(ref.end_pos[0])
