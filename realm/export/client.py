"""`realm ask`: query an exported model in-process, or a TensorFlow Serving server over REST or gRPC."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

from realm.errors import RealmError

OUTPUTS = (
    "answer",
    "answer_score",
    "answer_block",
    "block_ids",
    "block_titles",
    "retrieval_scores",
    "answer_candidates",
    "answer_candidate_probabilities",
)


def valid_text(question: str) -> str:
    """`question` as valid Unicode: command-line bytes in another encoding arrive as lone surrogates, which are
    replaced (U+FFFD), so such a question is answered (and printed) rather than refused."""
    return question.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class ServingError(RealmError):
    pass


def _rest_value(question: str | bytes) -> str | dict[str, str]:
    """JSON strings are UTF-8, so TF Serving's REST API takes other bytes base64-encoded as `{"b64": ...}`."""
    if isinstance(question, bytes):
        try:
            return question.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(question).decode("ascii")}
    return question


def ask_rest(
    server: str, model_name: str, questions: list[str | bytes], *, columnar: bool = False, timeout: float = 60.0
):
    """POST /v1/models/NAME:predict, in the row (`instances`) or columnar (`inputs`) form."""
    url = f"http://{server}/v1/models/{model_name}:predict"
    values = [_rest_value(q) for q in questions]
    body = {"inputs": {"question": values}} if columnar else {"instances": [{"question": v} for v in values]}
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.load(response)
    except urllib.error.HTTPError as exc:
        raise ServingError(f"{url}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise ServingError(f"{url}: cannot reach the server ({exc})") from None
    if columnar:
        outputs = payload["outputs"]
        return [{k: outputs[k][i] for k in OUTPUTS if k in outputs} for i in range(len(questions))]
    return [{k: row[k] for k in OUTPUTS if k in row} for row in payload["predictions"]]


def ask_grpc(server: str, model_name: str, questions: list[str | bytes], timeout: float = 60.0):
    """PredictionService/Predict on the serving_default signature; a rejected request raises ServingError with
    the server's status code and message."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = "serving_default"
    request.inputs["question"].CopyFrom(tf.make_tensor_proto(questions, dtype=tf.string))
    with grpc.insecure_channel(server) as channel:
        try:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise ServingError(f"{server}: gRPC {exc.code().name}: {exc.details()}") from None
    arrays = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
    rows = []
    for i in range(len(questions)):
        row = {}
        for key in OUTPUTS:
            if key in arrays:
                value = arrays[key][i]
                row[key] = (
                    value.decode("utf-8", errors="replace")
                    if isinstance(value, bytes)
                    else (
                        [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in value.tolist()]
                        if hasattr(value, "tolist") and getattr(value, "ndim", 0)
                        else value.item()
                    )
                )
        rows.append(row)
    return rows


def listed_answers(texts, probabilities) -> list[tuple[str, float]]:
    """The `answer_candidates` of one prediction paired with their probabilities, decoded, without the "" that pads
    the list past its last answer (the served model's, a REST/gRPC row's, or the Keras model's output)."""
    pairs = zip(texts if texts is not None else [], probabilities if probabilities is not None else [], strict=False)
    decoded = ((t.decode("utf-8", errors="replace") if isinstance(t, bytes) else t, float(p)) for t, p in pairs)
    return [(text, p) for text, p in decoded if text]


def format_answer(question: str, row: dict) -> str:
    """Lines for a person: the answer with its probability (its score from exports made before probabilities),
    the block it was read from with that block's rank and retrieval score, so a wrong answer shows whether
    retrieval or reading went astray, and the answers the model nearly gave. Rows from a model exported before
    `answer_block` existed list the titles of the blocks read instead."""
    titles = row.get("block_titles", [])
    candidates = listed_answers(row.get("answer_candidates"), row.get("answer_candidate_probabilities"))
    confidence = f"{100 * candidates[0][1]:.0f}%" if candidates else f"score {float(row['answer_score']):.3f}"
    answer = f"Q: {question}\nA: {row['answer']}  ({confidence}; "
    block = row.get("answer_block")
    if block is None or not 0 <= int(block) < len(titles):
        answer += f"from: {', '.join(t for t in titles if t)})"
    else:
        block = int(block)
        scores = row.get("retrieval_scores") or []
        retrieval = f", retrieval score {float(scores[block]):.2f}" if block < len(scores) else ""
        ids = row.get("block_ids") or []
        name = titles[block] or (f"block {ids[block]}" if block < len(ids) else "an untitled block")
        answer += f"from {name}: block {block + 1} of {len(titles)} read{retrieval})"
    others = [f"{text} ({100 * p:.0f}%)" for text, p in candidates[1:]]
    return answer + (f"\n   also: {', '.join(others)}" if others else "")
