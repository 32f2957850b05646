"""Executors of the pipeline steps: plain functions over the `realm` library, one per KFP component.

The KFP component functions (components/definitions.py) only unpack their artifacts and call these, as TFX
components call their executors: the same code runs from the project image on a cluster and from the installed
package under kfp.local. Each executor writes its outputs under the artifact paths it is given and returns the
metadata (lineage and key figures) the component attaches to its output artifacts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys

logger = logging.getLogger("realm.pipeline")


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("apache_beam", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fingerprint(path: str) -> str:
    """A short content hash of a file (e.g. stats.json) to follow a dataset through the lineage."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def png_html(png_path: str, title: str) -> str:
    with open(png_path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f"<html><body><h3>{title}</h3><img src='data:image/png;base64,{data}'/></body></html>"


# ------------------------------------------------------------------------------------------------ steps
def preprocess(input_pattern: str, num_shards: int, out_dir: str, beam_args: list[str] | None = None) -> dict:
    from realm.data.preprocess import PreprocessOptions, run_preprocess, stats_markdown
    from realm.resources import sample_wikipedia_dump

    _setup_logging()
    stats = run_preprocess(
        PreprocessOptions(input_pattern or sample_wikipedia_dump(), out_dir, num_shards=num_shards, overwrite=True),
        beam_args or [],
    )
    return {
        "stats": stats,
        "markdown": stats_markdown(stats),
        "fingerprint": fingerprint(os.path.join(out_dir, "stats.json")),
    }


def warm_start(corpus_dir: str, preset: str, steps: int, batch_size: int, out_dir: str) -> dict:
    """The retriever the pre-training starts from: ICT-trained when steps > 0, else the MiniLM warm start."""
    from realm.config import preset as make_preset
    from realm.resources import minilm_dir

    _setup_logging()
    if steps > 0:
        from realm.pretraining.ict import ICTConfig, ICTTrainer

        run_dir = os.path.join(out_dir, "ict")
        last = ICTTrainer(
            ICTConfig(
                output_dir=run_dir,
                data_dir=corpus_dir,
                model=make_preset(preset),
                init_bert=minilm_dir() if preset != "tiny" else None,
                steps=steps,
                batch_size=batch_size,
                query_seq_len=64,
                candidate_seq_len=128 if preset == "tiny" else 288,
                jit_compile=False,
            )
        ).run()
        shutil.copytree(os.path.join(run_dir, "final", "embedder"), os.path.join(out_dir, "embedder"))
        return {"method": "ict", **{k: v for k, v in last.items() if isinstance(v, int | float)}}
    from realm.checkpoints.bert import warm_start_from_bert
    from realm.modeling.models import RealmEmbedder
    from realm.pretrained import save_pretrained

    embedder = RealmEmbedder(make_preset(preset)).build_for_inference()
    method = "random"
    if preset != "tiny":
        warm_start_from_bert(embedder, minilm_dir())
        method = "minilm"
    save_pretrained(embedder, os.path.join(out_dir, "embedder"))
    return {"method": method}


def pretrain(
    corpus_dir: str,
    warm_start_dir: str,
    preset: str,
    steps: int,
    batch_size: int,
    refresh_every: int,
    query_seq_len: int,
    candidate_seq_len: int,
    out_dir: str,
) -> dict:
    from realm.config import preset as make_preset
    from realm.pretraining.plots import plot_pretraining
    from realm.pretraining.trainer import PretrainConfig, Pretrainer
    from realm.resources import minilm_dir

    _setup_logging()
    config = PretrainConfig(
        output_dir=out_dir,
        data_dir=corpus_dir,
        model=make_preset(preset),
        init_bert=minilm_dir() if preset != "tiny" else None,
        init_embedder=os.path.join(warm_start_dir, "embedder"),
        steps=steps,
        batch_size=batch_size,
        learning_rate=1e-5 if preset != "tiny" else 1e-3,  # small batches: 5e-5 pulled MiniLM off its start
        query_seq_len=query_seq_len,
        candidate_seq_len=candidate_seq_len,
        refresh_every=refresh_every,
        checkpoint_every=max(refresh_every, 10),
        log_every=max(1, min(10, steps // 10)),
        jit_compile=preset != "tiny",
    )
    last = Pretrainer(config).run()
    plot = plot_pretraining(out_dir)
    return {"metrics": {k: v for k, v in last.items() if isinstance(v, int | float)}, "plot": plot}


def finetune(
    corpus_dir: str,
    pretrain_dir: str,
    preset: str,
    questions: str,
    split: str,
    steps: int,
    batch_size: int,
    out_dir: str,
) -> dict:
    from realm.config import preset as make_preset
    from realm.finetuning.questions import read_questions, sample_questions
    from realm.finetuning.trainer import FinetuneConfig, Finetuner

    _setup_logging()
    overrides = {"reader_seq_len": 96, "searcher_beam_size": 20} if preset == "tiny" else {}
    config = FinetuneConfig(
        output_dir=out_dir,
        data_dir=corpus_dir,
        model=make_preset(preset, **overrides),
        pretrain_dir=pretrain_dir,
        steps=steps,
        batch_size=batch_size,
        learning_rate=1e-3 if preset == "tiny" else 1e-5,
        query_seq_len=64,
        candidate_seq_len=128 if preset == "tiny" else 288,
        checkpoint_every=max(steps // 2, 1),
        log_every=max(1, min(10, steps // 10)),
    )
    qs = sample_questions(split) if questions == "sample" else read_questions(questions)
    last = Finetuner(config, qs).run()
    return {"metrics": {k: v for k, v in last.items() if isinstance(v, int | float)}, "model_dir": config.output_dir}


def evaluate(
    model_dir: str, questions: str, split: str, min_exact_match: float, baseline: str, tolerance: float, out_dir: str
) -> dict:
    from realm.evaluation.openqa import BlessingPolicy, run_evaluation
    from realm.finetuning.questions import read_questions, sample_questions

    _setup_logging()
    qs = sample_questions(split) if questions == "sample" else read_questions(questions)
    policy = BlessingPolicy(min_exact_match=min_exact_match, baseline_metrics=baseline or None, tolerance=tolerance)
    result = run_evaluation(os.path.join(model_dir, "final"), qs, out_dir, policy)
    with open(os.path.join(out_dir, "report.md"), encoding="utf-8") as f:
        result["markdown"] = f.read()
    result["plot"] = os.path.join(out_dir, "recall_at_k.png")
    return result


def export(model_dir: str, name: str, version: int, out_dir: str) -> dict:
    from realm.export.saved_model import export_saved_model

    _setup_logging()
    path = export_saved_model(os.path.join(model_dir, "final"), out_dir, name, version or None)
    return {"version": int(os.path.basename(path)), "path": path}


INFRA_VALIDATION_SCRIPT = r"""
import json, os, sys
import tensorflow as tf, tensorflow_text
from tensorflow_serving.apis import prediction_log_pb2
path = sys.argv[1]
model = tf.saved_model.load(path)
signature = model.signatures["serving_default"]
inputs = signature.structured_input_signature[1]
assert list(inputs) == ["question"] and inputs["question"].dtype == tf.string, inputs
expected = {"answer", "answer_score", "block_ids", "block_titles", "retrieval_scores"}
assert set(signature.structured_outputs) == expected, signature.structured_outputs
warmup = os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
answers = []
for record in tf.data.TFRecordDataset(warmup):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    questions = tf.make_ndarray(log.predict_log.request.inputs["question"])
    out = signature(question=tf.constant(questions))
    answers += [a.decode("utf-8", "replace") for a in out["answer"].numpy()]
assert answers, "no warm-up requests"
assert not any(m == "realm" or m.startswith("realm.") for m in sys.modules)
print(json.dumps(answers))
"""


def infra_validate(serving_dir: str, name: str, version: int) -> dict:
    """Load the export as TF Serving would: a fresh process with only tensorflow and tensorflow-text."""
    _setup_logging()
    path = os.path.join(serving_dir, name, str(version))
    result = subprocess.run(
        [sys.executable, "-c", INFRA_VALIDATION_SCRIPT, path], capture_output=True, text=True, cwd="/"
    )
    if result.returncode != 0:
        raise RuntimeError(f"infra validation of {path} failed:\n{result.stderr[-4000:]}")
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    logger.info("infra validation passed: %d warm-up requests answered (%s)", len(answers), answers[:3])
    return {"warmup_answers": answers}


def push(serving_dir: str, name: str, version: int, push_dir: str) -> dict:
    """Copy the blessed version into the serving directory; an existing version is never overwritten."""
    _setup_logging()
    source = os.path.join(serving_dir, name, str(version))
    target_root = os.path.join(push_dir, name)
    target = os.path.join(target_root, str(version))
    if os.path.exists(target):
        raise FileExistsError(f"{target} already exists; pushed versions are never overwritten")
    os.makedirs(target_root, exist_ok=True)
    staging = os.path.join(target_root, f".staging-{version}-{os.getpid()}")
    shutil.copytree(source, staging)
    os.rename(staging, target)
    for extra in ("models.config", "batching_parameters.txt"):
        if os.path.exists(os.path.join(serving_dir, extra)):
            shutil.copy(os.path.join(serving_dir, extra), os.path.join(push_dir, extra))
    logger.info("pushed %s -> %s", source, target)
    return {"pushed_to": target}
