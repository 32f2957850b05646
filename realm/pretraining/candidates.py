"""Candidate documents for each masked query: retrieve, drop the trivial retrieval, put the null document first.

Host-side numpy work between the index search and the compiled train step (as REALM's example generators
did): it needs the block store's token ids, which live outside the graph.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from realm.errors import RealmError

NO_BLOCK = -1  # block id of the null document and of padding candidates


@dataclasses.dataclass
class CandidateBatch:
    block_ids: np.ndarray  # [B, K] int64; NO_BLOCK for the null document (column 0) and padding
    valid: np.ndarray  # [B, K] bool; the null document is always valid
    candidate_input_ids: np.ndarray  # [B, K, candidate_len]: `[CLS] title [SEP] body [SEP]`
    candidate_attention_mask: np.ndarray
    candidate_token_type_ids: np.ndarray
    joint_input_ids: np.ndarray  # [B, K, joint_len]: `[CLS] masked query [SEP] body [SEP]`
    joint_attention_mask: np.ndarray
    joint_token_type_ids: np.ndarray


def trivial_mask(doc_uids: np.ndarray, positions: np.ndarray | None, query_doc, own_blocks: np.ndarray | None):
    """Which of one query's retrieved blocks (their doc_uids and block_index positions) are its trivial retrieval:
    the blocks named by `own_blocks` (-1 padded) in the query's article, or, with `own_blocks=None`, every block
    of that article."""
    query_doc = query_doc.decode() if isinstance(query_doc, bytes) else query_doc
    trivial = np.asarray(doc_uids, dtype=object) == query_doc
    if own_blocks is not None:
        trivial &= np.isin(positions, own_blocks[own_blocks >= 0])
    return trivial


def require_own_blocks(own_blocks: np.ndarray, data_dir: str) -> None:
    """Corpora written before examples named their block carry only -1s: say how to get a usable one."""
    if (own_blocks < 0).all(axis=1).any():
        raise RealmError(
            f"{data_dir}: pre-training examples do not say which block holds their sentence (written by an older "
            "`realm preprocess`); re-run `realm preprocess`, or pass --trivial-retrieval article"
        )


def retrieve_non_trivial(
    index,
    query_embeddings: np.ndarray,
    query_doc_uids,
    blocks,
    count: int,
    margin: int = 8,
    own_blocks: np.ndarray | None = None,
) -> np.ndarray:
    """Top `count` block ids per query from the index, skipping the query's trivial retrieval.

    The block the masked sentence came from holds its unmasked text, so the encoder could copy the span (REALM
    §3.4). `own_blocks` [B, M] (-1 padded) names that block (or blocks, for a sentence cut across several) by
    its `block_index` within the query's article, and only it is dropped, as REALM's example generator drops
    the one candidate whose uid is the query's. `own_blocks=None` drops every block of the query's article, a
    stricter rule that also hides the article's other blocks. Rows with too few blocks left are padded with
    NO_BLOCK.
    """
    ids, _ = index.search(query_embeddings, count + margin)
    flat = ids.reshape(-1)
    doc_uids = np.asarray(blocks.doc_uids(flat), dtype=object).reshape(ids.shape)
    positions = None if own_blocks is None else blocks.block_indices(flat).reshape(ids.shape)
    out = np.full((len(ids), count), NO_BLOCK, np.int64)
    for row, query_doc in enumerate(query_doc_uids):
        own = None if own_blocks is None else own_blocks[row]
        trivial = trivial_mask(doc_uids[row], None if positions is None else positions[row], query_doc, own)
        kept = ids[row][~trivial][:count]
        out[row, : len(kept)] = kept
    return out


TRIVIAL_RETRIEVAL_RULES = ("block", "article", "none")


def retrieve_candidates(
    index,
    query_embeddings: np.ndarray,
    query_doc_uids,
    blocks,
    count: int,
    *,
    rule: str,
    own_blocks: np.ndarray | None = None,
) -> np.ndarray:
    """Top `count` block ids per query under a trivial-retrieval rule (see `PretrainConfig.trivial_retrieval`):
    "block" drops the blocks `own_blocks` names, "article" the query's whole article, and "none" drops nothing
    (a positive control, not REALM)."""
    if rule == "none":
        ids, _ = index.search(query_embeddings, count)
        out = np.full((len(ids), count), NO_BLOCK, np.int64)
        out[:, : ids.shape[1]] = ids
        return out
    if rule not in TRIVIAL_RETRIEVAL_RULES:
        raise RealmError(f"unknown trivial retrieval rule {rule!r}: expected one of {TRIVIAL_RETRIEVAL_RULES}")
    if rule == "block" and own_blocks is None:
        raise RealmError("the 'block' trivial retrieval rule needs the blocks that hold each query's sentence")
    return retrieve_non_trivial(
        index, query_embeddings, query_doc_uids, blocks, count, own_blocks=own_blocks if rule == "block" else None
    )


def build_candidates(
    block_ids: np.ndarray,
    query_input_ids: np.ndarray,
    query_lengths: np.ndarray,
    blocks,
    *,
    candidate_len: int,
    joint_len: int,
    cls_id: int,
    sep_id: int,
    pad_id: int = 0,
) -> CandidateBatch:
    """Null document + retrieved blocks, as embedder inputs and as knowledge-augmented encoder inputs."""
    batch, retrieved = block_ids.shape
    k = retrieved + 1
    all_ids = np.concatenate([np.full((batch, 1), NO_BLOCK, np.int64), block_ids], axis=1)
    valid = all_ids != NO_BLOCK
    valid[:, 0] = True

    cand_ids = np.full((batch, k, candidate_len), pad_id, np.int32)
    cand_mask = np.zeros_like(cand_ids)
    cand_types = np.zeros_like(cand_ids)
    # The null document: empty title and body.
    cand_ids[:, 0, :3] = [cls_id, sep_id, sep_id]
    cand_mask[:, 0, :3] = 1
    cand_types[:, 0, 2] = 1
    present = all_ids[valid & (all_ids != NO_BLOCK)]
    if len(present):
        ids, mask, types = blocks.padded_token_ids(present, candidate_len)
        rows, cols = np.nonzero(valid & (all_ids != NO_BLOCK))
        cand_ids[rows, cols], cand_mask[rows, cols], cand_types[rows, cols] = ids, mask, types

    joint_ids = np.full((batch, k, joint_len), pad_id, np.int32)
    joint_types = np.zeros_like(joint_ids)
    for b in range(batch):
        query = query_input_ids[b, : query_lengths[b]]  # [CLS] masked sentence [SEP]
        qlen = len(query)
        for c in range(k):
            body_mask = (cand_types[b, c] == 1) & (cand_mask[b, c] == 1)
            body = cand_ids[b, c][body_mask][:-1]  # drop the closing [SEP]
            body = body[: joint_len - qlen - 1]
            end = qlen + len(body) + 1
            joint_ids[b, c, :qlen] = query
            joint_ids[b, c, qlen : end - 1] = body
            joint_ids[b, c, end - 1] = sep_id
            joint_types[b, c, qlen:end] = 1
    joint_mask = (joint_ids != pad_id).astype(np.int32)
    return CandidateBatch(all_ids, valid, cand_ids, cand_mask, cand_types, joint_ids, joint_mask, joint_types)
