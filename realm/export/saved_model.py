"""`realm export`: a fine-tuned RealmForOpenQA -> a SavedModel that stock TensorFlow Serving 2.20 serves as is.

Layout: `<base>/<model_name>/<version>/` with saved_model.pb, variables/, assets/ (vocab.txt) and
assets.extra/tf_serving_warmup_requests. Written under a hidden temporary name and renamed into place; an
existing version is never overwritten. Beside the versions: `models.config` and `batching_parameters.txt`
for `tensorflow_model_server --model_config_file ... --enable_batching --batching_parameters_file ...`.

Signatures:
- `serving_default`: question tf.string [batch] -> answer (the span as written in the source text), answer_score,
  answer_block int32 [batch] (which of the k blocks read the answer came from, 0 = the best retrieved),
  block_ids int64 [batch, k], block_titles [batch, k], retrieval_scores [batch, k], with k = reader_beam_size;
  answer_candidates [batch, 5] (the likeliest distinct answers, the answer first; "" past the last) and
  answer_candidate_probabilities float32 [batch, 5] (each one's probability over all spans of the blocks read);
- `embed_question`: question -> embedding float32 [batch, retriever_proj_size].
Everything runs in the graph with core TF and tensorflow-text ops: WordPiece tokenization, exact maximum inner
product search chunked over the corpus (`mips_chunk_size` blocks at a time, so a request's score matrix is
[batch, mips_chunk_size] however large the index), the reader, span decoding. Requests with more than
`max_batch` questions are rejected with InvalidArgument instead of exhausting the server's memory.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time

import tensorflow as tf

from realm.errors import RealmError
from realm.export.client import valid_text
from realm.retrieval.mips import DEFAULT_CHUNK_SIZE, exact_top_k

logger = logging.getLogger(__name__)

WARMUP_FILE = "tf_serving_warmup_requests"
DEFAULT_WARMUP_QUESTIONS = (
    "who was the 16th president of the united states",
    "what is the capital of angola",
    "when did apollo 11 land on the moon",
)


class ExportError(RealmError):
    pass


class _Untracked:
    """Holds the Keras model out of the SavedModel object graph: Keras would add its own (unusable) default
    signatures for every sub-model. Its variables, tokenizer tables and vocabulary are tracked explicitly."""

    def __init__(self, value):
        self.value = value


def _track_model(module: tf.Module, model) -> None:
    module._keras = _Untracked(model)
    # The corpus embeddings are exported once, as the module's own (possibly float16) variable.
    corpus = getattr(model, "block_emb", None)
    module.model_variables = [w for w in model.weights if w is not corpus]
    module.tokenizer = model.tokenizer
    if hasattr(model, "block_records"):
        module.block_records = model.block_records
    if getattr(model, "block_articles", None) is not None:  # read when the model ranks blocks by article
        module.block_articles = model.block_articles
    if getattr(model, "lexical_index", None) is not None:  # read when the model adds BM25 to its ranking
        module.lexical_index = model.lexical_index


class RealmServingModule(tf.Module):
    """The exported graph: a RealmForOpenQA with its corpus, block titles and optional half-precision index."""

    def __init__(
        self,
        model,
        titles: list[str],
        half_precision: bool = False,
        max_batch: int = 256,
        mips_chunk_size: int = DEFAULT_CHUNK_SIZE,
    ):
        super().__init__(name="realm_serving")
        _track_model(self, model)
        self.max_batch = max_batch
        self.mips_chunk_size = mips_chunk_size
        # A reader that reads titles holds them already: served from that one variable, not a second copy.
        held = getattr(model, "block_titles", None)
        if held is not None:
            self.block_titles = held
        else:
            self.block_titles = tf.Variable(tf.constant(titles, tf.string), trainable=False, name="block_titles")
        dtype = tf.float16 if half_precision else tf.float32
        self.block_embeddings = tf.Variable(tf.cast(model.block_emb, dtype), trainable=False, name="block_embeddings")

    @property
    def model(self):
        return self._keras.value

    def _checked(self, questions: tf.Tensor) -> tf.Tensor:
        # Everything downstream reads the returned tensor, so an oversized request fails before any tokenizing or
        # matmul; a bare assert would only be ordered among stateful ops and could run after the whole model.
        too_many = tf.debugging.assert_less_equal(
            tf.shape(questions)[0],
            self.max_batch,
            message=f"at most {self.max_batch} questions per request",
        )
        with tf.control_dependencies([too_many]):
            return tf.identity(questions)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="question")])
    def serving_default(self, question):
        question = self._checked(question)
        model = self.model
        encoded = model.tokenizer.encode_queries(question, model.query_seq_len)
        embedding = model.embedder(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])[
            "projected_score"
        ]
        scores, ids = exact_top_k(
            embedding,
            self.block_embeddings,
            model.config.searcher_beam_size,
            chunk_size=self.mips_chunk_size,
            bias=model.lexical_scores(question),
        )
        out = model.read(question, scores, ids)
        scores, ids = out["retrieval_scores"], out["retrieved_block_ids"]  # in the order the reader read them
        # A static beam keeps the signature's outputs at [batch, k] for clients that read the SignatureDef.
        beam = min(model.config.reader_beam_size, ids.shape[1])
        block_ids = ids[:, :beam]
        return {
            "answer": out["predicted_answer"],
            "answer_score": tf.cast(out["answer_score"], tf.float32),
            "answer_block": tf.cast(out["block_idx"], tf.int32),
            "block_ids": tf.cast(block_ids, tf.int64),
            "block_titles": tf.gather(self.block_titles, block_ids),
            "retrieval_scores": tf.cast(scores[:, :beam], tf.float32),
            "answer_candidates": out["answer_candidates"],
            "answer_candidate_probabilities": out["answer_candidate_probabilities"],
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="question")])
    def embed_question(self, question):
        question = self._checked(question)
        model = self.model
        encoded = model.tokenizer.encode_queries(question, model.query_seq_len)
        embedding = model.embedder(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
        return {"embedding": tf.cast(embedding["projected_score"], tf.float32)}


class EmbedderHubModule(tf.Module):
    """The question/block embedder as a reusable TF-Hub-format SavedModel (`hub.load`, `hub.KerasLayer`)."""

    def __init__(self, model):
        super().__init__(name="realm_embedder")
        _track_model(self, model)

    @property
    def model(self):
        return self._keras.value

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def projected(self, text):
        encoded = self.model.tokenizer.encode_queries(text, self.model.query_seq_len)
        out = self.model.embedder(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
        return {"projected": tf.cast(out["projected_score"], tf.float32)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def __call__(self, text):
        return self.projected(text)["projected"]


def _warmup_records(path: str, questions: list[str]) -> None:
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    with tf.io.TFRecordWriter(path) as writer:
        for question in questions:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(signature_name="serving_default"),
            )
            request.inputs["question"].CopyFrom(tf.make_tensor_proto([question], dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def serving_config(base_dir: str, model_name: str) -> str:
    """models.config (text proto) for --model_config_file; the path inside the docker image is /models/NAME."""
    return (
        "model_config_list {\n"
        "  config {\n"
        f'    name: "{model_name}"\n'
        f'    base_path: "/models/{model_name}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { latest { num_versions: 2 } }\n"
        "  }\n"
        "}\n"
    )


BATCHING_PARAMETERS = """max_batch_size { value: 32 }
batch_timeout_micros { value: 5000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: 4 }
pad_variable_length_inputs: true
"""


def export_saved_model(
    model_dir: str,
    base_dir: str,
    model_name: str = "realm",
    version: int | None = None,
    *,
    warmup_questions: list[str] | None = None,
    half_precision: bool = False,
    max_batch: int = 256,
    hub_embedder: bool = True,
    mips_chunk_size: int | None = None,
) -> str:
    """Export and return `<base>/<model_name>/<version>`; the version defaults to a Unix timestamp.

    `mips_chunk_size` (default DEFAULT_CHUNK_SIZE) bounds the retrieval's memory per request at
    [batch, mips_chunk_size] float32 scores.
    """
    from realm.pretrained import from_pretrained

    mips_chunk_size = DEFAULT_CHUNK_SIZE if mips_chunk_size is None else mips_chunk_size
    if mips_chunk_size < 1:
        raise ExportError(f"--mips-chunk-size must be a positive number of blocks, got {mips_chunk_size}")
    model = from_pretrained(model_dir, architecture="RealmForOpenQA")
    titles_path = os.path.join(model_dir, "block_titles.json")
    titles = [""] * model.config.num_block_records
    if os.path.exists(titles_path):
        with open(titles_path, encoding="utf-8") as f:
            titles = json.load(f)
    if len(titles) != model.config.num_block_records:
        raise ExportError(f"{titles_path}: {len(titles)} titles for {model.config.num_block_records} blocks")
    model_root = os.path.join(base_dir, model_name)
    version = int(version if version is not None else time.time())
    final = os.path.join(model_root, str(version))
    if os.path.exists(final):
        raise ExportError(f"{final} already exists; versions are never overwritten (choose another --version)")
    os.makedirs(model_root, exist_ok=True)
    staging = os.path.join(model_root, f".staging-{version}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    module = RealmServingModule(
        model, titles, half_precision=half_precision, max_batch=max_batch, mips_chunk_size=mips_chunk_size
    )
    tf.saved_model.save(
        module,
        staging,
        signatures={"serving_default": module.serving_default, "embed_question": module.embed_question},
    )
    extra = os.path.join(staging, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    _warmup_records(os.path.join(extra, WARMUP_FILE), list(warmup_questions or DEFAULT_WARMUP_QUESTIONS))
    os.rename(staging, final)
    with open(os.path.join(base_dir, "models.config"), "w", encoding="utf-8") as f:
        f.write(serving_config(base_dir, model_name))
    with open(os.path.join(base_dir, "batching_parameters.txt"), "w", encoding="utf-8") as f:
        f.write(BATCHING_PARAMETERS)
    if hub_embedder:
        hub_dir = os.path.join(base_dir, f"{model_name}_embedder_hub", str(version))
        if not os.path.exists(hub_dir):
            hub = EmbedderHubModule(model)
            tf.saved_model.save(hub, hub_dir, signatures={"projected": hub.projected})
    logger.info(
        "exported %s (%d blocks, MIPS in chunks of %d%s)",
        final,
        len(titles),
        mips_chunk_size,
        ", float16 index" if half_precision else "",
    )
    return final


def saved_model_ops(path: str) -> set[str]:
    """Every op type in a SavedModel's graphs and function library."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    ops = set()
    for meta_graph in proto.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def resolve_version_dir(path: str, name: str = "realm") -> str:
    """The SavedModel version directory `path` names: itself, or the newest version under a model directory
    (`<base>/<name>`) or a serving base directory (`<base>`, the path TF Serving takes), as TF Serving picks."""
    if not os.path.exists(path):
        raise ExportError(f"{path}: no such directory (expected an exported model, <base>/<name>/<version>)")
    if not os.path.isdir(path):
        raise ExportError(f"{path}: a file, not an exported model directory (<base>/<name>/<version>)")
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    for model_dir in (path, os.path.join(path, name)):
        if not os.path.isdir(model_dir):
            continue
        for version in sorted((int(d) for d in os.listdir(model_dir) if d.isdigit()), reverse=True):
            candidate = os.path.join(model_dir, str(version))
            if os.path.exists(os.path.join(candidate, "saved_model.pb")):
                logger.info("answering with %s (the newest version under %s)", candidate, path)
                return candidate
    raise ExportError(
        f"{path}: no saved_model.pb here, nor a numbered version under it or under {os.path.join(path, name)} "
        "(expected the output of `realm export` or the pipeline's push step)"
    )


