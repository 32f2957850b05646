"""SavedModel export for TF Serving: parity with HF and Keras, a fresh tensorflow-only process, the op allow-list,
warm-up records, versioning, bad requests, the TF-Hub embedder, and the REST client against a fake server."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
import tensorflow as tf

from realm.export.saved_model import ExportError, export_saved_model, saved_model_ops
from realm.modeling.answer_merging import ANSWER_CANDIDATES
from tests.test_open_qa import BLOCKS, QUESTIONS, _hf_answer, checkpoints  # noqa: F401  (fixture)

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory):  # noqa: F811
    """The HF checkpoint converted by `realm convert --from-hf` (the path users take), then exported."""
    from realm import cli

    _, _, hf_dir = checkpoints
    root = tmp_path_factory.mktemp("export")
    converted = str(root / "converted")
    assert cli.main(["convert", "--from-hf", hf_dir, "--out", converted]) == 0
    with open(os.path.join(converted, "block_titles.json"), "w") as f:
        json.dump([f"Block {i}" for i in range(len(BLOCKS))], f)
    path = export_saved_model(converted, str(root / "serving"), "realm", version=7, warmup_questions=QUESTIONS[:2])
    return converted, path


@functools.cache
def _serving_signature(path: str):
    """Each export is loaded once per test session: loading, not answering, dominates these tests' time."""
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(path).signatures["serving_default"]


def _serve(path: str, questions) -> dict:
    out = _serving_signature(path)(question=tf.constant(questions))
    return {k: v.numpy() for k, v in out.items()}


def test_export_answers_like_hf(checkpoints, exported):  # noqa: F811
    hf, tokenizer, _ = checkpoints
    out = _serve(exported[1], QUESTIONS)
    beam = hf.config.reader_beam_size
    for b, question in enumerate(QUESTIONS):
        retrieved, reference = _hf_answer(hf, tokenizer, question)
        assert out["block_ids"][b].tolist() == retrieved[:beam].tolist()
        expected_ids = reference.predicted_answer_ids.tolist()
        answer = out["answer"][b].decode()
        assert tokenizer(answer, add_special_tokens=False)["input_ids"] == expected_ids, (answer, expected_ids)
        assert answer in BLOCKS[int(retrieved[int(reference.reader_output.block_idx)])]  # the source text itself
    assert out["block_titles"][0][0].decode() == f"Block {out['block_ids'][0][0]}"


def test_export_equals_the_keras_model(exported):
    from realm.pretrained import from_pretrained

    keras_out = from_pretrained(exported[0])(QUESTIONS)
    out = _serve(exported[1], QUESTIONS)
    assert out["answer"].tolist() == keras_out["predicted_answer"].numpy().tolist()
    np.testing.assert_allclose(out["answer_score"], keras_out["answer_score"].numpy(), atol=1e-5)


def _tensor_spec(tensor_info) -> tuple[tf.DType, list[int]]:
    return tf.dtypes.as_dtype(tensor_info.dtype), [d.size for d in tensor_info.tensor_shape.dim]


