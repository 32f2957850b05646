"""Checkpoint conversion into this project's directory format (HF layout, safetensors, vocab alongside).

Three sources: a Hugging Face REALM directory (any of the five classes, detected from config.json), one of
Google's original TF checkpoints (with the config describing it), or a plain BERT directory for a warm start.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from realm import pretrained
from realm.config import RealmConfig
from realm.errors import CheckpointError, RealmConfigError

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ConversionReport:
    architecture: str
    source: str
    output_dir: str
    num_tensors: int
    num_parameters: int

    def summary(self) -> str:
        return (
            f"converted {self.architecture} from {self.source}\n"
            f"  {self.num_tensors} tensors, {self.num_parameters:,} parameters\n"
            f"  written to {self.output_dir}"
        )


def _report(model, source: str, out: str) -> ConversionReport:
    from realm.checkpoints.weight_map import model_specs

    specs = model_specs(model)
    return ConversionReport(
        architecture=type(model).__name__,
        source=source,
        output_dir=out,
        num_tensors=len(specs),
        num_parameters=sum(int(s.variable.numpy().size) for s in specs),
    )


def _vocab_in(directory: str) -> str | None:
    path = os.path.join(directory, pretrained.VOCAB_NAME)
    return path if os.path.exists(path) else None


def convert_hf(source: str, out: str, vocab_file: str | None = None) -> ConversionReport:
    model = pretrained.from_pretrained(source)
    pretrained.save_pretrained(model, out, vocab_file=vocab_file or _vocab_in(source))
    return _report(model, source, out)


def convert_tf(
    checkpoint: str,
    config_file: str,
    architecture: str,
    out: str,
    block_records: str | None = None,
    vocab_file: str | None = None,
) -> ConversionReport:
    from realm.checkpoints.google_tf import read_tf_checkpoint, resolve_tf_checkpoint
    from realm.checkpoints.loading import load_state_dict

    config = RealmConfig.from_json_file(config_file).replace(architecture=architecture)
    records = None
    if architecture == "RealmForOpenQA":
        if not block_records:
            raise CheckpointError("converting a RealmForOpenQA TF checkpoint needs --block-records")
        records = pretrained.load_block_records(block_records, config.num_block_records)
    tokenizer = None
    if vocab_file and architecture == "RealmForOpenQA":
        from realm.tokenization import RealmTokenizer

        tokenizer = RealmTokenizer(vocab_file)
    state = read_tf_checkpoint(checkpoint, architecture)
    model = pretrained.build_model(config, architecture, tokenizer=tokenizer, block_records=records)
    load_state_dict(model, state, source=resolve_tf_checkpoint(checkpoint))
    pretrained.save_pretrained(model, out, vocab_file=vocab_file)
    return _report(model, checkpoint, out)


def convert_bert(
    bert_dir: str, architecture: str, out: str, preset_name: str | None = None, **overrides
) -> ConversionReport:
    """A REALM model whose BERT towers start from `bert_dir` (sizes read from its config.json)."""
    from realm.checkpoints.bert import read_bert_config, warm_start_from_bert
    from realm.presets import model_config

    if architecture == "RealmForOpenQA":
        raise RealmConfigError("a warm start has no block index; build RealmForOpenQA from an embedded corpus")
    base = read_bert_config(bert_dir)
    if preset_name:
        base = model_config(
            preset_name,
            **{
                k: getattr(base, k)
                for k in (
                    "vocab_size",
                    "hidden_size",
                    "num_hidden_layers",
                    "num_attention_heads",
                    "intermediate_size",
                    "hidden_act",
                )
            },
        )
    config = base.replace(architecture=architecture, **overrides)
    model = pretrained.build_model(config, architecture)
    warm_start_from_bert(model, bert_dir)
    pretrained.save_pretrained(model, out, vocab_file=_vocab_in(bert_dir))
    return _report(model, bert_dir, out)
