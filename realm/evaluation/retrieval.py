"""Retriever recall on held-out masked sentences, before and after pre-training (REALM's claim: it improves).

Each held-out pre-training example becomes the query the trainer would build (one salient span masked, same
seed); the retriever embeds it and searches every block of the corpus exactly. Two hits are counted at k:
- gold document (`recall@k`): one of the top-k blocks comes from the sentence's own article (its doc_uid), the
  only document label an unsupervised corpus has. Pre-training never rewards the sentence's own block (the
  trivial retrieval); it does reward the article's other blocks when they help fill in the span.
- gold document beyond the trivial retrieval (`nontrivial_recall@k`): after dropping the trivial retrieval as
  pre-training does, one of the top-k blocks still comes from the sentence's article. `recall@k` is mostly the
  sentence's own block, which pre-training never rewards; this is the part of it that pre-training can move
  (0 by construction when the whole article is the trivial retrieval).
- masked span (`span_recall@k`): after dropping the trivial retrieval as pre-training does (the sentence's own
  block, or its whole article with `trivial_retrieval="article"`), one of the top-k blocks contains the masked
  span's wordpieces. This is the retrieval the MLM signal rewards (a block that lets the encoder fill in the
  span), so it is the figure pre-training is expected to move first.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os

import numpy as np

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class RetrievalEvalConfig:
    data_dir: str
    embedder_dir: str
    k_values: tuple[int, ...] = (1, 5, 20, 100)
    query_seq_len: int = 96
    candidate_seq_len: int = 288
    holdout_every: int = 20  # must match the pre-training run's split
    max_queries: int = 2000
    batch_size: int = 64
    seed: int = 0
    trivial_retrieval: str = "block"  # as the pre-training run's: "block" or "article"
    encoder_dir: str | None = None  # also measure how a knowledge-augmented encoder uses the blocks (block_use)


def held_out_queries(config: RetrievalEvalConfig, tokenizer) -> dict[str, np.ndarray]:
    from realm.data.examples import read_pretraining_examples
    from realm.pretraining.masking import MaskingConfig, is_held_out, mask_salient_span

    masking = MaskingConfig(
        query_seq_len=config.query_seq_len,
        seed=config.seed,
        cls_id=tokenizer.cls_id,
        sep_id=tokenizer.sep_id,
        mask_id=tokenizer.mask_id,
        pad_id=tokenizer.pad_id,
    )
    examples = read_pretraining_examples(config.data_dir)
    if config.holdout_every > 0:
        examples = examples.filter(lambda ex: is_held_out(ex, config.holdout_every))
    queries = (
        examples.enumerate()
        .map(lambda i, ex: mask_salient_span(ex, i, masking))
        .filter(lambda q: q["valid"])
        .take(config.max_queries)
        .batch(config.batch_size)
    )
    keys = (
        "query_input_ids",
        "query_attention_mask",
        "query_length",
        "doc_uid",
        "own_blocks",
        "masked_positions",
        "masked_labels",
        "masked_weights",
    )
    parts = [{k: q[k].numpy() for k in keys} for q in queries]
    if not parts:
        raise ValueError(f"{config.data_dir}: no held-out examples with a usable salient span")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def embedded_corpus(embedder_dir: str, data_dir: str, batch_size: int, candidate_seq_len: int):
    """(embedder, block store, block embeddings), kept for the next call: `evaluate-retriever --questions` scores
    held-out sentences and questions against the same embedded corpus, which is its costliest step. Keyed by the
    embedder's file times too, so an embedder saved again in the same directory is embedded afresh."""
    stamp = max((entry.stat().st_mtime_ns for entry in os.scandir(embedder_dir)), default=0)
    return _embedded_corpus(embedder_dir, stamp, data_dir, batch_size, candidate_seq_len)