def test_signature_contract_and_on_disk_layout(checkpoints, exported):  # noqa: F811
    """What TF Serving and its clients read: the SignatureDefs in saved_model.pb and the version directories."""
    from tensorflow.core.protobuf import saved_model_pb2

    config = checkpoints[0].config
    k = config.reader_beam_size
    with open(os.path.join(exported[1], "saved_model.pb"), "rb") as f:
        (meta_graph,) = saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs
    assert "serve" in meta_graph.meta_info_def.tags
    serving = meta_graph.signature_def["serving_default"]
    assert {name: _tensor_spec(t) for name, t in serving.inputs.items()} == {"question": (tf.string, [-1])}
    assert {name: _tensor_spec(t) for name, t in serving.outputs.items()} == {
        "answer": (tf.string, [-1]),
        "answer_score": (tf.float32, [-1]),
        "answer_block": (tf.int32, [-1]),
        "block_ids": (tf.int64, [-1, k]),
        "block_titles": (tf.string, [-1, k]),
        "retrieval_scores": (tf.float32, [-1, k]),
        "answer_candidates": (tf.string, [-1, ANSWER_CANDIDATES]),
        "answer_candidate_probabilities": (tf.float32, [-1, ANSWER_CANDIDATES]),
    }
    embed = meta_graph.signature_def["embed_question"]
    assert {name: _tensor_spec(t) for name, t in embed.inputs.items()} == {"question": (tf.string, [-1])}
    assert {name: _tensor_spec(t) for name, t in embed.outputs.items()} == {
        "embedding": (tf.float32, [-1, config.retriever_proj_size])
    }
    out = _serve(exported[1], QUESTIONS[:2])
    assert {name: value.shape for name, value in out.items()} == {
        "answer": (2,),
        "answer_score": (2,),
        "answer_block": (2,),
        "block_ids": (2, k),
        "block_titles": (2, k),
        "retrieval_scores": (2, k),
        "answer_candidates": (2, ANSWER_CANDIDATES),
        "answer_candidate_probabilities": (2, ANSWER_CANDIDATES),
    }
    assert [c[0] for c in out["answer_candidates"]] == list(out["answer"])  # the answer heads its list
    probabilities = out["answer_candidate_probabilities"]
    assert np.all(probabilities >= 0) and np.all(probabilities.sum(axis=1) <= 1 + 1e-5)
    assert np.all(np.diff(probabilities, axis=1) <= 1e-6)  # likeliest first

    version_dir = exported[1]
    model_root = os.path.dirname(version_dir)
    assert os.path.basename(model_root) == "realm"
    assert os.listdir(model_root) == ["7"]  # TF Serving takes every integer-named directory for a version
    assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
    variables = set(os.listdir(os.path.join(version_dir, "variables")))
    assert {"variables.index", "variables.data-00000-of-00001"} <= variables
    assert os.listdir(os.path.join(version_dir, "assets"))  # the WordPiece vocabulary the in-graph tokenizer reads
    assert os.listdir(os.path.join(version_dir, "assets.extra")) == ["tf_serving_warmup_requests"]


def test_export_cli_with_a_small_mips_chunk_searches_in_chunks(exported, tmp_path, capsys):
    """Chunks of 3 over the 10 blocks (the last one partial, and smaller than the searcher beam of 6) take the
    chunked loop in the exported graph and give what the single-matmul export gives."""
    from realm import cli

    out_dir = str(tmp_path / "serving")
    argv = ["export", "--model", exported[0], "--out", out_dir, "--version", "3", "--mips-chunk-size", "3"]
    assert cli.main(argv) == 0
    chunked = os.path.join(out_dir, "realm", "3")
    loops = {"While", "StatelessWhile"}
    assert loops & saved_model_ops(chunked) and not loops & saved_model_ops(exported[1])
    full, small = _serve(exported[1], QUESTIONS), _serve(chunked, QUESTIONS)
    assert small["block_ids"].tolist() == full["block_ids"].tolist()
    assert small["answer"].tolist() == full["answer"].tolist()
    np.testing.assert_allclose(small["retrieval_scores"], full["retrieval_scores"], atol=1e-5)
    np.testing.assert_allclose(small["answer_score"], full["answer_score"], atol=1e-5)
    assert cli.main([*argv[:-1], "0"]) == 2
    assert "--mips-chunk-size must be a positive number of blocks, got 0" in capsys.readouterr().err
    assert os.listdir(os.path.join(out_dir, "realm")) == ["3"]


