"""`from_pretrained` / `save_pretrained`: one directory format shared with Hugging Face.

A directory holds `config.json` (HF `RealmConfig` fields, `architectures` naming the class),
`model.safetensors` (HF tensor names) or `pytorch_model.bin`, and for open-QA `block_records.npy`; we add
`vocab.txt` so the in-graph tokenizer travels with the weights. HF's own REALM checkpoints therefore load
as is, and what we save loads in HF too.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np

from realm.checkpoints.loading import extract_state_dict, load_state_dict
from realm.checkpoints.state_dict import SAFETENSORS_NAME, find_weights_file, read_state_dict, write_safetensors
from realm.config import ARCHITECTURES, RealmConfig
from realm.errors import CheckpointError, RealmConfigError

logger = logging.getLogger(__name__)

BLOCK_RECORDS_NAME = "block_records.npy"
BLOCK_TITLES_NAME = "block_titles.json"  # ours: each block's title, for evaluation reports, serving and the reader
VOCAB_NAME = "vocab.txt"


def model_class(architecture: str):
    from realm.modeling import models

    if architecture not in ARCHITECTURES:
        raise RealmConfigError(f"unknown REALM architecture {architecture!r}; expected one of {ARCHITECTURES}")
    return getattr(models, architecture)


def infer_architecture(state: dict[str, np.ndarray], source: str) -> str:
    """Which class the weights file `source` belongs to, from its tensor names (configs without `architectures`)."""
    names = set(state)
    if "block_emb" in names:
        return "RealmForOpenQA"
    if any(n.startswith("qa_outputs.") for n in names):
        return "RealmReader"
    if any(n.startswith("embedder.") for n in names):
        return "RealmScorer"
    if any(n.startswith("cls.dense.") for n in names):
        return "RealmEmbedder"
    if any(n.startswith("cls.predictions.") for n in names):
        return "RealmKnowledgeAugEncoder"
    raise CheckpointError(
        f"{source}: cannot tell which REALM model these weights belong to (no known tensor names), "
        "and config.json names no `architectures`"
    )


def load_block_records(path: str, expected: int) -> np.ndarray:
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: block records not found (RealmForOpenQA needs the corpus texts)")
    try:
        # HF's block_records.npy is an object array of bytes, which numpy can only store pickled.
        records = np.load(path, allow_pickle=True)
    except (ValueError, OSError, EOFError) as err:
        raise CheckpointError(f"{path}: cannot read block records (truncated or corrupt?): {err}") from err
    if records.ndim != 1 or records.shape[0] != expected:
        raise CheckpointError(
            f"{path}: {records.shape[0] if records.ndim else 0} block records, config.num_block_records is {expected}"
        )
    return records


def load_block_titles(path: str, expected: int) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            titles = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: block titles not found (this model's reader reads them)") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: cannot read block titles (truncated or corrupt?): {err}") from err
    if not isinstance(titles, list) or len(titles) != expected:
        count = len(titles) if isinstance(titles, list) else "no list of"
        raise CheckpointError(f"{path}: {count} block titles, config.num_block_records is {expected}")
    return titles


def build_model(
    config: RealmConfig,
    architecture: str,
    *,
    tokenizer=None,
    block_records=None,
    block_titles=None,
    share_query_embedder: bool = True,
):
    cls = model_class(architecture)
    if architecture == "RealmForOpenQA":
        model = cls(config, tokenizer=tokenizer, block_records=block_records, block_titles=block_titles)
    elif architecture == "RealmScorer":
        model = cls(config, share_query_embedder=share_query_embedder)
    else:
        model = cls(config)
    return model.build_for_inference()


def _scorer_shares_query_embedder(state: dict[str, np.ndarray]) -> bool:
    query_names = [n for n in state if n.startswith("query_embedder.")]
    if not query_names:
        return True
    return all(
        n.replace("query_embedder.", "embedder.", 1) in state
        and np.array_equal(state[n], state[n.replace("query_embedder.", "embedder.", 1)])
        for n in query_names
    )


def from_pretrained(directory: str, architecture: str | None = None):
    """Load the REALM model a directory holds (HF checkpoint or one written by `save_pretrained`)."""
    if not os.path.isdir(directory):
        raise CheckpointError(f"{directory}: checkpoint directory not found")
    config = RealmConfig.from_pretrained(directory)
    weights_file = find_weights_file(directory)
    state = read_state_dict(weights_file)
    architecture = architecture or config.architecture or infer_architecture(state, weights_file)
    config.architecture = architecture
    tokenizer = None
    block_records = block_titles = None
    if architecture == "RealmForOpenQA":
        from realm.tokenization import RealmTokenizer

        vocab = os.path.join(directory, VOCAB_NAME)
        tokenizer = RealmTokenizer(vocab) if os.path.exists(vocab) else RealmTokenizer.from_default_vocab()
        block_records = load_block_records(os.path.join(directory, BLOCK_RECORDS_NAME), config.num_block_records)
        from realm.modeling.models.open_qa import ARTICLE_SCORE_WEIGHT_KEY, LEXICAL_WEIGHT_KEY, READER_TITLES_KEY

        if any(config.extra.get(k) for k in (READER_TITLES_KEY, ARTICLE_SCORE_WEIGHT_KEY, LEXICAL_WEIGHT_KEY)):
            block_titles = load_block_titles(os.path.join(directory, BLOCK_TITLES_NAME), config.num_block_records)
    share = _scorer_shares_query_embedder(state) if architecture == "RealmScorer" else True
    model = build_model(
        config,
        architecture,
        tokenizer=tokenizer,
        block_records=block_records,
        block_titles=block_titles,
        share_query_embedder=share,
    )
    load_state_dict(model, state, source=weights_file)
    if architecture == "RealmForOpenQA" and model.lexical_weight:
        from realm.retrieval.lexical import LexicalIndex

        # Built from the blocks and titles the model holds, so it cannot fall out of step with them.
        model.set_lexical_index(LexicalIndex.build(block_records, block_titles))
    logger.info("loaded %s from %s", architecture, directory)
    return model


def load_embedder(directory: str):
    """The RealmEmbedder a directory holds: a RealmEmbedder checkpoint, or a RealmScorer's document embedder
    (what ICT, pre-training and `realm convert` write are both used to start a retriever)."""
    model = from_pretrained(directory)
    return getattr(model, "embedder", model)


def save_pretrained(model, directory: str, vocab_file: str | None = None) -> str:
    """Write config.json + model.safetensors (+ block_records.npy, vocab.txt) in HF's layout."""
    os.makedirs(directory, exist_ok=True)
    architecture = type(model).__name__
    config = model.config.replace(architecture=architecture)
    write_safetensors(extract_state_dict(model), os.path.join(directory, SAFETENSORS_NAME))
    if architecture == "RealmForOpenQA":
        tmp = os.path.join(directory, f".{BLOCK_RECORDS_NAME}.tmp.npy")
        np.save(tmp, np.asarray(model.block_records.numpy(), dtype=object), allow_pickle=True)
        os.replace(tmp, os.path.join(directory, BLOCK_RECORDS_NAME))
        if model.block_titles is not None:
            titles = [t.decode("utf-8") for t in model.block_titles.numpy()]
            tmp = os.path.join(directory, f".{BLOCK_TITLES_NAME}.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(titles, f, ensure_ascii=False)
            os.replace(tmp, os.path.join(directory, BLOCK_TITLES_NAME))
        vocab_file = vocab_file or model.tokenizer.vocab_path
    if vocab_file:
        shutil.copyfile(vocab_file, os.path.join(directory, VOCAB_NAME))
    config.save(directory)  # last: a directory with a config.json is complete
    return directory
