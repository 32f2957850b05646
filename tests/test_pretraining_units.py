"""Pre-training pieces: salient-span masking, null document first, trivial retrieval removed, LR schedule."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from realm.errors import RealmError
from realm.pretraining.candidates import NO_BLOCK, build_candidates, retrieve_candidates, retrieve_non_trivial
from realm.pretraining.devices import GpuSplit
from realm.pretraining.masking import MaskingConfig, mask_salient_span, pretraining_dataset
from realm.pretraining.schedule import PhasedSchedule, WarmupLinearDecay, bert_adamw, realm_warmup_steps

CLS, SEP, MASK = 101, 102, 103


def _example(tokens, starts, ends, doc="doc-a"):
    return {
        "token_ids": tf.constant(tokens, tf.int64),
        "span_starts": tf.constant(starts, tf.int64),
        "span_ends": tf.constant(ends, tf.int64),
        "doc_uid": tf.constant(doc),
    }


def test_masks_exactly_one_span():
    config = MaskingConfig(query_seq_len=12, max_masks=3)
    out = mask_salient_span(_example([5, 6, 7, 8, 9], [1], [2]), tf.constant(0, tf.int64), config)
    assert out["valid"].numpy()
    assert out["query_input_ids"].numpy().tolist() == [CLS, 5, MASK, MASK, 8, 9, SEP, 0, 0, 0, 0, 0]
    assert out["masked_positions"].numpy().tolist() == [2, 3, 0]
    assert out["masked_labels"].numpy().tolist() == [6, 7, 0]
    assert out["masked_weights"].numpy().tolist() == [1, 1, 0]
    assert int(out["query_length"]) == 7


def test_skips_spans_too_long_or_truncated_away():
    config = MaskingConfig(query_seq_len=6, max_masks=2)  # room for 4 tokens
    too_long = mask_salient_span(_example([5, 6, 7, 8], [0], [2]), tf.constant(0, tf.int64), config)
    truncated = mask_salient_span(_example([5, 6, 7, 8, 9, 10], [4], [5]), tf.constant(0, tf.int64), config)
    assert not too_long["valid"].numpy() and not truncated["valid"].numpy()


def test_span_choice_is_uniform_and_deterministic():
    config = MaskingConfig(query_seq_len=16, max_masks=2)
    example = _example(list(range(10, 20)), [0, 3, 6], [0, 4, 7])
    picks = [
        int(mask_salient_span(example, tf.constant(i, tf.int64), config)["masked_positions"][0]) for i in range(300)
    ]
    counts = {p: picks.count(p) for p in set(picks)}
    assert set(counts) == {1, 4, 7} and min(counts.values()) > 60
    again = [
        int(mask_salient_span(example, tf.constant(i, tf.int64), config)["masked_positions"][0]) for i in range(300)
    ]
    assert picks == again


def test_pretraining_dataset_batches_and_filters():
    examples = tf.data.Dataset.from_tensor_slices(
        {
            "token_ids": tf.ragged.constant([[5, 6, 7], [8, 9]]),
            "span_starts": tf.ragged.constant([[0], [0]]),
            "span_ends": tf.ragged.constant([[0], [5]]),
            "doc_uid": ["a", "b"],
        }
    ).map(
        lambda ex: {**ex, "token_ids": ex["token_ids"], "span_starts": ex["span_starts"], "span_ends": ex["span_ends"]}
    )
    batch = next(iter(pretraining_dataset(examples, MaskingConfig(query_seq_len=8, max_masks=2), batch_size=3)))
    assert batch["query_input_ids"].shape == (3, 8)
    assert set(batch["doc_uid"].numpy().tolist()) == {b"a"}  # the example whose span lies outside is dropped


class FakeBlocks:
    """Block store stand-in: block i belongs to doc `docs[i]`, body tokens [1000+i]*(i % 3 + 1)."""

    def __init__(self, docs):
        self.docs = docs

    def doc_uids(self, ids):
        return [self.docs[i] for i in ids]

    def block_indices(self, ids):
        return np.array([self.docs[: i + 1].count(self.docs[i]) - 1 for i in ids])

    def padded_token_ids(self, ids, max_length):
        out = np.zeros((len(ids), max_length), np.int32)
        types = np.zeros_like(out)
        for row, i in enumerate(ids):
            body = [1000 + i] * (i % 3 + 1)
            seq = [CLS, 500 + i, SEP, *body, SEP]
            out[row, : len(seq)] = seq
            types[row, 3 : len(seq)] = 1
        return out, (out != 0).astype(np.int32), types


class FakeIndex:
    def __init__(self, order):
        self.order = np.asarray(order)

    def search(self, queries, k):
        return np.tile(self.order[:k], (len(queries), 1)), np.zeros((len(queries), k), np.float32)


def test_trivial_retrieval_removed_and_padding():
    blocks = FakeBlocks(["a", "b", "a", "c", "b"])
    index = FakeIndex([2, 1, 0, 3, 4])
    ids = retrieve_non_trivial(index, np.zeros((2, 4)), [b"a", "c"], blocks, count=3, margin=2)
    assert ids.tolist() == [[1, 3, 4], [2, 1, 0]]
    few = retrieve_non_trivial(FakeIndex([0, 2]), np.zeros((1, 4)), ["a"], blocks, count=2, margin=0)
    assert few.tolist() == [[NO_BLOCK, NO_BLOCK]]


def test_only_the_block_holding_the_sentence_is_trivial():
    """REALM drops the query's own block; the article's other blocks stay retrievable."""
    blocks = FakeBlocks(["a", "b", "a", "c", "b"])  # block_index: a0 b0 a1 c0 b1
    index = FakeIndex([2, 1, 0, 3, 4])
    own = np.array([[1, -1], [-1, -1], [0, 1]])  # a's block 1 (id 2); none; b's blocks 0 and 1 (ids 1, 4)
    ids = retrieve_non_trivial(index, np.zeros((3, 4)), ["a", "c", "b"], blocks, count=3, margin=2, own_blocks=own)
    assert ids.tolist() == [[1, 0, 3], [2, 1, 0], [2, 0, 3]]


def test_trivial_retrieval_rules():
    """The positive control ("none") keeps the own block; "block" drops only it; "article" drops all of a."""
    blocks = FakeBlocks(["a", "b", "a", "c", "b"])  # block_index: a0 b0 a1 c0 b1
    index = FakeIndex([2, 1, 0, 3, 4])
    own = np.array([[1, -1]])  # the sentence lies in a's block 1 (id 2)
    queries = np.zeros((1, 4))

    def rule(name, own_blocks=own):
        return retrieve_candidates(index, queries, ["a"], blocks, 3, rule=name, own_blocks=own_blocks).tolist()

    assert rule("none") == [[2, 1, 0]]
    assert rule("block") == [[1, 0, 3]]
    assert rule("article") == [[1, 3, 4]]
    padded = retrieve_candidates(FakeIndex([2, 1]), queries, ["a"], blocks, 3, rule="none")
    assert padded.tolist() == [[2, 1, NO_BLOCK]]
    with pytest.raises(RealmError, match="needs the blocks"):
        rule("block", own_blocks=None)
    with pytest.raises(RealmError, match="unknown trivial retrieval rule"):
        rule("own")


def test_null_document_first_and_joint_inputs():
    blocks = FakeBlocks(["a", "b", "c"])
    query = np.array([[CLS, 7, MASK, SEP, 0, 0]], np.int32)
    cands = build_candidates(
        np.array([[2, NO_BLOCK]]), query, np.array([4]), blocks, candidate_len=8, joint_len=10, cls_id=CLS, sep_id=SEP
    )
    assert cands.block_ids.tolist() == [[NO_BLOCK, 2, NO_BLOCK]]
    assert cands.valid.tolist() == [[True, True, False]]
    assert cands.candidate_input_ids[0, 0].tolist() == [CLS, SEP, SEP, 0, 0, 0, 0, 0]
    assert cands.candidate_token_type_ids[0, 0, :3].tolist() == [0, 0, 1]
    assert cands.candidate_input_ids[0, 1].tolist() == [CLS, 502, SEP, 1002, 1002, 1002, SEP, 0]
    # Joint input: [CLS] masked query [SEP] body [SEP] -- the title is not used there.
    assert cands.joint_input_ids[0, 0].tolist() == [CLS, 7, MASK, SEP, SEP, 0, 0, 0, 0, 0]
    assert cands.joint_input_ids[0, 1].tolist() == [CLS, 7, MASK, SEP, 1002, 1002, 1002, SEP, 0, 0]
    assert cands.joint_token_type_ids[0, 1].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    assert cands.joint_attention_mask[0, 1].tolist() == [1] * 8 + [0, 0]


def test_joint_input_truncates_the_body():
    blocks = FakeBlocks(["a", "b", "c"])
    query = np.array([[CLS, 7, SEP]], np.int32)
    cands = build_candidates(
        np.array([[2]]), query, np.array([3]), blocks, candidate_len=8, joint_len=6, cls_id=CLS, sep_id=SEP
    )
    assert cands.joint_input_ids[0, 1].tolist() == [CLS, 7, SEP, 1002, 1002, SEP]


def test_warmup_linear_decay():
    schedule = WarmupLinearDecay(1.0, total_steps=100, warmup_steps=10)
    assert float(schedule(0)) == 0.0
    assert float(schedule(5)) == pytest.approx(0.5)
    assert float(schedule(10)) == pytest.approx(1.0)
    assert float(schedule(55)) == pytest.approx(0.5)
    assert float(schedule(100)) == pytest.approx(0.0)
    assert realm_warmup_steps(200_000) == 10_000 and realm_warmup_steps(50) == 50 and realm_warmup_steps(2000) == 200


def test_a_phased_schedule_restarts_its_second_schedule_at_the_boundary():
    import keras

    phased = PhasedSchedule(WarmupLinearDecay(1.0, 100, 10), 60, WarmupLinearDecay(2.0, 40, 4))
    assert float(phased(55)) == pytest.approx(0.5)  # the first schedule, as it would run alone
    assert float(phased(60)) == 0.0 and float(phased(62)) == pytest.approx(1.0) and float(phased(64)) == 2.0
    assert float(phased(82)) == pytest.approx(1.0) and float(phased(100)) == 0.0
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(phased))
    assert [float(restored(s)) for s in (55, 62, 82)] == [float(phased(s)) for s in (55, 62, 82)]


def test_scaled_variables_move_at_their_multiple_of_the_scheduled_rate():
    import keras

    optimizer, _ = bert_adamw(1e-2, total_steps=10, warmup_steps=0, weight_decay=0.0, clip_norm=1.0)
    plain, doubled, held = (keras.Variable(np.ones(3, np.float32), name=f"w{i}") for i in range(3))
    optimizer.build([plain, doubled, held])
    optimizer.scale_learning_rate([doubled], 2.0)
    optimizer.scale_learning_rate([held], 0.0)
    gradient = tf.constant([0.1, -0.2, 0.3])
    for _ in range(2):  # the schedule's rate is 0 at step 0 and the peak at step 1
        optimizer.apply([gradient] * 3, [plain, doubled, held])
    moved = {name: np.abs(v.numpy() - 1.0) for name, v in (("plain", plain), ("doubled", doubled), ("held", held))}
    # Adam moves each weight by about the rate while its gradient holds steady, whatever the gradient's size.
    np.testing.assert_allclose(moved["plain"], 1e-2, rtol=1e-3)
    np.testing.assert_allclose(moved["doubled"], 2e-2, rtol=1e-3)
    np.testing.assert_array_equal(moved["held"], 0.0)


def test_variables_can_follow_a_schedule_of_their_own():
    import keras

    optimizer, _ = bert_adamw(1e-2, total_steps=10, warmup_steps=0, weight_decay=0.0, clip_norm=1.0)
    plain, own = (keras.Variable(np.ones(3, np.float32), name=f"w{i}") for i in range(2))
    optimizer.build([plain, own])
    optimizer.follow_schedule([own], WarmupLinearDecay(1e-3, total_steps=10, warmup_steps=0))
    gradient = tf.constant([0.1, -0.2, 0.3])
    for _ in range(2):
        optimizer.apply([gradient] * 2, [plain, own])
    np.testing.assert_allclose(np.abs(plain.numpy() - 1.0), 1e-2, rtol=1e-3)
    np.testing.assert_allclose(np.abs(own.numpy() - 1.0), 1e-3, rtol=1e-3)


def test_embedding_spread_tells_collapsed_from_spread_embeddings():
    from realm.evaluation.retrieval import embedding_spread

    rng = np.random.default_rng(0)
    spread = embedding_spread(rng.normal(size=(50, 16)), rng.normal(size=(80, 16)))
    shared = rng.normal(size=16) * 5
    collapsed = embedding_spread(shared + rng.normal(size=(50, 16)) * 0.1, shared + rng.normal(size=(80, 16)) * 0.1)
    assert abs(spread["query_mean_cosine"]) < 0.1 and collapsed["query_mean_cosine"] > 0.9
    assert collapsed["block_mean_cosine"] > 0.9 > abs(spread["block_mean_cosine"])
    assert spread["score_std"] > collapsed["score_std"]
    identical = embedding_spread(np.ones((3, 4)), np.ones((5, 4)))
    assert identical["query_mean_cosine"] == pytest.approx(1.0) and identical["score_std"] == pytest.approx(0.0)


def test_a_corpus_whose_examples_name_no_block_asks_for_a_rerun():
    from realm.errors import RealmError
    from realm.pretraining.candidates import require_own_blocks, trivial_mask

    require_own_blocks(np.array([[3, -1], [0, 1]]), "corpus")
    with pytest.raises(RealmError, match="re-run `realm preprocess`"):
        require_own_blocks(np.array([[3, -1], [-1, -1]]), "corpus")
    docs, positions = np.array(["a", "a", "b"], dtype=object), np.array([0, 1, 0])
    assert trivial_mask(docs, positions, b"a", np.array([1, -1])).tolist() == [False, True, False]
    assert trivial_mask(docs, positions, "a", None).tolist() == [True, True, False]


def test_the_sidecar_shares_the_first_gpu_growing_memory_unless_given_its_own():
    from realm.pretraining.devices import ALLOW_GROWTH_ENV, plan_gpu_split

    assert plan_gpu_split(0, None, None) == GpuSplit((), {}, shared=False)  # CPU: nothing to place
    shared = plan_gpu_split(2, None, None)
    assert shared.trainer_gpus == (0, 1) and shared.shared
    assert shared.sidecar_env == {"CUDA_VISIBLE_DEVICES": "0", ALLOW_GROWTH_ENV: "true"}
    own = plan_gpu_split(4, "1,2", None)
    assert own == GpuSplit((0, 3), {"CUDA_VISIBLE_DEVICES": "1,2"}, shared=False)
    # A scheduler already narrowed this process to physical GPUs 4-7: position 3 is physical GPU 7.
    narrowed = plan_gpu_split(4, "3", "4,5,6,7")
    assert narrowed.trainer_gpus == (0, 1, 2) and narrowed.sidecar_env == {"CUDA_VISIBLE_DEVICES": "7"}
    assert plan_gpu_split(2, None, "GPU-a1,GPU-b2").sidecar_env["CUDA_VISIBLE_DEVICES"] == "GPU-a1"


@pytest.mark.parametrize(
    ("num_gpus", "ids", "message"),
    [
        (1, "0", "leaves the trainer no GPU"),
        (2, "2", "sees 2 GPU"),
        (0, "0", "sees 0 GPU"),
        (2, "one", "expected GPU positions"),
        (2, "-1", "expected GPU positions"),
    ],
)
def test_a_refresh_device_the_trainer_cannot_spare_is_refused(num_gpus, ids, message):
    from realm.pretraining.devices import DevicePlacementError, plan_gpu_split

    with pytest.raises(DevicePlacementError, match=message):
        plan_gpu_split(num_gpus, ids, None)


def test_pretrain_refuses_a_refresh_device_before_any_work(tmp_path, capsys):
    from realm.cli import main as cli_main

    out = tmp_path / "run"
    code = cli_main(["pretrain", "--data", str(tmp_path / "no-corpus"), "--out", str(out), "--refresh-device", "0"])
    assert code != 0 and "--refresh-device 0: this process sees 0 GPU" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())  # nothing written
