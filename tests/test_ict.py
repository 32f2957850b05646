"""Inverse Cloze Task warm start: batches, learning signal, and hand-over to REALM pre-training."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from realm.presets import model_config
from realm.pretraining.ict import ICTBatcher, ICTConfig, ICTTrainer
from tests.conftest import write_sample_slice


class FakeBlocks:
    def __init__(self, texts: list[str]):
        self._texts = texts

    def __len__(self) -> int:
        return len(self._texts)

    def titles(self, ids) -> list[str]:
        return [f"Title {i}" for i in ids]

    def texts(self, ids) -> list[str]:
        return [self._texts[i] for i in ids]


BLOCKS = FakeBlocks([f"First sentence of {i}. Second one of {i}. Third one of {i}." for i in range(10)] + ["Alone."])


def test_batches_are_a_function_of_seed_and_step():
    a, b = ICTBatcher(BLOCKS, 4, seed=3, remove_probability=0.9), ICTBatcher(BLOCKS, 4, seed=3, remove_probability=0.9)
    assert [a.batch(s).query_texts for s in (0, 5, 2)] == [b.batch(s).query_texts for s in (0, 5, 2)]
    assert a.batch(0).query_texts != a.batch(1).query_texts
    epoch = [int(i) for s in range(len(BLOCKS) // 4) for i in a.batch(s).block_ids]
    assert len(set(epoch)) == len(epoch)  # no block twice within an epoch


def test_query_sentence_is_removed_from_its_context_most_of_the_time():
    batcher = ICTBatcher(BLOCKS, 5, seed=0, remove_probability=0.9)
    removed = total = 0
    for step in range(200):
        batch = batcher.batch(step)
        for query, context, block_id in zip(batch.query_texts, batch.contexts, batch.block_ids, strict=True):
            text = BLOCKS.texts([block_id])[0]
            assert query in text
            if text == "Alone.":
                assert context == text  # nothing else to keep
                continue
            total += 1
            removed += query not in context
            assert context == text or len(context) == len(text) - len(query) - 1
    assert 0.85 < removed / total < 0.95


def test_held_out_sentences_are_never_queries_and_blocks_left_without_one_are_skipped():
    held_out = {3: ["Second one of 3."], 10: ["Alone."]}
    batcher = ICTBatcher(BLOCKS, 5, seed=0, remove_probability=0.9, held_out=held_out)
    queries = [(int(b), q) for step in range(100) for b, q in zip(*_ids_and_queries(batcher.batch(step)), strict=True)]
    assert {b for b, _ in queries} == set(range(10))  # block 10's only sentence is held out
    assert "Second one of 3." not in {q for _, q in queries}
    assert {q for b, q in queries if b == 3} == {"First sentence of 3.", "Third one of 3."}
    unrestricted = ICTBatcher(BLOCKS, 5, seed=0, remove_probability=0.9)
    assert "Second one of 3." in {q for step in range(100) for q in unrestricted.batch(step).query_texts}


def _ids_and_queries(batch):
    return batch.block_ids, batch.query_texts


def test_held_out_sentences_of_a_real_corpus_are_found_in_their_blocks(tiny_corpus):
    """Every sentence `realm evaluate-retriever` asks about is recognised in the block ICT would re-split."""
    from realm.data.block_store import BlockStore
    from realm.data.sentences import split_sentences
    from realm.pretraining.ict import _is_held_out, held_out_sentences

    blocks = BlockStore.open(tiny_corpus)
    held_out = held_out_sentences(tiny_corpus, blocks, holdout_every=5)
    assert sum(len(v) for v in held_out.values()) >= 10
    for block_id, texts in held_out.items():
        block = blocks.texts([block_id])[0]
        sentences = [block[a:b] for a, b in split_sentences(block)]
        for text in texts:
            assert any(_is_held_out(sentence, [text]) for sentence in sentences), (block_id, text)
    assert held_out_sentences(tiny_corpus, blocks, holdout_every=0) == {}


def test_ict_loss_falls_on_a_repeated_batch_from_the_minilm_warm_start(tmp_path):
    from realm.resources import minilm_dir

    texts = [
        "Abraham Lincoln was the 16th president of the United States. He was born in Kentucky in 1809.",
        "The Eiffel Tower is in Paris. It was completed in 1889 for the World's Fair.",
        "Photosynthesis converts light into chemical energy. It takes place in chloroplasts.",
        "The Nile is a river in Africa. It flows north into the Mediterranean Sea.",
    ]
    config = ICTConfig(
        output_dir=str(tmp_path),
        data_dir="unused",
        model=model_config("minilm"),
        init_bert=minilm_dir(),
        batch_size=4,
        learning_rate=1e-4,
        warmup_steps=0,
        steps=10,
        query_seq_len=24,
        candidate_seq_len=48,
        jit_compile=False,
    )
    keras.utils.set_random_seed(0)  # the dropout masks: unseeded, the first loss ranged 0.02 to 2.3 between runs
    trainer = ICTTrainer(config)
    trainer._build_model_and_optimizer()
    batch = trainer._encode(ICTBatcher(FakeBlocks(texts), 4, seed=0, remove_probability=1.0).batch(0))
    losses = [float(trainer.train_step(batch)["loss"]) for _ in range(6)]
    assert losses[-1] < losses[0] * 0.7, losses


def test_ict_run_resumes_and_hands_its_embedder_to_realm(tmp_path, tiny_corpus):
    run = str(tmp_path / "ict")
    common = dict(
        output_dir=run,
        data_dir=tiny_corpus,
        model=model_config("tiny"),
        batch_size=8,
        query_seq_len=16,
        candidate_seq_len=32,
        checkpoint_every=3,
        log_every=1,
        jit_compile=False,
    )
    ICTTrainer(ICTConfig(steps=3, **common)).run()
    final = ICTTrainer(ICTConfig(steps=5, **common)).run()
    with open(os.path.join(run, "metrics.jsonl")) as f:
        steps = [json.loads(line)["step"] for line in f]
    assert steps == [1, 2, 3, 4, 5] and final["step"] == 5  # the second run continued from step 3

    from realm.pretrained import from_pretrained
    from realm.pretraining.trainer import PretrainConfig, Pretrainer

    embedder = from_pretrained(os.path.join(run, "final", "embedder"))
    pretrainer = Pretrainer(
        PretrainConfig(
            output_dir=str(tmp_path / "realm"),
            data_dir=tiny_corpus,
            model=model_config("tiny"),
            init_embedder=os.path.join(run, "final", "embedder"),
            query_seq_len=16,
            candidate_seq_len=32,
            jit_compile=False,
        )
    )
    pretrainer._build()
    for ours, theirs in zip(pretrainer.embedder.get_weights(), embedder.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)

    # ICT can also start from an embedder (the one a recall evaluation measured "before").
    continued = ICTTrainer(
        ICTConfig(steps=1, init_embedder=os.path.join(run, "final", "embedder"), **{**common, "output_dir": run + "2"})
    )
    continued._build_model_and_optimizer()
    for ours, theirs in zip(continued.embedder.get_weights(), embedder.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


MIRRORED_ICT = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from realm.presets import model_config
from realm.pretraining.ict import ICTConfig, ICTTrainer, in_batch_softmax_loss
from realm.pretraining.replicas import split_across_replicas

rng = np.random.default_rng(0)
batch = {"q": rng.normal(size=(6, 8)).astype("float32"), "b": rng.normal(size=(6, 8)).astype("float32")}
start = (rng.normal(size=(8, 5)) * 0.5).astype("float32")


def loss_and_gradient(strategy):
    with strategy.scope():
        w = tf.Variable(start)

    def step(part):
        with tf.GradientTape() as tape:
            loss, _ = in_batch_softmax_loss(part["q"] @ w, part["b"] @ w)
            scaled = loss / strategy.num_replicas_in_sync
        return loss, tape.gradient(scaled, w)

    loss, grad = tf.function(lambda part: strategy.run(step, args=(part,)))(split_across_replicas(strategy, batch))
    return float(strategy.reduce("MEAN", loss, None)), strategy.reduce("SUM", grad, None).numpy().tolist()


trainer = ICTTrainer(ICTConfig(
    output_dir=sys.argv[2], data_dir=sys.argv[1], model=model_config("tiny"), steps=3, batch_size=8, query_seq_len=16,
    candidate_seq_len=32, log_every=1, jit_compile=False, distribute="mirrored", precision="mixed_bfloat16",
))
last = trainer.run()
# The trainer's own strategy: a second MirroredStrategy in one process can collide with its collective keys.
one, two = loss_and_gradient(tf.distribute.get_strategy()), loss_and_gradient(trainer.strategy)
print(json.dumps({"one": one, "two": two, "replicas": trainer.strategy.num_replicas_in_sync, **last}))
"""


