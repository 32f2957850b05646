"""Checkpoint interop: Google TF checkpoints, plain-BERT warm start, HF round trips, and clear load errors."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from realm import convert, pretrained
from realm.cli import main as cli_main
from realm.errors import CheckpointError, RealmConfigError
from tests import test_open_qa
from tests.conftest import TINY_HF_CONFIG
from tests.test_parity_hf import _random_inputs, _reader_case, assert_scorer_matches

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ATOL = 1e-4

# test_open_qa's tiny HF RealmForOpenQA checkpoint (10 real sentences as blocks); bound here so pytest offers it.
hf_open_qa_checkpoint = test_open_qa.checkpoints


def _t(x):
    return torch.tensor(np.asarray(x), dtype=torch.long)


def _ids(rng, shape, vocab=99):
    return rng.randint(0, vocab, size=shape).astype(np.int32)


# --------------------------------------------------------------------------------- Google TF checkpoints
# Where each HF sub-module lives in Google's checkpoints. "RealmEmbedder" is the fine-tuned ORQA retriever;
# "RealmEmbedder-pretrained" is REALM pre-training's embedder, one `module/` scope less deep.
_TF_LAYOUTS = {
    "RealmKnowledgeAugEncoder": [("realm.", "bert/"), ("cls.predictions.", "cls/predictions/")],
    "RealmReader": [
        ("realm.", "reader/module/bert/"),
        ("cls.predictions.", "reader/module/cls/predictions/"),
        ("qa_outputs.dense_intermediate.", "reader/dense/"),
        ("qa_outputs.dense_output.", "reader/dense_1/"),
        ("qa_outputs.layer_normalization.", "reader/layer_normalization/"),
    ],
    "RealmEmbedder": [
        ("realm.", "module/module/module/module/bert/"),
        ("cls.dense.", "module/module/module/dense/"),
        ("cls.LayerNorm.", "module/module/module/LayerNorm/"),
    ],
    "RealmEmbedder-pretrained": [
        ("realm.", "module/module/module/bert/"),
        ("cls.dense.", "module/module/dense/"),
        ("cls.LayerNorm.", "module/module/LayerNorm/"),
    ],
}


def _tf_variable_name(hf_name: str, layout: str) -> tuple[str, bool]:
    """HF name -> the name Google's REALM/ORQA code gives the variable (written independently of the loader)."""
    if layout == "RealmForOpenQA":  # ORQA: the fine-tuned retriever and reader side by side, plus the index
        if hf_name == "block_emb":
            return hf_name, False
        tower, rest = hf_name.split(".", 1)
        return _tf_variable_name(rest, {"embedder": "RealmEmbedder", "reader": "RealmReader"}[tower])
    for old, new in _TF_LAYOUTS[layout]:  # noqa: B007 - `new` is used after the loop
        if hf_name.startswith(old):
            rest = hf_name[len(old) :]
            break
    else:
        raise KeyError(hf_name)
    rest = re.sub(r"layer\.(\d+)", r"layer_\1", rest)
    parts = rest.split(".")
    full = new + rest
    is_norm = "LayerNorm" in full or "layer_normalization" in full
    transpose = False
    if parts[-1] == "weight":
        if len(parts) > 1 and parts[-2].endswith("_embeddings"):
            parts = parts[:-1]
        elif is_norm:
            parts[-1] = "gamma"
        else:
            parts[-1], transpose = "kernel", True
    elif parts[-1] == "bias":
        if is_norm:
            parts[-1] = "beta"
        elif len(parts) == 1 and new.endswith("predictions/"):
            parts[-1] = "output_bias"
    return new + "/".join(parts), transpose


def _has_no_tf_variable(hf_name: str, layout: str) -> bool:
    """Buffers, tied decoder copies, and the MLM head HF gives every embedder but Google's retriever lacks."""
    embedder_mlm_head = {"RealmForOpenQA": "embedder.cls.predictions."}.get(
        layout, "cls.predictions." if layout.startswith("RealmEmbedder") else None
    )
    return hf_name.endswith(("position_ids", "decoder.weight", "decoder.bias")) or bool(
        embedder_mlm_head and hf_name.startswith(embedder_mlm_head)
    )


