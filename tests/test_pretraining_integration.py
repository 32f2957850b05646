"""Pre-training end to end on a slice of the real Wikipedia sample with a tiny model: the trainer, the refresh
sidecar child process, index hot-swaps, learning, the MLM warm-up, the multi-replica path and held-out recall.
Killed runs and sidecars: test_pretraining_resilience.py."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import run_metrics


def test_training_learns_and_picks_up_refreshed_indexes(slice_corpus, tmp_path):
    from realm.presets import model_config
    from realm.pretraining.trainer import PretrainConfig, Pretrainer

    config = PretrainConfig(
        output_dir=str(tmp_path / "run"),
        data_dir=slice_corpus,
        model=model_config("tiny"),
        steps=150,
        batch_size=8,
        learning_rate=2e-3,
        warmup_steps=10,
        query_seq_len=32,
        candidate_seq_len=64,
        refresh_every=25,
        checkpoint_every=50,
        log_every=5,
    )
    final = Pretrainer(config).run()
    metrics = run_metrics(config.output_dir)
    assert final["step"] == 150 and [m["step"] for m in metrics] == list(range(1, 151))  # every step recorded
    versions = sorted({m["index_version"] for m in metrics})
    assert versions[0] == 0 and len(versions) >= 3, versions  # the first index and at least two refreshes
    assert all(0 <= m["staleness_steps"] <= m["step"] for m in metrics)
    first = sum(m["loss"] for m in metrics[:15]) / 15
    last = sum(m["loss"] for m in metrics[-15:]) / 15
    assert last < first - 0.5, (first, last)
    with open(os.path.join(config.output_dir, "refresh.log")) as f:
        assert len(re.findall(r"published index", f.read())) >= 3
    assert os.path.exists(os.path.join(config.output_dir, "exports", "TRAINING_DONE"))
    assert os.path.exists(os.path.join(config.output_dir, "final", "embedder", "config.json"))
    # The run ends on an index of its final embedder, which fine-tuning then reuses instead of re-embedding.
    from realm.finetuning.trainer import pretraining_final_step
    from realm.retrieval.index import BlockIndex

    assert BlockIndex.load_latest(os.path.join(config.output_dir, "index")).embedder_step == 150
    assert pretraining_final_step(config.output_dir) == 150


def test_mlm_warmup_freezes_the_retriever_then_trains_it(slice_corpus, tmp_path, caplog):
    import numpy as np

    from realm.presets import model_config
    from realm.pretrained import from_pretrained
    from realm.pretraining.exports import export_name
    from realm.pretraining.trainer import PretrainConfig, Pretrainer, PretrainingError
    from realm.retrieval.index import BlockIndex

    def config(steps: int, name: str, **options) -> PretrainConfig:
        return PretrainConfig(
            output_dir=str(tmp_path / name), data_dir=slice_corpus, model=model_config("tiny"), steps=steps,
            batch_size=4,
            learning_rate=1e-3, warmup_steps=1, mlm_warmup_steps=4, query_seq_len=32, candidate_seq_len=64,
            refresh_every=100, checkpoint_every=100, jit_compile=False, seed=1, **options,
        )  # fmt: skip

    def unchanged(run_dir: str) -> bool:
        """The final embedder equals the run's step-0 export (the untouched initial embedder)."""
        initial = from_pretrained(os.path.join(run_dir, "exports", export_name(0))).get_weights()
        final = from_pretrained(os.path.join(run_dir, "final", "embedder")).get_weights()
        return all(np.array_equal(a, b) for a, b in zip(initial, final, strict=True))

    frozen = config(4, "frozen")
    Pretrainer(frozen).run()
    # The retriever with its own optimizer and rate, and the warm-up reading the sentence's own block and two
    # retrieved blocks besides.
    # The fresh MLM head is fitted before the first step.
    trained = config(
        6, "trained", retriever_learning_rate=5e-4, mlm_warmup_own_block=True, mlm_warmup_distractors=2,
        mlm_head_fit_steps=3,
    )  # fmt: skip
    trainer = Pretrainer(trained)
    with caplog.at_level(logging.INFO):
        trainer.run()
    assert "MLM head fit 3/3" in caplog.text
    assert unchanged(frozen.output_dir) and not unchanged(trained.output_dir)
    assert [m["retriever_frozen"] for m in run_metrics(trained.output_dir)] == [1, 1, 1, 1, 0, 0]
    # The step-0 index is exact while the retriever is frozen; it ages only with retriever steps.
    assert [m["staleness_steps"] for m in run_metrics(trained.output_dir)] == [0, 0, 0, 0, 1, 2]
    assert int(trainer.retriever_optimizer.iterations.numpy()) == 2  # it steps only once the warm-up is over
    assert int(trainer.optimizer.iterations.numpy()) == 6
    # The encoder as the warm-up left it is kept: it differs from the final one, trained two steps further.
    warmed = from_pretrained(os.path.join(trained.output_dir, "mlm_warmup", "encoder")).get_weights()
    final = from_pretrained(os.path.join(trained.output_dir, "final", "encoder")).get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(warmed, final, strict=True))

    # Warm-up batches carry the sentence's own block as the first retrieved candidate, then two other retrieved
    # blocks; later ones never carry it.
    trainer.index = BlockIndex.load_latest(os.path.join(trained.output_dir, "index"))
    raw = next(trainer.iterator)
    own_ids = trainer.blocks.find_blocks(raw["doc_uid"].numpy(), raw["own_blocks"].numpy()[:, 0])
    warm = trainer._prepare_batch(raw, warming_up=True)["candidate_input_ids"]
    later = trainer._prepare_batch(raw, warming_up=False)["candidate_input_ids"]
    assert warm.shape[1] == 4 and later.shape[1] == trained.model.num_candidates  # null + own + 2; null + k-1
    own_joint = trainer.blocks.padded_token_ids(own_ids, trained.joint_seq_len)[0]
    assert np.array_equal(warm[:, 1], own_joint)
    assert not any((warm[row, 2:] == own_joint[row]).all(axis=-1).any() for row in range(len(own_ids)))
    assert (warm[:, 2:, 0] != 0).all()  # the distractors are real blocks, not padding
    own_tokens = trainer.blocks.padded_token_ids(own_ids, trained.candidate_seq_len)[0]
    assert not any((later[row] == own_tokens[row]).all(axis=-1).any() for row in range(len(own_ids)))
    # Distractors without the own-block warm-up they belong to are refused before any work starts.
    with pytest.raises(PretrainingError, match="mlm_warmup_distractors"):
        Pretrainer(config(4, "bad", mlm_warmup_distractors=2)).run()


