"""Infra validation: load an exported SavedModel as TensorFlow Serving would and answer its warm-up requests.

Run as a program in a fresh process (`python components/infra_validation.py VERSION_DIR`), never imported by the
step that calls it: the point is that the export loads with only TensorFlow and TF Text, so this file imports
nothing from the project (it is run by path, so not even the `components` package is imported) and checks at the
end that no `realm` module was loaded. Prints the answers as one JSON line; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import sys

# realm.export.client.OUTPUTS, spelled out here since this file imports nothing from the project (see above).
EXPECTED_OUTPUTS = {"answer", "answer_score", "answer_block", "block_ids", "block_titles", "retrieval_scores"}
EXPECTED_OUTPUTS |= {"answer_candidates", "answer_candidate_probabilities"}  # the runners-up, with probabilities
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def validate(path: str) -> list[str]:
    """The answers the export gives to its own warm-up requests; AssertionError when it is not servable."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the WordPiece ops the serving graph uses)
    from tensorflow_serving.apis import prediction_log_pb2

    model = tf.saved_model.load(path)
    signature = model.signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert list(inputs) == ["question"] and inputs["question"].dtype == tf.string, inputs
    assert set(signature.structured_outputs) == EXPECTED_OUTPUTS, signature.structured_outputs
    answers: list[str] = []
    for record in tf.data.TFRecordDataset(os.path.join(path, WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        questions = tf.make_ndarray(log.predict_log.request.inputs["question"])
        out = signature(question=tf.constant(questions))
        answers += [a.decode("utf-8", "replace") for a in out["answer"].numpy()]
    assert answers, "no warm-up requests"
    leaked = sorted(m for m in sys.modules if m == "realm" or m.startswith("realm."))
    assert not leaked, f"the export needed the project's code: {leaked[:3]}"
    return answers


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python infra_validation.py SAVED_MODEL_VERSION_DIR", file=sys.stderr)
        return 2
    print(json.dumps(validate(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