def _write_tf1_checkpoint(state: dict[str, np.ndarray], layout: str, directory: str) -> str:
    with tf.Graph().as_default():
        variables = []
        for hf_name, array in state.items():
            if _has_no_tf_variable(hf_name, layout):
                continue
            name, transpose = _tf_variable_name(hf_name, layout)
            value = array.T if transpose else array
            variables.append(tf.compat.v1.Variable(value, name=name))
        # Optimizer slots and the step counter must be skipped by the reader.
        variables.append(tf.compat.v1.Variable(np.zeros(3, np.float32), name="bert/pooler/dense/bias/adam_m"))
        variables.append(tf.compat.v1.Variable(0, dtype=tf.int64, name="global_step"))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, os.path.join(directory, "model.ckpt"))


@pytest.mark.parametrize("architecture", ["RealmEmbedder", "RealmKnowledgeAugEncoder", "RealmReader"])
def test_google_tf_checkpoint_conversion(tmp_path, rng, architecture):
    torch.manual_seed(5)
    hf_config = transformers.RealmConfig(**TINY_HF_CONFIG)
    hf = getattr(transformers, architecture)(hf_config).eval()
    state = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    prefix = _write_tf1_checkpoint(state, architecture, str(tmp_path / "tf"))
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(hf_config.to_dict()))
    out = tmp_path / "converted"
    report = convert.convert_tf(prefix, str(config_file), architecture, str(out))
    assert report.architecture == architecture
    ours = pretrained.from_pretrained(str(out))
    ids = _ids(rng, (2, 10))
    with torch.no_grad():
        hidden = hf.realm(input_ids=_t(ids))[0].numpy()
    np.testing.assert_allclose(ours.bert(ids)["sequence_output"].numpy(), hidden, atol=ATOL)
    if architecture == "RealmEmbedder":
        with torch.no_grad():
            ref = hf(input_ids=_t(ids)).projected_score.numpy()
        np.testing.assert_allclose(ours(ids)["projected_score"].numpy(), ref, atol=ATOL)
    if architecture == "RealmKnowledgeAugEncoder":
        with torch.no_grad():
            ref = hf(input_ids=_t(ids[:, None, :])).logits.numpy()
        np.testing.assert_allclose(ours(ids[:, None, :])["logits"].numpy().reshape(ref.shape), ref, atol=ATOL)
    if architecture == "RealmReader":
        np.testing.assert_allclose(
            ours.span_scorer.dense_output.kernel.numpy()[:, 0],
            state["qa_outputs.dense_output.weight"][0],
            atol=0,
        )


def test_tf_checkpoint_errors(tmp_path):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(TINY_HF_CONFIG))
    with pytest.raises(CheckpointError, match="no TensorFlow checkpoint found"):
        convert.convert_tf(str(tmp_path), str(config_file), "RealmEmbedder", str(tmp_path / "out"))


def _load_tf_with_hf(model, prefix: str):
    """HF's own reading of a Google checkpoint: the reference our `--from-tf` has to reproduce."""
    from transformers.models.realm.modeling_realm import load_tf_weights_in_realm

    return load_tf_weights_in_realm(model, model.config, prefix).eval()


def _convert_tf_with_cli(prefix: str, config_file: str, architecture: str, out, *extra: str):
    args = ["convert", "--from-tf", prefix, "--config", config_file, "--architecture", architecture]
    assert cli_main([*args, "--out", str(out), *extra]) == 0
    return pretrained.from_pretrained(str(out))


