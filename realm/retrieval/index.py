"""Versioned block indexes on shared storage: build (ScaNN or exact), publish atomically, load the newest.

Layout of an index directory (the trainer, the refresh sidecar, fine-tuning and the exporter all read it):

    index/
      LATEST                      # one line: the name of the newest complete version
      v000000500/                 # one version: the embedder step it reflects
        meta.json                 # embedder_step, num_blocks, dim, method, build seconds, timestamps
        embeddings.npy            # float32 [num_blocks, dim], row i = block_id i
        scann/                    # serialized ScaNN searcher (absent for method "exact")

A version is written under a temporary name and renamed into place, then `LATEST` is replaced with
`os.replace`; both are atomic on POSIX file systems, so a reader never sees a half-written index, whenever
the writer dies. Old versions beyond `keep` are deleted after publishing, never the one `LATEST` names.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time

import numpy as np

from realm.errors import RealmError

logger = logging.getLogger(__name__)

LATEST = "LATEST"
META = "meta.json"
EMBEDDINGS = "embeddings.npy"
SCANN_DIR = "scann"
# Below this many blocks exact search is both exact and about as fast as ScaNN; above it ScaNN pays off.
EXACT_SEARCH_MAX_BLOCKS = 100_000
# Test hook (set by the sidecar from an environment variable): a pause between writing and publishing.
PUBLISH_PAUSE_SECONDS = 0.0
MIN_BLOCKS_SCANNED = 10_000  # per query, before re-ordering: see ScannParams.for_corpus


class BlockIndexError(RealmError):
    """An index directory is missing, incomplete or inconsistent."""


@dataclasses.dataclass(frozen=True)
class ScannParams:
    """ScaNN tree + asymmetric hashing + exact re-ordering, sized to the corpus (ORQA: 1000 leaves for 13M)."""

    num_leaves: int
    num_leaves_to_search: int
    dims_per_block: int = 2
    anisotropic_threshold: float = 0.2
    reorder: int = 100
    training_sample_size: int = 100_000

    @classmethod
    def for_corpus(cls, num_blocks: int, k: int) -> ScannParams:
        """A tenth of the leaves, as at 1M blocks (recall@10 0.967, `benchmarks/bench_refresh.py`), but never fewer
        than MIN_BLOCKS_SCANNED blocks: a small corpus has small leaves, and 4 of 26 leaves of 690 blocks found
        38-87% of the exact top 10 of warm-started MiniLM embeddings (ScaNN's k-means differs run to run). Scanning
        10,000 blocks per query costs little."""
        num_leaves = int(min(2000, max(16, round(math.sqrt(num_blocks)))))
        leaves_for_min_scan = math.ceil(num_leaves * min(1.0, MIN_BLOCKS_SCANNED / num_blocks))
        return cls(
            num_leaves=num_leaves,
            num_leaves_to_search=max(num_leaves // 10, leaves_for_min_scan),
            reorder=max(100, 4 * k),
            training_sample_size=min(num_blocks, 250_000),
        )


def build_searcher(embeddings: np.ndarray, k: int, params: ScannParams | None = None):
    import scann

    params = params or ScannParams.for_corpus(len(embeddings), k)
    return (
        scann.scann_ops_pybind.builder(embeddings, k, "dot_product")
        .tree(
            num_leaves=params.num_leaves,
            num_leaves_to_search=params.num_leaves_to_search,
            training_sample_size=params.training_sample_size,
        )
        .score_ah(params.dims_per_block, anisotropic_quantization_threshold=params.anisotropic_threshold)
        .reorder(params.reorder)
        .build()
    )


def version_name(embedder_step: int) -> str:
    return f"v{embedder_step:09d}"


def publish_index(
    index_dir: str,
    embeddings: np.ndarray,
    embedder_step: int,
    *,
    k: int = 100,
    method: str | None = None,
    keep: int = 3,
    extra_meta: dict | None = None,
) -> str:
    """Build and publish a new index version; returns its directory. Safe against a crash at any point."""
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    num_blocks, dim = embeddings.shape
    method = method or ("exact" if num_blocks <= EXACT_SEARCH_MAX_BLOCKS else "scann")
    os.makedirs(index_dir, exist_ok=True)
    name = version_name(embedder_step)
    final = os.path.join(index_dir, name)
    if os.path.exists(final):
        logger.info("index %s already published; keeping it", final)
        return final
    staging = os.path.join(index_dir, f".staging-{name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    started = time.time()
    np.save(os.path.join(staging, EMBEDDINGS), embeddings)
    params = None
    if method == "scann":
        params = ScannParams.for_corpus(num_blocks, k)
        searcher = build_searcher(embeddings, k, params)
        os.makedirs(os.path.join(staging, SCANN_DIR))
        # Relative asset paths: the version directory is renamed (and may be copied to other storage) later.
        searcher.serialize(os.path.join(staging, SCANN_DIR), relative_path=True)
    meta = {
        "embedder_step": int(embedder_step),
        "num_blocks": int(num_blocks),
        "dim": int(dim),
        "method": method,
        "scann": dataclasses.asdict(params) if params else None,
        "build_seconds": time.time() - started,
        "published_at": time.time(),
        **(extra_meta or {}),
    }
    with open(os.path.join(staging, META), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    if PUBLISH_PAUSE_SECONDS:
        time.sleep(PUBLISH_PAUSE_SECONDS)
    os.rename(staging, final)
    _write_latest(index_dir, name)
    prune_versions(index_dir, keep)
    logger.info("published index %s (%d blocks, %s, %.1fs)", final, num_blocks, method, meta["build_seconds"])
    return final


def _write_latest(index_dir: str, name: str) -> None:
    tmp = os.path.join(index_dir, f".{LATEST}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(index_dir, LATEST))


def latest_version(index_dir: str) -> str | None:
    """Name of the newest complete version, or None when nothing was published yet."""
    try:
        with open(os.path.join(index_dir, LATEST), encoding="utf-8") as f:
            name = f.read().strip()
    except FileNotFoundError:
        return None
    return name or None


def list_versions(index_dir: str) -> list[str]:
    if not os.path.isdir(index_dir):
        return []
    return sorted(
        n for n in os.listdir(index_dir) if n.startswith("v") and os.path.exists(os.path.join(index_dir, n, META))
    )


def prune_versions(index_dir: str, keep: int) -> None:
    current = latest_version(index_dir)
    versions = [v for v in list_versions(index_dir) if v != current]
    for name in versions[: max(0, len(versions) - (keep - 1))]:
        shutil.rmtree(os.path.join(index_dir, name), ignore_errors=True)
    # Staging leftovers of writers that died mid-build.
    for name in os.listdir(index_dir):
        if name.startswith(".staging-") and not name.endswith(f"-{os.getpid()}"):
            path = os.path.join(index_dir, name)
            if time.time() - os.path.getmtime(path) > 3600:
                shutil.rmtree(path, ignore_errors=True)


class BlockIndex:
    """A loaded index version: top-k block ids by inner product, with ScaNN when it was built with it."""

    def __init__(self, path: str):
        meta_path = os.path.join(path, META)
        if not os.path.exists(meta_path):
            raise BlockIndexError(f"{path}: not a complete index version (no {META})")
        with open(meta_path, encoding="utf-8") as f:
            self.meta = json.load(f)
        self.path = path
        self.name = os.path.basename(path.rstrip("/"))
        self.embedder_step = int(self.meta["embedder_step"])
        self.embeddings = np.load(os.path.join(path, EMBEDDINGS), mmap_mode="r")
        if self.embeddings.shape != (self.meta["num_blocks"], self.meta["dim"]):
            raise BlockIndexError(f"{path}: embeddings shape {self.embeddings.shape} disagrees with {META}")
        self._searcher = None
        if self.meta["method"] == "scann":
            import scann

            self._searcher = scann.scann_ops_pybind.load_searcher(os.path.join(path, SCANN_DIR))

    @classmethod
    def load_latest(cls, index_dir: str) -> BlockIndex | None:
        name = latest_version(index_dir)
        return None if name is None else cls(os.path.join(index_dir, name))

    def __len__(self) -> int:
        return int(self.meta["num_blocks"])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids [q, k] int64, scores [q, k] float32), best first; k is capped at the corpus size."""
        queries = np.asarray(queries, dtype=np.float32)
        k = min(k, len(self))
        if self._searcher is not None:
            ids, scores = self._searcher.search_batched(queries, final_num_neighbors=k)
            return ids.astype(np.int64), scores.astype(np.float32)
        scores = queries @ np.asarray(self.embeddings).T
        top = np.argpartition(-scores, kth=k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1).astype(np.int64), np.take_along_axis(top_scores, order, axis=1)