MIRRORED_BF16_RUN = """
import json, logging, sys
logging.basicConfig(level=logging.INFO)
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from realm.presets import model_config
from realm.pretraining.trainer import PretrainConfig, Pretrainer
trainer = Pretrainer(PretrainConfig(
    output_dir=sys.argv[2], data_dir=sys.argv[1], model=model_config("tiny"), steps=8, batch_size=4,
    learning_rate=1e-3, warmup_steps=1, mlm_warmup_steps=2, query_seq_len=32, candidate_seq_len=64,
    refresh_every=4, max_staleness_steps=4, checkpoint_every=4, distribute="mirrored", precision="mixed_bfloat16",
    mlm_head_fit_steps=3, first_index_timeout=120,  # an index that never lands fails the test in minutes, not hangs it
))
last = trainer.run()
print(json.dumps({"replicas": trainer.strategy.num_replicas_in_sync, "precision": trainer.precision, **last}))
"""


def test_multi_replica_mixed_precision_path_on_two_logical_cpus(slice_corpus, tmp_path):
    """The code a multi-GPU machine runs (MirroredStrategy, per-replica batches, bfloat16 compute), exercised
    on a CPU split into two logical devices, since CI has no GPU."""
    run = str(tmp_path / "run")
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED_BF16_RUN, slice_corpus, run], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["replicas"] == 2 and last["precision"] == "mixed_bfloat16" and last["step"] == 8
    metrics = run_metrics(run)
    assert [m["retriever_frozen"] for m in metrics] == [1, 1] + [0] * 6
    assert all(np.isfinite(m["loss"]) and m["loss"] > 0 for m in metrics)
    # Step 8 may not train on an index 5 steps stale: the step-4 refresh had landed or it waited for it, so two
    # index versions were used whatever the sidecar's speed.
    versions = [m["index_version"] for m in metrics]
    assert versions[0] == 0 and versions[-1] == 4 and sorted(set(versions)) == [0, 4], versions
    assert max(m["staleness_steps"] for m in metrics) <= 4
    assert "MLM warm-up done after 2 steps" in done.stderr
    assert "MLM head fit 3/3" in done.stderr