def _assert_outputs_match_hf(architecture: str, hf, ours, rng) -> None:
    if architecture == "RealmEmbedder":
        ids, mask, tt = _random_inputs(rng, (4,), 13, 99, pad_from=6)
        with torch.no_grad():
            ref = hf(input_ids=_t(ids), attention_mask=_t(mask), token_type_ids=_t(tt)).projected_score.numpy()
        np.testing.assert_allclose(ours(ids, mask, tt)["projected_score"].numpy(), ref, atol=ATOL)
    elif architecture == "RealmScorer":
        assert_scorer_matches(ours, hf, rng)
    elif architecture == "RealmKnowledgeAugEncoder":
        ids, mask, tt = _random_inputs(rng, (2, 3), 12, 99, pad_from=9)
        with torch.no_grad():
            ref = hf(input_ids=_t(ids), attention_mask=_t(mask), token_type_ids=_t(tt)).logits.numpy()
        np.testing.assert_allclose(ours(ids, mask, tt)["logits"].numpy().reshape(ref.shape), ref, atol=ATOL)
    elif architecture == "RealmReader":
        ids, mask, tt, block_mask, relevance, *_ = _reader_case(rng, 3, 5, 16, 2)
        with torch.no_grad():
            ref = hf(
                input_ids=_t(ids),
                attention_mask=_t(mask),
                token_type_ids=_t(tt),
                relevance_score=torch.tensor(relevance),
                block_mask=torch.tensor(block_mask),
            )
            hidden = hf.realm(input_ids=_t(ids), attention_mask=_t(mask), token_type_ids=_t(tt))[0]
            ref_logits = hf.qa_outputs(hidden, torch.tensor(block_mask))[0] + torch.tensor(relevance[:3])[:, None]
        out = ours(ids, mask, tt, relevance_score=relevance, block_mask=block_mask)
        valid = ref_logits.numpy() > -1e30  # spans HF masks out (outside the block, too wide)
        np.testing.assert_allclose(out["logits"].numpy()[valid], ref_logits.numpy()[valid], atol=ATOL)
        for field in ("block_idx", "candidate", "start_pos", "end_pos"):
            assert int(out[field]) == int(np.ravel(getattr(ref, field).numpy())[0]), field
    else:
        raise AssertionError(architecture)


# (layout the checkpoint is written in, class it is loaded as): every class HF's loader reads from Google's layout.
@pytest.mark.parametrize(
    ("layout", "architecture"),
    [
        ("RealmEmbedder", "RealmEmbedder"),
        ("RealmEmbedder-pretrained", "RealmEmbedder"),
        ("RealmEmbedder", "RealmScorer"),
        ("RealmKnowledgeAugEncoder", "RealmKnowledgeAugEncoder"),
        ("RealmReader", "RealmReader"),
    ],
)
def test_google_tf_checkpoint_loads_like_hf_loader(tmp_path, rng, layout, architecture):
    hf_config = transformers.RealmConfig(**TINY_HF_CONFIG)
    torch.manual_seed(12)
    source = getattr(transformers, layout.split("-")[0])(hf_config)
    state = {k: v.detach().numpy() for k, v in source.state_dict().items()}
    prefix = _write_tf1_checkpoint(state, layout, str(tmp_path))
    torch.manual_seed(13)  # a different initialisation, so anything HF's loader skips shows up as a difference
    hf = _load_tf_with_hf(getattr(transformers, architecture)(hf_config), prefix)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(hf_config.to_dict()))
    ours = _convert_tf_with_cli(prefix, str(config_file), architecture, tmp_path / "converted")
    assert type(ours).__name__ == architecture
    _assert_outputs_match_hf(architecture, hf, ours, rng)


