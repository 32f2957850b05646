"""One configuration dataclass for every REALM model, field-compatible with Hugging Face's `RealmConfig`.

Keeping HF's field names and defaults means an HF `config.json` reads as is and a converted checkpoint carries
its exact hyperparameters; the few HF-only bookkeeping keys (`architectures`, `transformers_version`, ...) are
kept aside so a round trip loses nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from realm.errors import RealmConfigError

SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh")
# The fields a REALM config shares with a plain BERT config.json (a warm start's sizes).
BERT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
)
# The model classes a saved directory can hold (HF's five REALM classes), named in config.json's `architectures`.
ARCHITECTURES = (
    "RealmEmbedder",
    "RealmScorer",
    "RealmKnowledgeAugEncoder",
    "RealmReader",
    "RealmForOpenQA",
)


@dataclasses.dataclass
class RealmConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    retriever_proj_size: int = 128
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_candidates: int = 8
    intermediate_size: int = 3072
    hidden_act: str = "gelu_new"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    span_hidden_size: int = 256
    max_span_width: int = 10
    reader_layer_norm_eps: float = 1e-3
    reader_beam_size: int = 5
    reader_seq_len: int = 320
    num_block_records: int = 13353718
    searcher_beam_size: int = 5000
    # HF keeps these for generation utilities; REALM never uses them but they round-trip.
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    # Which model class a saved directory holds ("RealmEmbedder", "RealmForOpenQA", ...), as HF's
    # `architectures[0]`; None for a bare config.
    architecture: str | None = None
    # Keys from a foreign config.json that we do not interpret, preserved for round trips.
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise RealmConfigError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise RealmConfigError(
                f"hidden_act {self.hidden_act!r} is not supported; choose one of {SUPPORTED_ACTIVATIONS}"
            )
        for name in (
            "vocab_size",
            "hidden_size",
            "retriever_proj_size",
            "num_hidden_layers",
            "num_candidates",
            "intermediate_size",
            "max_position_embeddings",
            "span_hidden_size",
            "max_span_width",
            "reader_beam_size",
            "reader_seq_len",
            "searcher_beam_size",
        ):
            if getattr(self, name) <= 0:
                raise RealmConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.reader_beam_size > self.searcher_beam_size:
            raise RealmConfigError(
                f"reader_beam_size ({self.reader_beam_size}) cannot exceed searcher_beam_size "
                f"({self.searcher_beam_size})"
            )

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # ----------------------------------------------------------------------------------------------- dict / JSON
    def to_dict(self) -> dict[str, Any]:
        """HF-style flat dict: our fields, `model_type`, `architectures`, then any preserved foreign keys."""
        out: dict[str, Any] = dict(self.extra)
        for field in dataclasses.fields(self):
            if field.name in ("extra", "architecture"):
                continue
            out[field.name] = getattr(self, field.name)
        out["model_type"] = "realm"
        if self.architecture:
            out["architectures"] = [self.architecture]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> RealmConfig:
        data = dict(data)
        model_type = data.pop("model_type", "realm")
        if model_type != "realm":
            raise RealmConfigError(
                f"{source}: model_type is {model_type!r}, expected 'realm' "
                "(use RealmConfig.from_bert_dict for a plain BERT config)"
            )
        architectures = data.pop("architectures", None) or [None]
        known = {f.name for f in dataclasses.fields(cls)} - {"extra", "architecture"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        extra.pop("extra", None)
        try:
            return cls(**kwargs, architecture=architectures[0], extra=extra)
        except TypeError as err:  # pragma: no cover - dataclass guards
            raise RealmConfigError(f"{source}: {err}") from err

    @classmethod
    def from_bert_dict(cls, data: dict[str, Any], **overrides: Any) -> RealmConfig:
        """A REALM config whose BERT part matches a plain BERT `config.json` (for warm starts)."""
        model_type = data.get("model_type", "bert")
        if model_type != "bert":
            raise RealmConfigError(f"expected a BERT config, got model_type {model_type!r}")
        kwargs = {k: data[k] for k in BERT_FIELDS if k in data}
        kwargs.update(overrides)
        return cls(**kwargs)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save(self, directory: str) -> str:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "config.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json_string())
        return path

    @classmethod
    def from_json_file(cls, path: str) -> RealmConfig:
        if not os.path.exists(path):
            raise RealmConfigError(f"{path}: config file not found")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as err:
            raise RealmConfigError(f"{path}: not valid JSON ({err})") from err
        if not isinstance(data, dict):
            raise RealmConfigError(f"{path}: expected a JSON object")
        return cls.from_dict(data, source=path)

    @classmethod
    def from_pretrained(cls, directory: str) -> RealmConfig:
        return cls.from_json_file(os.path.join(directory, "config.json"))

    def replace(self, **changes: Any) -> RealmConfig:
        return dataclasses.replace(self, **changes)