def test_ict_on_two_replicas_scores_every_query_against_the_whole_global_batch(tiny_corpus, tmp_path):
    """What a multi-GPU machine runs, on a CPU split into two logical devices: each replica's queries meet the
    other replica's blocks as negatives, and the gradient through the all-gather equals one device's."""
    run = str(tmp_path / "ict")
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED_ICT, tiny_corpus, run], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    (loss_one, grad_one), (loss_two, grad_two) = result["one"], result["two"]
    assert loss_two == pytest.approx(loss_one, rel=1e-5)  # the softmax spans all 6 blocks, not a replica's 3
    np.testing.assert_allclose(grad_two, grad_one, rtol=1e-4, atol=1e-6)
    assert result["replicas"] == 2 and result["step"] == 3 and np.isfinite(result["loss"])
    assert os.path.isdir(os.path.join(run, "final", "embedder"))


def test_ict_refuses_a_batch_that_does_not_divide_over_the_replicas(tmp_path, tiny_corpus, monkeypatch):
    import tensorflow as tf

    from realm.errors import RealmError

    class TwoReplicas:
        num_replicas_in_sync = 2

        def scope(self):
            return tf.distribute.get_strategy().scope()

    monkeypatch.setattr("realm.pretraining.devices.choose_strategy", lambda distribute="auto": TwoReplicas())
    config = ICTConfig(output_dir=str(tmp_path / "ict"), data_dir=tiny_corpus, model=model_config("tiny"), batch_size=5)
    with pytest.raises(RealmError, match="batch_size=5 does not divide over 2 replicas"):
        ICTTrainer(config)._build_model_and_optimizer()


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> str:
    """A real block store made by `realm preprocess` from a few articles of the sample."""

    from realm.data.preprocess import PreprocessOptions, run_preprocess

    root = tmp_path_factory.mktemp("ict-corpus")
    dump = write_sample_slice(root / "slice.xml.bz2", 30)
    run_preprocess(PreprocessOptions(dump, str(root / "corpus"), num_shards=1), ["--direct_num_workers=1"])
    return str(root / "corpus")