def answer_locally(export_dir: str, questions: list[str], name: str = "realm") -> list[dict]:
    import tensorflow_text  # noqa: F401  (registers the WordPiece ops the graph uses)

    path = resolve_version_dir(export_dir, name)
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as err:
        raise ExportError(f"{path}: cannot load the SavedModel ({str(err).splitlines()[0][:200]})") from None
    except Exception as err:  # a corrupt saved_model.pb fails in protobuf parsing with its own error types
        if type(err).__module__.startswith("google.protobuf"):
            raise ExportError(f"{path}: saved_model.pb is not a SavedModel (corrupt or another file)") from None
        raise
    signature = getattr(loaded, "signatures", {}).get("serving_default")
    inputs = signature.structured_input_signature[1] if signature is not None else {}
    if list(inputs) != ["question"]:
        raise ExportError(
            f"{path}: not an open-QA export (its serving_default takes {sorted(inputs) or 'nothing'}, not "
            "`question`); `realm ask` takes the output of `realm export`"
        )
    try:
        questions = [valid_text(q) for q in questions]
        out = signature(question=tf.constant([q.encode("utf-8") for q in questions]))
    except tf.errors.InvalidArgumentError as err:
        asserted = re.search(r"assertion failed: \[([^\]]+)\]", err.message)
        reason = asserted.group(1) if asserted else err.message.strip().splitlines()[-1][:200]
        raise ExportError(f"{path}: the model refused the request ({len(questions)} questions): {reason}") from None
    return [
        {
            "question": q,
            "answer": out["answer"][i].numpy().decode("utf-8", errors="replace"),
            "answer_score": float(out["answer_score"][i]),
            "answer_block": int(out["answer_block"][i]),
            "block_ids": out["block_ids"][i].numpy().tolist(),
            "block_titles": [t.decode("utf-8", errors="replace") for t in out["block_titles"][i].numpy()],
            "retrieval_scores": out["retrieval_scores"][i].numpy().tolist(),
            **(
                {
                    "answer_candidates": [
                        c.decode("utf-8", errors="replace") for c in out["answer_candidates"][i].numpy()
                    ],
                    "answer_candidate_probabilities": out["answer_candidate_probabilities"][i].numpy().tolist(),
                }
                if "answer_candidates" in out  # exports made before the candidates existed answer without them
                else {}
            ),
        }
        for i, q in enumerate(questions)
    ]
