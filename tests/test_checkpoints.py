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
from tests.conftest import TINY_HF_CONFIG

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ATOL = 1e-4


def _t(x):
    return torch.tensor(np.asarray(x), dtype=torch.long)


def _ids(rng, shape, vocab=99):
    return rng.randint(0, vocab, size=shape).astype(np.int32)


# --------------------------------------------------------------------------------- Google TF checkpoints
def _tf_variable_name(hf_name: str, architecture: str) -> tuple[str, bool]:
    """HF name -> the name Google's REALM/ORQA code gives the variable (written independently of the loader)."""
    prefixes = {
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
    }[architecture]
    for old, new in prefixes:  # noqa: B007 - `new` is used after the loop
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


def _write_tf1_checkpoint(state: dict[str, np.ndarray], architecture: str, directory: str) -> str:
    with tf.Graph().as_default():
        variables = []
        for hf_name, array in state.items():
            if hf_name.endswith(("position_ids", "decoder.weight", "decoder.bias")) or (
                architecture == "RealmEmbedder" and hf_name.startswith("cls.predictions")
            ):
                continue
            name, transpose = _tf_variable_name(hf_name, architecture)
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


# --------------------------------------------------------------------------------------- warm start (MiniLM)
def test_minilm_warm_start_matches_hf_bert(tmp_path, rng):
    from realm.resources import minilm_dir

    source = minilm_dir()
    report = convert.convert_bert(source, "RealmEmbedder", str(tmp_path / "embedder"))
    assert report.num_parameters > 22_000_000
    ours = pretrained.from_pretrained(str(tmp_path / "embedder"))
    assert ours.config.hidden_size == 384 and ours.config.hidden_act == "gelu"
    hf_bert = transformers.BertModel.from_pretrained(source).eval()
    ids = _ids(rng, (2, 20), vocab=30522)
    mask = np.ones_like(ids)
    mask[1, 12:] = 0
    with torch.no_grad():
        ref = hf_bert(input_ids=_t(ids), attention_mask=_t(mask))
    out = ours.bert(ids, mask)
    np.testing.assert_allclose(
        out["sequence_output"].numpy()[mask == 1], ref.last_hidden_state.numpy()[mask == 1], atol=ATOL
    )
    np.testing.assert_allclose(out["pooled_output"].numpy(), ref.pooler_output.numpy(), atol=ATOL)
    assert os.path.exists(tmp_path / "embedder" / "vocab.txt")


def test_warm_start_rejects_mismatched_sizes(tmp_path):
    from realm.resources import minilm_dir

    with pytest.raises(CheckpointError, match="hidden_size: model 32 vs checkpoint 384"):
        from realm.checkpoints.bert import warm_start_from_bert
        from realm.config import preset
        from realm.modeling.models import RealmEmbedder

        warm_start_from_bert(RealmEmbedder(preset("tiny")).build_for_inference(), minilm_dir())


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


# ------------------------------------------------------------------------------------------------ bad input
@pytest.fixture
def hf_embedder_dir(tmp_path):
    torch.manual_seed(8)
    hf = transformers.RealmEmbedder(transformers.RealmConfig(**TINY_HF_CONFIG))
    hf.save_pretrained(str(tmp_path / "emb"), safe_serialization=True)
    return tmp_path / "emb"


def test_error_missing_directory(tmp_path, capsys):
    assert cli_main(["convert", "--from-hf", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nope: checkpoint directory not found" in err


def test_error_missing_weights_file(hf_embedder_dir):
    os.remove(hf_embedder_dir / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"emb: no weights file"):
        pretrained.from_pretrained(str(hf_embedder_dir))


def test_error_other_model_type(hf_embedder_dir):
    config = json.loads((hf_embedder_dir / "config.json").read_text())
    config["model_type"] = "bert"
    (hf_embedder_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(RealmConfigError, match=r"config.json: model_type is 'bert', expected 'realm'"):
        pretrained.from_pretrained(str(hf_embedder_dir))


def test_error_shape_mismatch(hf_embedder_dir):
    config = json.loads((hf_embedder_dir / "config.json").read_text())
    config["intermediate_size"] = 40
    (hf_embedder_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"intermediate.dense.weight has shape \(37, 32\).*\(40, 32\)"):
        pretrained.from_pretrained(str(hf_embedder_dir))


def test_error_truncated_weights(hf_embedder_dir):
    path = hf_embedder_dir / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model.safetensors: cannot read safetensors weights"):
        pretrained.from_pretrained(str(hf_embedder_dir))


def test_error_truncated_pytorch_bin(tmp_path):
    torch.manual_seed(9)
    hf = transformers.RealmEmbedder(transformers.RealmConfig(**TINY_HF_CONFIG))
    hf.save_pretrained(str(tmp_path), safe_serialization=False)
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin: cannot read PyTorch weights"):
        pretrained.from_pretrained(str(tmp_path))