@functools.lru_cache(maxsize=1)
def _embedded_corpus(embedder_dir: str, stamp: int, data_dir: str, batch_size: int, candidate_seq_len: int):
    from realm.data.block_store import BlockStore
    from realm.pretrained import load_embedder
    from realm.pretraining.refresh import embed_corpus

    embedder = load_embedder(embedder_dir)
    blocks = BlockStore.open(data_dir)
    return embedder, blocks, embed_corpus(embedder, blocks, batch_size, candidate_seq_len)


def gold_document_recall(config: RetrievalEvalConfig) -> dict[str, float]:
    import tensorflow as tf

    from realm.evaluation.block_use import block_use, pick_blocks
    from realm.pretrained import from_pretrained
    from realm.pretraining.candidates import require_own_blocks, trivial_mask
    from realm.pretraining.masking import MAX_OWN_BLOCKS
    from realm.retrieval.mips import exact_top_k
    from realm.tokenization import RealmTokenizer

    if config.trivial_retrieval not in ("block", "article"):
        raise ValueError(f"unknown trivial_retrieval {config.trivial_retrieval!r}: expected 'block' or 'article'")
    tokenizer = RealmTokenizer.from_default_vocab()
    embedder, blocks, block_embeddings = embedded_corpus(
        config.embedder_dir, config.data_dir, config.batch_size, config.candidate_seq_len
    )
    queries = held_out_queries(config, tokenizer)
    by_block = config.trivial_retrieval == "block"
    if by_block:
        require_own_blocks(queries["own_blocks"], config.data_dir)
    logger.info("retrieving for %d held-out queries among %d blocks", len(queries["doc_uid"]), len(blocks))
    block_docs = np.asarray(blocks.doc_uids(np.arange(len(blocks))), dtype=object)
    block_positions = blocks.block_indices(np.arange(len(blocks)))
    k_max = min(max(config.k_values), len(blocks))
    # Deep enough that k blocks remain after dropping the trivial retrieval (at most the largest article).
    dropped = MAX_OWN_BLOCKS if by_block else max(np.unique(block_docs, return_counts=True)[1])
    depth = min(len(blocks), k_max + dropped)
    spans = _SpanFinder(blocks)
    hits = {k: 0 for k in config.k_values}
    span_hits = {k: 0 for k in config.k_values}
    nontrivial_hits = {k: 0 for k in config.k_values}
    n = len(queries["doc_uid"])
    corpus = tf.constant(block_embeddings)  # once, not per batch of queries
    query_embeddings = []
    shown = []  # per query: own block, best span block, best distractor (for block_use)
    for start in range(0, n, config.batch_size):
        sl = slice(start, start + config.batch_size)
        emb = embedder(queries["query_input_ids"][sl], queries["query_attention_mask"][sl])["projected_score"]
        query_embeddings.append(np.asarray(emb, np.float32))
        _, ids = exact_top_k(tf.cast(emb, tf.float32), corpus, depth)
        ids = ids.numpy()
        gold = np.array([d.decode() for d in queries["doc_uid"][sl]], dtype=object)[:, None]
        found = block_docs[ids[:, :k_max]] == gold
        for k in config.k_values:
            hits[k] += int(found[:, :k].any(axis=1).sum())
        own_block_ids = blocks.find_blocks(queries["doc_uid"][sl], queries["own_blocks"][sl][:, 0])
        for row, own, own_blocks, own_block_id, labels, weights in zip(
            ids,
            gold[:, 0],
            queries["own_blocks"][sl],
            own_block_ids,
            queries["masked_labels"][sl],
            queries["masked_weights"][sl],
            strict=True,
        ):
            trivial = trivial_mask(block_docs[row], block_positions[row], own, own_blocks if by_block else None)
            others = row[~trivial][:k_max]
            same_article = np.flatnonzero(block_docs[others] == own)
            for k in config.k_values:
                nontrivial_hits[k] += int(len(same_article) > 0 and same_article[0] < k)
            span = labels[weights > 0]
            first = next((rank for rank, b in enumerate(others) if spans.contains(b, span)), None)
            if config.encoder_dir:
                shown.append(pick_blocks(own_block_id, others, lambda b, span=span: spans.contains(b, span)))
            for k in config.k_values:
                span_hits[k] += int(first is not None and first < k)
    result = {f"recall@{k}": hits[k] / n for k in config.k_values}
    result.update({f"nontrivial_recall@{k}": nontrivial_hits[k] / n for k in config.k_values})
    result.update({f"span_recall@{k}": span_hits[k] / n for k in config.k_values})
    result.update(embedding_spread(np.concatenate(query_embeddings), block_embeddings))
    result.update(queries=n, blocks=len(blocks))
    if config.encoder_dir:
        logger.info("measuring how %s uses the blocks it is shown", config.encoder_dir)
        encoder = from_pretrained(config.encoder_dir)
        joint_len = config.query_seq_len + config.candidate_seq_len
        result.update(block_use(encoder, blocks, queries, np.array(shown), joint_len=joint_len, tokenizer=tokenizer))
    return result