def test_held_out_split_and_gold_document_recall(slice_corpus, tmp_path):
    import numpy as np
    import tensorflow as tf

    from realm.data.block_store import BlockStore
    from realm.data.examples import read_pretraining_examples
    from realm.evaluation.retrieval import RetrievalEvalConfig, gold_document_recall, held_out_queries
    from realm.modeling.models import RealmEmbedder, RealmKnowledgeAugEncoder
    from realm.pretrained import save_pretrained
    from realm.pretraining.masking import is_held_out
    from realm.tokenization import RealmTokenizer

    flags = [bool(is_held_out(ex, 5)) for ex in read_pretraining_examples(slice_corpus)]
    assert 0.1 < np.mean(flags) < 0.3  # about 1 in 5, decided by a hash: the same split in every process
    assert flags == [bool(is_held_out(ex, 5)) for ex in read_pretraining_examples(slice_corpus)]
    assert not any(bool(is_held_out(ex, 0)) for ex in read_pretraining_examples(slice_corpus).take(20))

    from realm.presets import model_config

    tf.keras.utils.set_random_seed(0)
    embedder_dir = str(tmp_path / "embedder")
    save_pretrained(RealmEmbedder(model_config("tiny")).build_for_inference(), embedder_dir)
    store = BlockStore.open(slice_corpus)
    blocks = len(store)
    config = RetrievalEvalConfig(
        slice_corpus, embedder_dir, k_values=(1, 10, blocks), query_seq_len=32, candidate_seq_len=64, holdout_every=5,
        max_queries=200,
    )  # fmt: skip
    result = gold_document_recall(config)
    assert 50 <= result["queries"] <= 200 and result["blocks"] == blocks
    assert result["recall@1"] <= result["recall@10"] <= result[f"recall@{blocks}"] == 1.0
    assert -1 < result["query_mean_cosine"] < 1 and -1 < result["block_mean_cosine"] < 1
    assert result["score_std"] > 0
    # Over every block, span recall is the share of queries whose masked span occurs in a block other than the
    # trivial retrieval: the sentence's own block by default, its whole article with trivial_retrieval="article".
    queries = held_out_queries(config, RealmTokenizer.from_default_vocab())
    docs = store.doc_uids(np.arange(blocks))
    positions = store.block_indices(np.arange(blocks))
    texts = {b: " " + " ".join(map(str, store.token_ids(b))) + " " for b in range(blocks)}
    reachable = {"block": 0, "article": 0}
    other_blocks = 0  # queries whose article has a block besides the sentence's own
    for own, own_blocks, labels, weights in zip(
        queries["doc_uid"], queries["own_blocks"], queries["masked_labels"], queries["masked_weights"], strict=True
    ):
        other_blocks += any(docs[b] == own.decode() and positions[b] not in own_blocks for b in range(blocks))
        span = " " + " ".join(map(str, labels[weights > 0])) + " "
        holders = [b for b in range(blocks) if span in texts[b]]
        reachable["article"] += any(docs[b] != own.decode() for b in holders)
        reachable["block"] += any(docs[b] != own.decode() or positions[b] not in own_blocks for b in holders)
    assert result[f"span_recall@{blocks}"] == reachable["block"] / result["queries"]
    assert reachable["block"] > reachable["article"] > 0.2 * result["queries"]  # the article's other blocks count
    strict = gold_document_recall(dataclasses.replace(config, trivial_retrieval="article"))
    assert strict[f"span_recall@{blocks}"] == reachable["article"] / result["queries"]
    assert strict["recall@1"] == result["recall@1"]
    # Over every block, the article is found beyond the trivial retrieval exactly when it has another block.
    assert result[f"nontrivial_recall@{blocks}"] == other_blocks / result["queries"] > 0
    assert result["nontrivial_recall@1"] <= result["nontrivial_recall@10"] <= result[f"nontrivial_recall@{blocks}"]
    assert strict[f"nontrivial_recall@{blocks}"] == 0.0

    # How an encoder uses the blocks: every query has the null document and its own block; it has a span block
    # exactly when some non-trivial block holds its span (every block is searched here).
    encoder_dir = str(tmp_path / "encoder")
    save_pretrained(RealmKnowledgeAugEncoder(model_config("tiny")).build_for_inference(), encoder_dir)
    use = gold_document_recall(dataclasses.replace(config, encoder_dir=encoder_dir, max_queries=40))
    assert use["queries_with_null_document"] == use["queries_with_own_block"] == use["queries"]
    assert 0 < use["queries_with_span_block"] < use["queries_with_distractor_block"] == use["queries"]
    assert use["queries_with_span_block"] == round(use[f"span_recall@{blocks}"] * use["queries"])
    kinds = ("null_document", "own_block", "span_block", "distractor_block")
    log_probs = [use[f"span_log_prob_{kind}"] for kind in kinds]
    assert all(-20 < p < 0 for p in log_probs) and len(set(log_probs)) == 4  # each block changes the prediction
    # Every query has its own block, so its paired gain is the plain difference of the two means.
    own_gain = use["span_log_prob_own_block"] - use["span_log_prob_null_document"]
    assert use["span_log_prob_gain_own_block"] == pytest.approx(own_gain, abs=1e-9)
    assert np.isfinite(use["span_log_prob_gain_span_block"]) and np.isfinite(use["span_log_prob_gain_distractor_block"])
    assert result["span_recall@1"] <= result["span_recall@10"] <= result[f"span_recall@{blocks}"]


