"""The index-refresh sidecar (`realm refresh`): re-embeds the corpus whenever the trainer exports a new embedder.

It runs as its own process (started and supervised by the trainer, or on another node reading the same
storage): poll `exports/` for a newer embedder, embed every block in batches, build a ScaNN (or exact) index,
publish it atomically (see `realm.retrieval.index`), repeat; exit once the trainer has written TRAINING_DONE
and the newest export is indexed.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from realm.pretraining import exports
from realm.retrieval import index as block_index

logger = logging.getLogger(__name__)

# A test hook: seconds to sleep between writing a version and publishing it (to kill the process mid-write).
PAUSE_ENV = "REALM_REFRESH_PAUSE_BEFORE_PUBLISH"


def embed_corpus(
    embedder,
    blocks,
    batch_size: int,
    max_length: int,
    log_every_seconds: float = 30.0,
    jit_compile: bool = False,
) -> np.ndarray:
    """Projected embeddings of every block, row i = block_id i.

    `jit_compile`: the forward pass compiled by XLA. On an AVX2-only CPU it embedded MiniLM blocks 1.46 times as
    fast (benchmarks/results/inference_graphs.json), where XLA had given ICT's training steps nothing on an
    AVX-512 host (xla.json); the last batch is padded to a full one so that one compiled shape serves every batch.
    """
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def embed(ids, mask, types):
        return embedder(ids, mask, types, training=False)["projected_score"]

    truncated = blocks.truncation_warning(max_length)
    if truncated:
        logger.warning("%s", truncated)
    from tqdm import tqdm

    out = np.zeros((len(blocks), embedder.config.retriever_proj_size), np.float32)
    started = last_log = time.time()
    done = 0
    # A bar on a terminal (disable=None: off when stderr is not one, as in pipeline tasks); the log lines below
    # tell the same to logs.
    bar = tqdm(total=len(blocks), unit="block", desc="embedding the corpus", disable=None, leave=False)
    for ids, input_ids, attention_mask, token_type_ids in blocks.iter_batches(batch_size, max_length):
        rows = len(ids)
        if jit_compile and rows < batch_size:  # repeat rows rather than compile a second shape
            fill = np.arange(batch_size) % rows
            input_ids, attention_mask, token_type_ids = input_ids[fill], attention_mask[fill], token_type_ids[fill]
        out[np.asarray(ids)] = embed(input_ids, attention_mask, token_type_ids).numpy()[:rows]
        done += len(ids)
        bar.update(len(ids))
        if time.time() - last_log > log_every_seconds:
            rate = done / (time.time() - started)
            logger.info(
                "embedded %d/%d blocks (%.0f/s, ETA %.0fs)",
                done,
                len(blocks),
                rate,
                (len(blocks) - done) / max(rate, 1e-9),
            )
            last_log = time.time()
    bar.close()
    return out


def refresh_once(
    export_dir: str,
    step: int,
    blocks,
    index_dir: str,
    *,
    batch_size: int,
    max_length: int,
    k: int,
    keep: int,
    method: str | None = None,
    jit_compile: bool = False,
) -> str:
    from realm.pretrained import from_pretrained

    started = time.time()
    embedder = from_pretrained(export_dir, architecture="RealmEmbedder")
    embeddings = embed_corpus(embedder, blocks, batch_size, max_length, jit_compile=jit_compile)
    embed_seconds = time.time() - started
    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
    if pause:
        block_index.PUBLISH_PAUSE_SECONDS = pause
    path = block_index.publish_index(
        index_dir,
        embeddings,
        step,
        k=k,
        keep=keep,
        method=method,
        extra_meta={"embed_seconds": embed_seconds, "export_dir": export_dir, "block_seq_len": max_length},
    )
    logger.info("refresh for step %d: embed %.1fs, total %.1fs -> %s", step, embed_seconds, time.time() - started, path)
    return path


def run_sidecar(
    exports_dir: str,
    blocks_path: str,
    index_dir: str,
    *,
    batch_size: int = 64,
    max_length: int = 288,
    k: int = 100,
    keep: int = 3,
    poll_seconds: float = 1.0,
    parent_pid: int | None = None,
    method: str | None = None,
    jit_compile: bool = False,
) -> int:
    """Loop until TRAINING_DONE (or until the trainer `parent_pid` is gone); returns the indexes published.

    A trainer killed with SIGKILL cannot write TRAINING_DONE; watching its pid keeps its sidecar from
    outliving it (a rerun starts a fresh one).
    """
    from realm.data.block_store import BlockStore

    blocks = BlockStore.open(blocks_path)
    published = 0
    current = block_index.latest_version(index_dir)
    last_step = int(current[1:]) if current else -1
    logger.info("refresh sidecar watching %s (%d blocks) -> %s", exports_dir, len(blocks), index_dir)
    while True:
        done = exports.is_done(exports_dir)  # read before looking for exports, so none is missed
        step = exports.newest_export(exports_dir)
        if step is not None and step > last_step:
            export_dir = os.path.join(exports_dir, exports.export_name(step))
            try:
                refresh_once(
                    export_dir,
                    step,
                    blocks,
                    index_dir,
                    batch_size=batch_size,
                    max_length=max_length,
                    k=k,
                    keep=keep,
                    method=method,
                    jit_compile=jit_compile,
                )
            except FileNotFoundError:
                logger.info("export %s was pruned before it was read; taking the next one", export_dir)
                continue
            last_step = step
            published += 1
            continue
        if done:
            logger.info("training is done; refresh sidecar exits after %d refreshes", published)
            return published
        if parent_pid is not None and os.getppid() != parent_pid:
            logger.warning(
                "the trainer (pid %d) is gone; refresh sidecar exits after %d refreshes", parent_pid, published
            )
            return published
        time.sleep(poll_seconds)