def embedding_spread(queries: np.ndarray, blocks: np.ndarray, sample: int = 1000) -> dict[str, float]:
    """How spread out the embeddings are, to tell a retriever that ranks from one that collapses.

    A retriever trained by a reader whose per-block predictions are noise is rewarded for *flattening* p(z|x)
    (the log of a mixture beats the mixture of logs), which it does by pulling every embedding toward one
    direction: the mean cosines rise and the spread of a query's scores over blocks (`score_std`) falls.
    """
    rng = np.random.default_rng(0)
    blocks = blocks[rng.permutation(len(blocks))[:sample]]
    queries = queries[:sample]

    def mean_cosine(x: np.ndarray) -> float:
        unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        n = len(unit)
        return float(((unit @ unit.T).sum() - n) / max(n * (n - 1), 1))

    scores = queries @ blocks.T
    return {
        "query_mean_cosine": mean_cosine(queries),
        "block_mean_cosine": mean_cosine(blocks),
        "score_std": float(scores.std(axis=1).mean()),
    }


class _SpanFinder:
    """Whether a block's wordpieces contain a span's, as a substring search over the ids written as text."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.cache: dict[int, str] = {}

    @staticmethod
    def _key(ids) -> str:
        return " " + " ".join(str(int(i)) for i in ids) + " "

    def contains(self, block_id: int, span: np.ndarray) -> bool:
        text = self.cache.get(int(block_id))
        if text is None:
            text = self.cache[int(block_id)] = self._key(self.blocks.token_ids(int(block_id)))
        return len(span) > 0 and self._key(span) in text


def answer_recall(
    data_dir: str,
    embedder_dir: str,
    questions,
    k_values=(1, 5, 20, 100),
    query_seq_len: int = 64,
    candidate_seq_len: int = 288,
    batch_size: int = 64,
) -> dict[str, float]:
    """Zero-shot retrieval recall@k on QA questions (REALM's Table 2): an answer string in one of the top-k blocks."""
    import tensorflow as tf

    from realm.evaluation.answers import answer_in_text, recall_at_k
    from realm.retrieval.mips import exact_top_k
    from realm.tokenization import RealmTokenizer

    tokenizer = RealmTokenizer.from_default_vocab()
    embedder, blocks, block_embeddings = embedded_corpus(embedder_dir, data_dir, batch_size, candidate_seq_len)
    block_embeddings = tf.constant(block_embeddings)
    texts = blocks.texts(np.arange(len(blocks)))
    k_max = min(max(k_values), len(blocks))
    hits = []
    for start in range(0, len(questions), batch_size):
        batch = questions[start : start + batch_size]
        encoded = tokenizer.encode_queries([q.question for q in batch], query_seq_len)
        emb = embedder(encoded["input_ids"], encoded["attention_mask"])["projected_score"]
        _, ids = exact_top_k(tf.cast(emb, tf.float32), block_embeddings, k_max)
        for question, row in zip(batch, ids.numpy(), strict=True):
            hits.append([answer_in_text(texts[i], question.answers, regex=question.regex) for i in row])
    return {f"answer_recall@{k}": v for k, v in recall_at_k(hits, k_values).items()} | {"questions": len(questions)}