def test_the_sidecar_refreshes_a_scann_index_that_finds_what_exact_search_finds(slice_corpus, tmp_path):
    """Below 100,000 blocks the sidecar searches exactly; forced onto ScaNN, the trainer runs on ScaNN indexes (at
    least two versions, max_staleness_steps making sure) whose top 10 for real queries match exact search's.

    Warm-started from MiniLM: a randomly initialised tiny BERT gives every block nearly the same embedding, so any
    10 blocks tie for the top 10 and recall would measure nothing (docs/tests.md)."""
    from realm.data.examples import read_pretraining_examples
    from realm.presets import model_config
    from realm.pretrained import load_embedder
    from realm.pretraining.trainer import PretrainConfig, Pretrainer
    from realm.resources import minilm_dir
    from realm.retrieval.index import BlockIndex, list_versions
    from realm.tokenization import RealmTokenizer

    config = PretrainConfig(
        output_dir=str(tmp_path / "run"), data_dir=slice_corpus, model=model_config("minilm"), init_bert=minilm_dir(),
        steps=4, batch_size=2, learning_rate=1e-5, warmup_steps=1, query_seq_len=32, candidate_seq_len=64,
        refresh_every=2, max_staleness_steps=2, index_method="scann", checkpoint_every=4, jit_compile=False,
    )  # fmt: skip
    Pretrainer(config).run()
    metrics = run_metrics(config.output_dir)
    assert sorted({m["index_version"] for m in metrics}) == [0, 2]
    index_dir = os.path.join(config.output_dir, "index")
    index = BlockIndex.load_latest(index_dir)
    assert [BlockIndex(os.path.join(index_dir, v)).meta["method"] for v in list_versions(index_dir)] == ["scann"] * 3
    assert index.embedder_step == 4 and len(index) > 300

    sentences = [ex["text"].decode() for ex in read_pretraining_examples(slice_corpus).take(200).as_numpy_iterator()]
    encoded = RealmTokenizer.from_default_vocab().encode_queries(sentences, 32)
    embedder = load_embedder(os.path.join(config.output_dir, "final", "embedder"))
    queries = np.asarray(embedder(encoded["input_ids"], encoded["attention_mask"])["projected_score"], np.float32)
    scores = queries @ np.asarray(index.embeddings, np.float32).T
    exact = np.argsort(-scores, axis=1)[:, :10]

    def recall(found) -> float:
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact, strict=True)]))

    found, _ = index.search(queries, 10)
    random_ids = np.random.default_rng(0).integers(0, len(index), size=exact.shape)
    assert recall(random_ids) < 0.1  # the embeddings tell blocks apart, so the measure below can fail
    assert recall(found) >= 0.9, recall(found)


