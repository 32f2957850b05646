"""RealmConfig: HF field names and defaults, JSON round trips, presets and validation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from realm.config import RealmConfig
from realm.errors import RealmConfigError
from realm.presets import PRESETS
from realm.presets import model_config as preset

transformers = pytest.importorskip("transformers")


def test_defaults_match_hugging_face():
    hf = transformers.RealmConfig().to_dict()
    ours = RealmConfig().to_dict()
    for field in dataclasses.fields(RealmConfig):
        if field.name in ("extra", "architecture"):
            continue
        assert ours[field.name] == hf[field.name], field.name


def test_reads_hf_config_json(tmp_path):
    hf = transformers.RealmConfig(hidden_size=64, num_attention_heads=4, num_block_records=11)
    hf.architectures = ["RealmForOpenQA"]
    hf.save_pretrained(str(tmp_path))
    ours = RealmConfig.from_pretrained(str(tmp_path))
    assert ours.hidden_size == 64 and ours.num_block_records == 11
    assert ours.architecture == "RealmForOpenQA"
    assert ours.extra["transformers_version"] == hf.to_dict()["transformers_version"]


def test_json_round_trip(tmp_path):
    config = preset("tiny", architecture="RealmReader", extra={"foo": [1, 2]})
    config.save(str(tmp_path))
    again = RealmConfig.from_pretrained(str(tmp_path))
    assert again == config
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["model_type"] == "realm" and data["architectures"] == ["RealmReader"] and data["foo"] == [1, 2]


def test_our_config_loads_in_hf(tmp_path):
    preset("minilm", architecture="RealmEmbedder").save(str(tmp_path))
    hf = transformers.RealmConfig.from_pretrained(str(tmp_path))
    assert hf.hidden_size == 384 and hf.hidden_act == "gelu" and hf.architectures == ["RealmEmbedder"]


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(hidden_size=30, num_attention_heads=4), "multiple of num_attention_heads"),
        (dict(hidden_act="swish"), "hidden_act 'swish' is not supported"),
        (dict(reader_beam_size=10, searcher_beam_size=5), "cannot exceed searcher_beam_size"),
        (dict(num_hidden_layers=0), "num_hidden_layers must be positive"),
    ],
)
def test_validation(changes, message):
    with pytest.raises(RealmConfigError, match=message):
        RealmConfig(**changes)


def test_rejects_other_model_type_and_bad_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(RealmConfigError, match="model_type is 'bert'"):
        RealmConfig.from_pretrained(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(RealmConfigError, match=r"config\.json: not valid JSON"):
        RealmConfig.from_pretrained(str(tmp_path))
    with pytest.raises(RealmConfigError, match=r"config file not found"):
        RealmConfig.from_pretrained(str(tmp_path / "missing"))


def test_presets_are_valid():
    for name in PRESETS:
        assert preset(name).hidden_size % preset(name).num_attention_heads == 0
    with pytest.raises(RealmConfigError, match="unknown preset"):
        preset("huge")