def test_loads_in_a_fresh_process_with_only_tensorflow(exported):
    script = (
        "import sys, json, tensorflow as tf, tensorflow_text\n"
        f"m = tf.saved_model.load({exported[1]!r})\n"
        f"out = m.signatures['serving_default'](question=tf.constant({QUESTIONS!r}))\n"
        "assert not any(name == 'realm' or name.startswith('realm.') for name in sys.modules)\n"
        "print(json.dumps([a.decode() for a in out['answer'].numpy()]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd="/")
    assert result.returncode == 0, result.stderr[-2000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers == [a.decode() for a in _serve(exported[1], QUESTIONS)["answer"]]


def test_only_ops_of_stock_tensorflow_and_tensorflow_text(exported):
    used = sorted(saved_model_ops(exported[1]))
    script = (
        "import json, sys, tensorflow as tf, tensorflow_text\n"
        "from tensorflow.python.framework import op_def_registry\n"
        "used = json.loads(sys.stdin.read())\n"
        "print(json.dumps([op for op in used if op_def_registry.get(op) is None]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(used), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []  # every op is known to plain TF + TF Text
    assert len(used) > 50 and "FastWordpieceTokenizeWithOffsets" in used
    assert not any("scann" in op.lower() for op in used)


def test_warmup_requests_parse_as_prediction_logs(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(exported[1], "assets.extra", "tf_serving_warmup_requests")
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    assert len(logs) == 2
    questions = [tf.make_ndarray(log.predict_log.request.inputs["question"])[0].decode() for log in logs]
    assert questions == QUESTIONS[:2]
    base = os.path.dirname(os.path.dirname(exported[1]))
    with open(os.path.join(base, "models.config")) as f:
        assert 'base_path: "/models/realm"' in f.read()
    with open(os.path.join(base, "batching_parameters.txt")) as f:
        assert "max_batch_size" in f.read()


def test_versions_are_never_overwritten(exported):
    before = os.path.getmtime(os.path.join(exported[1], "saved_model.pb"))
    base = os.path.dirname(os.path.dirname(exported[1]))
    with pytest.raises(ExportError, match="never overwritten"):
        export_saved_model(exported[0], base, "realm", version=7)
    assert os.path.getmtime(os.path.join(exported[1], "saved_model.pb")) == before
    assert not [n for n in os.listdir(os.path.dirname(exported[1])) if n.startswith(".staging")]


def test_bad_requests_are_answered_or_rejected_cleanly(exported):
    odd = ["", "x" * 100_000, b"caf\xe9 \xff\xfe bytes"]
    out = _serve(exported[1], odd)
    assert out["answer"].shape == (3,) and np.isfinite(out["answer_score"]).all()
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 256 questions"):
        _serve(exported[1], ["who?"] * 1000)


def test_hub_embedder_matches_the_embed_signature(exported):
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401

    base = os.path.dirname(os.path.dirname(exported[1]))
    hub_dir = os.path.join(base, "realm_embedder_hub", "7")
    layer = hub.KerasLayer(hub_dir, signature="projected", output_key="projected")
    embedded = layer(tf.constant(QUESTIONS)).numpy()
    expected = tf.saved_model.load(exported[1]).signatures["embed_question"](question=tf.constant(QUESTIONS))
    np.testing.assert_allclose(embedded, expected["embedding"].numpy(), atol=1e-6)
    np.testing.assert_allclose(hub.load(hub_dir)(tf.constant(QUESTIONS)).numpy(), embedded, atol=1e-6)


def test_half_precision_index_keeps_the_ranking(exported, tmp_path):
    path = export_saved_model(exported[0], str(tmp_path), "realm", version=1, half_precision=True, hub_embedder=False)
    full, half = _serve(exported[1], QUESTIONS), _serve(path, QUESTIONS)
    assert half["block_ids"].tolist() == full["block_ids"].tolist()
    np.testing.assert_allclose(half["retrieval_scores"], full["retrieval_scores"], atol=1e-2)


def _send_json(handler: BaseHTTPRequestHandler, status: int, reply: dict) -> None:
    data = json.dumps(reply).encode()
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextlib.contextmanager
def _http_server(handler):
    """A loopback HTTP server for `handler` on a free port, shut down on leaving; yields its host:port."""
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_rest_client_both_forms_against_a_fake_server(exported):
    from realm.export import client

    rows = _serve(exported[1], QUESTIONS[:2])
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body))
            keys = ("answer", "answer_score", "block_titles")
            values = {
                "answer": [a.decode() for a in rows["answer"]],
                "answer_score": rows["answer_score"].tolist(),
                "block_titles": [[t.decode() for t in r] for r in rows["block_titles"]],
            }
            if "instances" in body:
                reply = {"predictions": [{k: values[k][i] for k in keys} for i in range(2)]}
            else:
                reply = {"outputs": values}
            _send_json(self, 200, reply)

        def log_message(self, *args):
            pass

    with _http_server(Handler) as address:
        by_row = client.ask_rest(address, "realm", QUESTIONS[:2])
        by_column = client.ask_rest(address, "realm", QUESTIONS[:2], columnar=True)
    assert by_row == by_column and by_row[0]["answer"] == rows["answer"][0].decode()
    assert seen[0] == ("/v1/models/realm:predict", {"instances": [{"question": q} for q in QUESTIONS[:2]]})
    assert seen[1][1] == {"inputs": {"question": QUESTIONS[:2]}}
    with pytest.raises(client.ServingError, match="cannot reach"):
        client.ask_rest("127.0.0.1:9", "realm", ["q"], timeout=2)


def _predict_like_tf_serving(signature, questions) -> dict[str, np.ndarray]:
    """TF Serving's Predict: the named signature on the request's tensors; a failing op fails the request."""
    return {key: value.numpy() for key, value in signature(question=tf.constant(questions)).items()}


@contextlib.contextmanager
def _prediction_service(export_dir: str):
    """An in-process gRPC PredictionService over the SavedModel, answering errors with TF's status code and
    message as TF Serving does (InvalidArgument -> INVALID_ARGUMENT)."""
    from concurrent import futures

    import grpc
    from tensorflow.core.protobuf import error_codes_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    signature = _serving_signature(export_dir)
    requests = []

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            requests.append(request)
            try:
                out = _predict_like_tf_serving(signature, tf.make_ndarray(request.inputs["question"]))
            except tf.errors.OpError as exc:
                context.abort(grpc.StatusCode[error_codes_pb2.Code.Name(exc.error_code)], exc.message)
            response = predict_pb2.PredictResponse()
            for key, value in out.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", requests
    finally:
        server.stop(None)


def test_grpc_client_against_an_in_process_prediction_service(exported):
    from realm.export import client

    with _prediction_service(exported[1]) as (address, requests):
        rows = client.ask_grpc(address, "realm", QUESTIONS[:2])
    expected = _serve(exported[1], QUESTIONS[:2])
    assert [r["answer"] for r in rows] == [a.decode() for a in expected["answer"]]
    assert rows[0]["block_ids"] == expected["block_ids"][0].tolist()
    assert requests[0].model_spec.name == "realm" and requests[0].model_spec.signature_name == "serving_default"
    assert "Q: " in client.format_answer(QUESTIONS[0], rows[0])


def test_bad_requests_over_grpc_are_answered_or_rejected_and_the_server_keeps_serving(exported):
    from realm.export import client

    with _prediction_service(exported[1]) as (address, _):
        for odd in ("", "x" * 100_000, b"caf\xe9 \xff\xfe bytes"):
            (row,) = client.ask_grpc(address, "realm", [odd])
            assert isinstance(row["answer"], str) and np.isfinite(row["answer_score"])
            assert len(row["block_ids"]) == len(row["block_titles"]) == len(row["retrieval_scores"])
        with pytest.raises(client.ServingError, match=r"(?s)INVALID_ARGUMENT: .*at most 256 questions"):
            client.ask_grpc(address, "realm", ["who?"] * 1000)
        (row,) = client.ask_grpc(address, "realm", QUESTIONS[:1])
    assert row["answer"] == _serve(exported[1], QUESTIONS[:1])["answer"][0].decode()


def test_bad_requests_over_rest_are_answered_or_rejected_and_the_server_keeps_serving(exported):
    """Through a REST fake that runs the SavedModel as TF Serving's REST API does: `{"b64": ...}` for bytes that
    are not UTF-8, HTTP 400 with `{"error": message}` for a failed request."""
    import base64

    from realm.export import client

    signature = _serving_signature(exported[1])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            questions = [
                base64.b64decode(q["b64"]) if isinstance(q, dict) else q.encode()
                for q in (row["question"] for row in body["instances"])
            ]
            try:
                out = _predict_like_tf_serving(signature, questions)
                rows = [{key: _jsonable(value[i]) for key, value in out.items()} for i in range(len(questions))]
                status, reply = 200, {"predictions": rows}
            except tf.errors.InvalidArgumentError as exc:
                status, reply = 400, {"error": exc.message}
            _send_json(self, status, reply)

        def log_message(self, *args):
            pass

    with _http_server(Handler) as address:
        for odd in ("", "x" * 100_000, b"caf\xe9 \xff\xfe bytes"):
            (row,) = client.ask_rest(address, "realm", [odd])
            assert isinstance(row["answer"], str) and np.isfinite(row["answer_score"])
        with pytest.raises(client.ServingError, match=r"(?s)HTTP 400: .*at most 256 questions"):
            client.ask_rest(address, "realm", ["who?"] * 1000)
        (row,) = client.ask_rest(address, "realm", QUESTIONS[:1])
    assert row["answer"] == _serve(exported[1], QUESTIONS[:1])["answer"][0].decode()


def _jsonable(value):
    """A numpy output row as TF Serving's REST API writes it (strings decoded, numbers as JSON numbers)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value]
    return value.item()


def test_ask_takes_the_serving_base_and_says_one_line_for_each_mistake(exported, tmp_path, capsys):
    """`realm ask --model` as people call it: the base directory TF Serving takes (its newest version answers),
    questions that are not valid UTF-8 (answered), and each wrong path or request as one line, exit code 2."""
    from realm.cli import main

    version_dir = exported[1]
    base = os.path.dirname(os.path.dirname(version_dir))
    assert main(["ask", "--model", base, "who founded the company", "caf\udce9 au lait?"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("Q: ") == 2 and "caf\ufffd au lait?" in printed
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "saved_model.pb").write_bytes(b"\x00\x01 not a protobuf \xff" * 10)
    mistakes = {
        str(tmp_path / "missing"): "no such directory",
        str(tmp_path / "notes.txt"): "a file, not an exported model directory",
        str(tmp_path / "garbage"): "is not a SavedModel|cannot load the SavedModel",
        str(tmp_path): "no saved_model.pb here",
        os.path.join(base, "realm_embedder_hub", "7"): "not an open-QA export",
    }
    for path, message in mistakes.items():
        assert main(["ask", "--model", path, "who?"]) == 2, path
        err = capsys.readouterr().err.strip()
        assert re.search(message, err) and len(err.splitlines()) == 1, err
    assert main(["ask", "--model", version_dir, *(["who?"] * 300)]) == 2
    err = capsys.readouterr().err.strip()
    assert "refused the request (300 questions): at most 256 questions" in err and len(err.splitlines()) == 1


def test_a_printed_answer_names_the_block_it_was_read_from_with_its_rank_and_retrieval_score():
    from realm.export.client import format_answer

    row = {
        "answer": "aleph",
        "answer_score": 12.5,
        "answer_block": 1,
        "block_ids": [7, 3, 9],
        "block_titles": ["Alphabet", "A", ""],
        "retrieval_scores": [20.0, 18.25, 17.0],
        "answer_candidates": ["aleph", "alpha", "", "", ""],
        "answer_candidate_probabilities": [0.416, 0.2, 0.0, 0.0, 0.0],
    }
    assert format_answer("q", row) == (
        "Q: q\nA: aleph  (42%; from A: block 2 of 3 read, retrieval score 18.25)\n   also: alpha (20%)"
    )
    third = format_answer("q", {**row, "answer_block": 2})
    assert "from block 9: block 3 of 3 read, retrieval score 17.00)" in third
    # exports made before the candidates: the score, no runners-up
    older = {k: v for k, v in row.items() if not k.startswith("answer_candidate")}
    expected = "Q: q\nA: aleph  (score 12.500; from A: block 2 of 3 read, retrieval score 18.25)"
    assert format_answer("q", older) == expected
    # ... and before answer_block existed: the titles of the blocks read
    oldest = {k: v for k, v in older.items() if k != "answer_block"}
    assert format_answer("q", oldest) == "Q: q\nA: aleph  (score 12.500; from: Alphabet, A)"


def test_infra_validation_expects_the_outputs_the_client_reads():
    """components/infra_validation.py imports nothing from the project, so it spells the outputs out itself."""
    import importlib.util

    from realm.export.client import OUTPUTS

    path = os.path.join(os.path.dirname(__file__), "..", "components", "infra_validation.py")
    spec = importlib.util.spec_from_file_location("infra_validation_by_path", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(OUTPUTS) == module.EXPECTED_OUTPUTS


def test_a_reader_that_reads_titles_serves_as_the_keras_model(exported, tmp_path):
    """A model whose reader reads block titles (`realm finetune --reader-titles`) loads them with its weights and
    serves them from the one variable both the reader and the `block_titles` output read."""
    import shutil

    from realm.errors import CheckpointError
    from realm.pretrained import from_pretrained

    titled = tmp_path / "titled"
    shutil.copytree(exported[0], titled)
    with open(titled / "config.json") as f:
        config = json.load(f)
    with open(titled / "config.json", "w") as f:
        json.dump({**config, "reader_reads_titles": True}, f)
    model = from_pretrained(str(titled))
    assert model.reader_titles
    keras_out = model(QUESTIONS)
    first_read = int(keras_out["retrieved_block_ids"][0, 0])
    read = model.tokenizer.decode(keras_out["reader_input_ids"][0, :1]).numpy()[0].decode()
    assert f"block {first_read} " in read  # [CLS] question [SEP] title [SEP] block [SEP]
    path = export_saved_model(str(titled), str(tmp_path / "serving"), "realm", version=1, warmup_questions=QUESTIONS)
    out = _serve(path, QUESTIONS)
    assert out["answer"].tolist() == keras_out["predicted_answer"].numpy().tolist()
    np.testing.assert_allclose(out["answer_score"], keras_out["answer_score"].numpy(), atol=1e-5)
    assert out["block_titles"][0][0].decode() == f"Block {out['block_ids'][0][0]}"
    os.remove(titled / "block_titles.json")
    with pytest.raises(CheckpointError, match="block titles not found"):
        from_pretrained(str(titled))


def _served_as_the_keras_model(checkpoint, tmp_path, settings: dict, titles: list[str] | None = None):
    """A copy of `checkpoint` with `settings` in its config.json (and `titles`), exported and served: the served
    blocks, scores and answers must be the Keras model's; returns the served outputs."""
    import shutil

    from realm.pretrained import from_pretrained

    changed = tmp_path / "changed"
    shutil.copytree(checkpoint, changed)
    if titles is not None:
        with open(changed / "block_titles.json", "w") as f:
            json.dump(titles, f)
    with open(changed / "config.json") as f:
        config = json.load(f)
    with open(changed / "config.json", "w") as f:
        json.dump({**config, **settings}, f)
    keras_out = from_pretrained(str(changed))(QUESTIONS)
    path = export_saved_model(str(changed), str(tmp_path / "serving"), "realm", version=1, warmup_questions=QUESTIONS)
    out = _serve(path, QUESTIONS)
    beam = out["block_ids"].shape[1]
    np.testing.assert_array_equal(out["block_ids"], keras_out["retrieved_block_ids"].numpy()[:, :beam])
    np.testing.assert_allclose(out["retrieval_scores"], keras_out["retrieval_scores"].numpy()[:, :beam], rtol=1e-5)
    assert out["answer"].tolist() == keras_out["predicted_answer"].numpy().tolist()
    return out


def test_a_model_ranking_blocks_by_article_serves_them_in_that_order(exported, tmp_path):
    """`retrieval_article_weight` re-ranks the retrieved blocks in-graph: the served model reads and reports them in
    the Keras model's order, not the search's."""
    from realm.pretrained import from_pretrained

    retrieved = from_pretrained(exported[0])(QUESTIONS)["retrieved_block_ids"].numpy()[0]
    titles = [f"Block {i}" for i in range(len(BLOCKS))]
    titles[retrieved[-1]] = titles[retrieved[0]]  # the last block retrieved shares the first one's article
    out = _served_as_the_keras_model(exported[0], tmp_path, {"retrieval_article_weight": 0.9}, titles)
    assert out["block_ids"].tolist() != _serve(exported[1], QUESTIONS)["block_ids"].tolist()  # the ranking changed


def test_a_hybrid_model_serves_its_bm25_ranking(exported, tmp_path):
    """`retrieval_lexical_weight` adds BM25 to the dense scores in-graph: the served model searches with it and
    answers as the Keras model does."""
    out = _served_as_the_keras_model(exported[0], tmp_path, {"retrieval_lexical_weight": 2.0})
    assert out["block_ids"].tolist() != _serve(exported[1], QUESTIONS)["block_ids"].tolist()  # BM25 changed it