ONE_AND_TWO_REPLICAS = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from realm.presets import model_config
from realm.pretraining.refresh import embed_corpus
from realm.pretraining.trainer import PretrainConfig, Pretrainer
from realm.retrieval.index import BlockIndex, publish_index

def trainer(distribute, out):
    model = model_config("tiny", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    t = Pretrainer(PretrainConfig(
        output_dir=out, data_dir=sys.argv[1], model=model, batch_size=4, query_seq_len=32, candidate_seq_len=64,
        distribute=distribute, precision="float32", jit_compile=False,
    ))
    t._build()
    with t.strategy.scope():  # plain SGD at rate 1: the weight change is the (replica-reduced) gradient itself
        t.optimizer = keras.optimizers.SGD(learning_rate=1.0)
        t.optimizer.build(t.variables)
    return t

one, two = trainer("auto", sys.argv[2] + "/one"), trainer("mirrored", sys.argv[2] + "/two")
two.embedder.set_weights(one.embedder.get_weights())
two.encoder.set_weights(one.encoder.get_weights())
path = publish_index(sys.argv[2] + "/index", embed_corpus(one.embedder, one.blocks, 64, 64), 0)
one.index = two.index = BlockIndex(path)
batch = one._prepare_batch(next(one.iterator))
result = {}
for name, t in (("one", one), ("two", two)):
    before = [v.numpy().copy() for v in t.variables]
    out = t.train_step(t._distribute(batch))
    result[name] = {
        "replicas": t.strategy.num_replicas_in_sync,
        "loss": float(out["loss"]),
        "gradients": [(b - v.numpy()).tolist() for b, v in zip(before, t.variables)],
    }
a, b = result["one"]["gradients"], result["two"]["gradients"]
print(json.dumps({
    "replicas": [result["one"]["replicas"], result["two"]["replicas"]],
    "loss": [result["one"]["loss"], result["two"]["loss"]],
    "largest_gradient": max(float(np.abs(np.array(x)).max()) for x in a),
    "largest_difference": max(float(np.abs(np.array(x) - np.array(y)).max()) for x, y in zip(a, b)),
    "nonzero_gradients": sum(bool(np.abs(np.array(x)).max() > 0) for x in a),
    "variables": len(a),
}))
"""


def test_one_real_training_step_gives_the_same_loss_and_gradients_on_one_and_two_replicas(slice_corpus, tmp_path):
    """The pre-training step itself (retriever and encoder, marginal over retrieved blocks), on the same batch, with
    one replica and with two (MirroredStrategy on two logical CPUs): the global loss and every variable's
    gradient agree, so splitting a batch over devices neither scales nor drops any part of it."""
    done = subprocess.run(
        [sys.executable, "-c", ONE_AND_TWO_REPLICAS, slice_corpus, str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == [1, 2]
    assert result["loss"][0] == pytest.approx(result["loss"][1], rel=1e-5)
    assert result["nonzero_gradients"] >= 0.9 * result["variables"]  # both towers and the MLM head get gradients
    assert result["largest_difference"] <= 1e-4 * result["largest_gradient"], result


def test_embedding_the_corpus_with_xla_gives_every_block_its_own_embedding(slice_corpus):
    """The sidecar's XLA path pads the last batch by repeating rows: each block must still get its own row."""
    from realm.data.block_store import BlockStore
    from realm.modeling.models import RealmEmbedder
    from realm.presets import model_config
    from realm.pretraining.refresh import embed_corpus

    blocks = BlockStore.open(slice_corpus)
    batch_size = 64
    assert len(blocks) % batch_size, "the test needs a last batch shorter than the others"
    embedder = RealmEmbedder(model_config("tiny")).build_for_inference()
    traced = embed_corpus(embedder, blocks, batch_size, 64)
    compiled = embed_corpus(embedder, blocks, batch_size, 64, jit_compile=True)
    assert compiled.shape == (len(blocks), model_config("tiny").retriever_proj_size)
    np.testing.assert_allclose(compiled, traced, atol=1e-5)
    assert len(np.unique(compiled.round(4), axis=0)) > len(blocks) * 0.9  # rows differ from block to block
