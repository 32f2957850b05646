"""PretrainConfig: what a REALM pre-training run does, in a module that imports no TensorFlow (the CLI reads its
defaults to show them in --help)."""

from __future__ import annotations

import dataclasses

from realm.config import RealmConfig
from realm.errors import RealmError


class PretrainingError(RealmError):
    pass


@dataclasses.dataclass
class PretrainConfig:
    output_dir: str
    data_dir: str  # output of `realm preprocess` (block store + examples)
    model: RealmConfig = dataclasses.field(default_factory=RealmConfig)
    init_bert: str | None = None  # plain BERT dir (e.g. MiniLM) to warm-start both towers
    init_embedder: str | None = None  # RealmEmbedder/RealmScorer dir (e.g. an ICT run)
    init_encoder: str | None = None  # RealmKnowledgeAugEncoder dir
    steps: int = 1000
    batch_size: int = 8
    learning_rate: float = 3e-5
    warmup_steps: int | None = None
    # Peak learning rate of the retriever (embedder) when it should differ from the encoder's: a fresh MLM head
    # wants a high rate, while the retriever's gradient is only as good as that head. None: one optimizer for
    # both, as REALM. Otherwise the retriever gets its own AdamW, whose schedule starts after the MLM warm-up.
    retriever_learning_rate: float | None = None
    # Steps at the start that train only the knowledge-augmented encoder, the retriever frozen: a warm start
    # without an MLM head (MiniLM) otherwise back-propagates the noise of a random head into the retriever.
    mlm_warmup_steps: int = 0
    # During that warm-up, the candidates are the null document and the block holding the sentence (the trivial
    # retrieval), equally likely: the encoder learns to read a block that holds the span before the retriever
    # depends on it, at a fraction of a full step's cost (no retrieval, two candidates instead of k).
    mlm_warmup_own_block: bool = False
    # With the own-block warm-up, also this many retrieved blocks (initial index, trivial retrieval dropped), and
    # each candidate trained on its own rather than through the marginal. An encoder warmed on its own block only
    # learns to copy from whatever block it is shown; the blocks the retriever brings next then cost it more
    # than the null document, and the retriever answers by moving all of p(z|x) to the null document. Trained
    # on blocks that do not hold the span too, it learns to ignore them (measured on the sample: a retrieved
    # distractor then costs 0.005 nats against the null document).
    mlm_warmup_distractors: int = 0
    # Before the first step of a fresh run, this many steps that train only the MLM head (encoder frozen) to read
    # back each wordpiece of random blocks: a warm start without an MLM head (MiniLM) still knows at its top layer
    # which wordpiece sits where, but a random head scrambles it, and the encoder's attention then gets no signal
    # to copy from a block (see realm.pretraining.head_fit). Skipped when the run resumes or the encoder comes
    # with its own head (--init-encoder).
    mlm_head_fit_steps: int = 0
    # What a query may not retrieve: "block" (REALM: the block holding the query's sentence) or "article" (every
    # block of its article; stricter, and on a small corpus it hides most blocks that mention the span). "none"
    # keeps the trivial retrieval: not REALM (the retriever is then rewarded for finding the sentence itself, a
    # block the encoder can copy the span from), but a positive control that the MLM signal reaches the
    # retriever through the marginal whenever a retrievable block truly helps the encoder.
    trivial_retrieval: str = "block"
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    query_seq_len: int = 96
    candidate_seq_len: int = 288
    max_masks: int = 10
    holdout_every: int = 20  # 1 sentence in N is kept out of training for `realm evaluate-retriever`
    refresh_every: int = 500  # steps between embedder exports (REALM: ~500)
    # The index may lag the retriever by any number of steps (REALM's asynchronous refresh: the trainer never
    # waits). With a bound, a step whose index is more retriever steps stale than this waits for the newest
    # export's index first: a slow sidecar then slows training instead of letting it drift. At least
    # refresh_every, since exports come only that often.
    max_staleness_steps: int | None = None
    # How the sidecar indexes: "auto" (exact search up to 100,000 blocks, where it is about as fast; ScaNN above),
    # "scann" or "exact" whatever the corpus size.
    index_method: str = "auto"
    checkpoint_every: int = 500
    log_every: int = 10
    keep_checkpoints: int = 3
    seed: int = 0
    jit_compile: bool = True
    refresh_batch_size: int = 128
    max_sidecar_restarts: int = 3
    first_index_timeout: float = 3600.0
    refresh_device: str | None = None  # GPU positions of the sidecar's own (the trainer leaves them); None: it shares
    distribute: str = "auto"  # "auto" (by the hardware) or "mirrored" (MirroredStrategy over every device)
    precision: str = "auto"  # "auto" (bfloat16 on GPUs that have it), "float32" or "mixed_bfloat16"

    @property
    def joint_seq_len(self) -> int:
        return self.query_seq_len + self.candidate_seq_len