def _assert_open_qa_matches_hf(ours, hf, tokenizer) -> None:
    """Same question embeddings, retrieved blocks, chosen block and answer span as HF's RealmForOpenQA."""
    out = ours(test_open_qa.QUESTIONS)
    for b, question in enumerate(test_open_qa.QUESTIONS):
        inputs = tokenizer([question], return_tensors="np")
        with torch.no_grad():
            ref_emb = hf.embedder(**{k: torch.tensor(v) for k, v in inputs.items()}).projected_score.numpy()
        ours_emb = ours.embedder(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
        np.testing.assert_allclose(ours_emb["projected_score"].numpy(), ref_emb, atol=ATOL)
        retrieved, ref = test_open_qa._hf_answer(hf, tokenizer, question)
        np.testing.assert_array_equal(out["retrieved_block_ids"].numpy()[b], retrieved)
        assert int(out["block_idx"][b]) == int(ref.reader_output.block_idx)
        assert int(out["start_pos"][b]) == int(ref.reader_output.start_pos[0])
        assert int(out["end_pos"][b]) == int(ref.reader_output.end_pos[0])


def test_google_tf_open_qa_checkpoint_loads_like_hf_loader(tmp_path, hf_open_qa_checkpoint):
    from realm.resources import default_vocab_file

    source, tokenizer, directory = hf_open_qa_checkpoint
    state = {k: v.detach().numpy() for k, v in source.state_dict().items()}
    prefix = _write_tf1_checkpoint(state, "RealmForOpenQA", str(tmp_path))
    torch.manual_seed(14)
    hf = _load_tf_with_hf(transformers.RealmForOpenQA(source.config, retriever=source.retriever), prefix)
    ours = _convert_tf_with_cli(
        prefix,
        os.path.join(directory, "config.json"),
        "RealmForOpenQA",
        tmp_path / "converted",
        "--block-records",
        os.path.join(directory, "block_records.npy"),
        "--vocab",
        default_vocab_file(),
    )
    np.testing.assert_array_equal(ours.block_emb.numpy(), hf.block_emb.numpy())
    _assert_open_qa_matches_hf(ours, hf, tokenizer)


# --------------------------------------------------------------------------------------- warm start (MiniLM)
@pytest.fixture(scope="module")
def hf_minilm():
    from realm.resources import minilm_dir

    return transformers.BertModel.from_pretrained(minilm_dir()).eval()


def test_minilm_warm_start_matches_hf_bert(tmp_path, rng, hf_minilm):
    from realm.resources import minilm_dir

    source = minilm_dir()
    report = convert.convert_bert(source, "RealmEmbedder", str(tmp_path / "embedder"))
    assert report.num_parameters > 22_000_000
    ours = pretrained.from_pretrained(str(tmp_path / "embedder"))
    assert ours.config.hidden_size == 384 and ours.config.hidden_act == "gelu"
    ids = _ids(rng, (2, 20), vocab=30522)
    mask = np.ones_like(ids)
    mask[1, 12:] = 0
    with torch.no_grad():
        ref = hf_minilm(input_ids=_t(ids), attention_mask=_t(mask))
    out = ours.bert(ids, mask)
    np.testing.assert_allclose(
        out["sequence_output"].numpy()[mask == 1], ref.last_hidden_state.numpy()[mask == 1], atol=ATOL
    )
    np.testing.assert_allclose(out["pooled_output"].numpy(), ref.pooler_output.numpy(), atol=ATOL)
    assert os.path.exists(tmp_path / "embedder" / "vocab.txt")


@pytest.fixture(scope="module")
def minilm_pair_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reader's and the encoder's input form: a question or masked sentence paired with a block, padded.

    HF's tokenizer is used because it is instant; our in-graph one gives the same ids (test_tokenization.py).
    """
    from realm.resources import default_vocab_file

    encoded = transformers.BertTokenizerFast(default_vocab_file())(
        ["who wrote j'accuse?", "where was abraham lincoln born?"],
        ["Émile Zola wrote J'Accuse…! in 1898.", "Lincoln was born on February 12, 1809, in Kentucky."],
        max_length=32,
        padding="max_length",
        truncation=True,
        return_tensors="np",
    )
    ids, mask, types = (encoded[k] for k in ("input_ids", "attention_mask", "token_type_ids"))
    assert 0 < mask.sum() < mask.size and types.any()
    return ids, mask, types


@pytest.mark.parametrize("architecture", ["RealmKnowledgeAugEncoder", "RealmReader"])
def test_minilm_warm_start_fills_encoder_and_reader(hf_minilm, minilm_pair_inputs, architecture):
    from realm.checkpoints.bert import warm_start_from_bert
    from realm.modeling import models
    from realm.presets import model_config
    from realm.resources import minilm_dir

    model = getattr(models, architecture)(model_config("minilm")).build_for_inference()
    warm_start_from_bert(model, minilm_dir())
    ids, mask, types = minilm_pair_inputs
    with torch.no_grad():
        ref = hf_minilm(input_ids=_t(ids), attention_mask=_t(mask), token_type_ids=_t(types)).last_hidden_state
    out = model.bert(ids, mask, types)["sequence_output"].numpy()
    np.testing.assert_allclose(out[mask == 1], ref.numpy()[mask == 1], atol=ATOL)


def test_warm_start_rejects_mismatched_sizes(tmp_path):
    from realm.checkpoints.bert import warm_start_from_bert
    from realm.modeling.models import RealmEmbedder
    from realm.presets import model_config
    from realm.resources import minilm_dir

    model = RealmEmbedder(model_config("tiny")).build_for_inference()
    with pytest.raises(CheckpointError, match="hidden_size: model 32 vs checkpoint 384") as caught:
        warm_start_from_bert(model, minilm_dir())
    assert str(caught.value).startswith(os.path.join(minilm_dir(), "config.json") + ": ")


# ----------------------------------------------------------------------------------- HF round trip and CLI
def test_save_pretrained_loads_in_transformers(tmp_path, rng):
    torch.manual_seed(6)
    hf = transformers.RealmKnowledgeAugEncoder(transformers.RealmConfig(**TINY_HF_CONFIG)).eval()
    hf.save_pretrained(str(tmp_path / "hf"), safe_serialization=False)
    assert cli_main(["convert", "--from-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "ours")]) == 0
    assert os.path.exists(tmp_path / "ours" / "model.safetensors")
    back = transformers.RealmKnowledgeAugEncoder.from_pretrained(str(tmp_path / "ours")).eval()
    ids = _ids(rng, (2, 1, 9))
    with torch.no_grad():
        np.testing.assert_allclose(
            back(input_ids=_t(ids)).logits.numpy(), hf(input_ids=_t(ids)).logits.numpy(), atol=1e-6
        )


@pytest.mark.parametrize("architecture", ["RealmEmbedder", "RealmScorer", "RealmKnowledgeAugEncoder", "RealmReader"])
def test_cli_convert_detects_class(tmp_path, architecture, capsys):
    torch.manual_seed(7)
    hf = getattr(transformers, architecture)(transformers.RealmConfig(**TINY_HF_CONFIG))
    hf.save_pretrained(str(tmp_path / "hf"), safe_serialization=False)
    assert cli_main(["convert", "--from-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "ours")]) == 0
    assert f"converted {architecture}" in capsys.readouterr().out
    assert type(pretrained.from_pretrained(str(tmp_path / "ours"))).__name__ == architecture


def test_cli_convert_open_qa_keeps_corpus_and_answers(tmp_path, capsys, hf_open_qa_checkpoint):
    hf, tokenizer, directory = hf_open_qa_checkpoint
    assert cli_main(["convert", "--from-hf", directory, "--out", str(tmp_path / "ours")]) == 0
    assert "converted RealmForOpenQA" in capsys.readouterr().out
    ours = pretrained.from_pretrained(str(tmp_path / "ours"))
    assert type(ours).__name__ == "RealmForOpenQA"
    written = np.load(tmp_path / "ours" / "block_records.npy", allow_pickle=True)
    assert [r.decode() for r in written] == test_open_qa.BLOCKS
    assert [r.decode() for r in ours.block_records.numpy()] == test_open_qa.BLOCKS
    np.testing.assert_array_equal(ours.block_emb.numpy(), hf.block_emb.numpy())
    _assert_open_qa_matches_hf(ours, hf, tokenizer)


# ------------------------------------------------------------------------------------------------ bad input
def _save_hf_embedder(directory, safe: bool = True):
    torch.manual_seed(8)
    hf = transformers.RealmEmbedder(transformers.RealmConfig(**TINY_HF_CONFIG))
    hf.save_pretrained(str(directory), safe_serialization=safe)
    return directory


@pytest.fixture
def hf_embedder_dir(tmp_path):
    return _save_hf_embedder(tmp_path / "emb")


def test_error_missing_directory(tmp_path, capsys):
    assert cli_main(["convert", "--from-hf", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nope: checkpoint directory not found" in err


def test_error_missing_weights_file(hf_embedder_dir):
    os.remove(hf_embedder_dir / "model.safetensors")
    with pytest.raises(CheckpointError, match="weights file not found") as caught:
        pretrained.from_pretrained(str(hf_embedder_dir))
    assert str(hf_embedder_dir / "model.safetensors") in str(caught.value)
    assert str(hf_embedder_dir / "pytorch_model.bin") in str(caught.value)


def test_error_other_model_type(hf_embedder_dir):
    config = json.loads((hf_embedder_dir / "config.json").read_text())
    config["model_type"] = "bert"
    (hf_embedder_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(RealmConfigError, match=r"config.json: model_type is 'bert', expected 'realm'") as caught:
        pretrained.from_pretrained(str(hf_embedder_dir))
    assert str(caught.value).startswith(str(hf_embedder_dir / "config.json"))


@pytest.mark.parametrize(("safe", "weights_name"), [(True, "model.safetensors"), (False, "pytorch_model.bin")])
def test_error_shape_mismatch(tmp_path, safe, weights_name):
    directory = _save_hf_embedder(tmp_path / "emb", safe=safe)
    config = json.loads((directory / "config.json").read_text())
    config["intermediate_size"] = 40
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"intermediate.dense.weight has shape \(37, 32\).*\(40, 32\)") as caught:
        pretrained.from_pretrained(str(directory))
    assert str(caught.value).startswith(f"{directory / weights_name}: ")


def test_error_unknown_tensor_names_without_architectures(hf_embedder_dir):
    from safetensors.numpy import load_file, save_file

    weights = hf_embedder_dir / "model.safetensors"
    save_file({f"other.{k}": v for k, v in load_file(str(weights)).items()}, str(weights))
    config = json.loads((hf_embedder_dir / "config.json").read_text())
    del config["architectures"]
    (hf_embedder_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="cannot tell which REALM model") as caught:
        pretrained.from_pretrained(str(hf_embedder_dir))
    assert str(caught.value).startswith(f"{weights}: ")


def test_error_truncated_weights(hf_embedder_dir):
    path = hf_embedder_dir / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model.safetensors: cannot read safetensors weights") as caught:
        pretrained.from_pretrained(str(hf_embedder_dir))
    assert str(caught.value).startswith(f"{path}: ")


def test_error_truncated_pytorch_bin(tmp_path):
    _save_hf_embedder(tmp_path, safe=False)
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin: cannot read PyTorch weights") as caught:
        pretrained.from_pretrained(str(tmp_path))
    assert str(caught.value).startswith(f"{path}: ")


# ------------------------------------------------------------------------ warm-start checkpoints (init_checkpoint)
def _bert_config_json(hf_config) -> dict:
    fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    return {"model_type": "bert", "hidden_act": "gelu_new", **{f: getattr(hf_config, f) for f in fields}}


@pytest.mark.parametrize(
    "layout", ["RealmKnowledgeAugEncoder", "RealmEmbedder", "RealmEmbedder-pretrained"], ids=["bert", "orqa", "realm"]
)
def test_init_checkpoint_turns_google_tf_checkpoints_into_a_bert_warm_start(tmp_path, rng, layout):
    """Google's BERT (bert/...) and REALM/ORQA embedders (module/.../bert/...) warm-start our towers to HF's
    outputs, read through a file:// URI as a gs:// one would be (copied locally first)."""
    from realm.checkpoints.bert import read_bert_config, warm_start_from_bert
    from realm.checkpoints.init_checkpoint import resolve_init_checkpoint
    from realm.modeling.models import RealmEmbedder

    torch.manual_seed(11)
    hf_config = transformers.RealmConfig(**TINY_HF_CONFIG)
    architecture = layout.split("-")[0]
    hf = getattr(transformers, architecture)(hf_config).eval()
    state = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    prefix = _write_tf1_checkpoint(state, layout, str(tmp_path / "tf"))
    (tmp_path / "tf" / "bert_config.json").write_text(json.dumps(_bert_config_json(hf_config)))
    bert_dir = resolve_init_checkpoint("file://" + prefix, str(tmp_path / "work"))
    assert bert_dir.startswith(str(tmp_path / "work"))  # copied, then converted there
    embedder = RealmEmbedder(read_bert_config(bert_dir, retriever_proj_size=16)).build_for_inference()
    warm_start_from_bert(embedder, bert_dir)
    ids = _ids(rng, (2, 10))
    with torch.no_grad():
        expected = hf.realm(input_ids=_t(ids))[0].numpy()
    np.testing.assert_allclose(embedder.bert(ids)["sequence_output"].numpy(), expected, atol=ATOL)
    assert os.path.getsize(os.path.join(bert_dir, "vocab.txt")) > 0  # BERT's uncased vocab when none ships


def test_init_checkpoint_infers_sizes_when_no_config_ships(tmp_path):
    """REALM's TF Hub modules carry no bert_config.json: sizes come from the weights, heads are BERT's 64 wide."""
    from realm.checkpoints.init_checkpoint import resolve_init_checkpoint

    hf_config = transformers.RealmConfig(**{**TINY_HF_CONFIG, "hidden_size": 128, "num_attention_heads": 2})
    hf = transformers.RealmEmbedder(hf_config).eval()
    module = tmp_path / "embedder"
    _write_tf1_checkpoint({k: v.detach().numpy() for k, v in hf.state_dict().items()}, "RealmEmbedder", str(module))
    (module / "variables").mkdir()
    for name in os.listdir(module):  # the TF Hub module layout: variables/variables.{index,data-*}
        if name.startswith("model.ckpt."):
            os.rename(module / name, module / "variables" / name.replace("model.ckpt", "variables"))
    bert_dir = resolve_init_checkpoint(str(module), str(tmp_path / "work"))
    with open(os.path.join(bert_dir, "config.json")) as f:
        config = json.load(f)
    assert {k: config[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size")} == {
        "vocab_size": 99,
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "intermediate_size": 37,
    }
    assert config["num_attention_heads"] == 2  # 128 / 64


def test_init_checkpoint_takes_a_bert_directory_as_is_and_refuses_anything_else(tmp_path):
    from realm.checkpoints.init_checkpoint import resolve_init_checkpoint
    from realm.presets import model_config
    from realm.resources import minilm_dir

    assert resolve_init_checkpoint(minilm_dir(), str(tmp_path)) == minilm_dir()
    with pytest.raises(CheckpointError, match="not a checkpoint this project reads; expected a Hugging Face BERT"):
        resolve_init_checkpoint(str(tmp_path / "nowhere"), str(tmp_path))
    realm_dir = tmp_path / "realm"
    model_config("tiny", architecture="RealmEmbedder").save(str(realm_dir))
    with pytest.raises(CheckpointError, match="a 'realm' checkpoint; a warm start takes"):
        resolve_init_checkpoint(str(realm_dir), str(tmp_path))
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        resolve_init_checkpoint(f"file://{tmp_path}/missing.ckpt", str(tmp_path / "work"))
