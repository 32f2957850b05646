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
from collections.abc import Iterable

logger = logging.getLogger("realm.pipeline")


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("apache_beam", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fingerprint(path: str) -> str:
    """A short content hash of a file (e.g. stats.json) to follow a dataset through the lineage."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def png_html(png_path: str | None, title: str) -> str:
    """A self-contained HTML page for the KFP UI, which shows an HTML artifact but cannot follow file links."""
    if not png_path or not os.path.exists(png_path):
        return f"<html><body><h3>{title}</h3><p>no plot (matplotlib missing or nothing logged)</p></body></html>"
    with open(png_path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f"<html><body><h3>{title}</h3><img src='data:image/png;base64,{data}'/></body></html>"


# ------------------------------------------------------------------------------------------ UI and lineage
LINEAGE_KEYS = ("data_fingerprint", "pipeline_version", "run_id")


def record_lineage(
    artifacts: Iterable, *, data_fingerprint: str, pipeline_version: str, run_id: str, model_version: int | None = None
) -> dict:
    """Stamp one step's lineage on all its output artifacts, so any artifact found in the UI or in ML Metadata
    leads back to the data it came from, the code that made it, the run, and (once exported) the served version.
    """
    if not data_fingerprint:
        raise ValueError(
            "the input artifact carries no data_fingerprint: it was not produced by this pipeline's preprocess step"
        )
    lineage: dict = {"data_fingerprint": data_fingerprint, "pipeline_version": pipeline_version, "run_id": run_id}
    if model_version is not None:
        lineage["model_version"] = int(model_version)
    for artifact in artifacts:
        artifact.metadata.update(lineage)
    return lineage


def log_figures(metrics_artifact, figures: dict) -> None:
    """Log the numeric figures as KFP scalar metrics (the UI's metric names cannot contain '@')."""
    for key, value in figures.items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int | float):
            metrics_artifact.log_metric(key.replace("@", "_at_"), value)


def write_ui(
    metrics_artifact, figures: dict, summary_artifact, markdown: str, plots_artifact=None, png_path=None, title=""
) -> None:
    """A step's Kubeflow UI outputs: its figures as Metrics, its Markdown summary and, for steps that plot, an HTML
    page with the PNG embedded."""
    log_figures(metrics_artifact, figures)
    with open(summary_artifact.path, "w", encoding="utf-8") as f:
        f.write(markdown)
    if plots_artifact is not None:
        with open(plots_artifact.path, "w", encoding="utf-8") as f:
            f.write(png_html(png_path, title))


def figures_markdown(title: str, figures: dict, notes: Iterable[str] = ()) -> str:
    """The step's summary as the KFP UI renders it: a heading, a table of its figures, then notes."""
    lines = [f"# {title}", "", "| figure | value |", "|---|---|"]
    for key, value in figures.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {shown} |")
    notes = list(notes)
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _megabytes(path: str) -> float:
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return round(total / 2**20, 2)


def _numeric(values: dict) -> dict:
    return {k: v for k, v in values.items() if isinstance(v, int | float)}


# ------------------------------------------------------------------------------------------------ steps
PREPROCESS_FIGURES = ("pages_read", "articles", "blocks", "examples", "spans_total", "quarantined")


def preprocess(
    input_pattern: str,
    num_shards: int,
    out_dir: str,
    block_max_tokens: int,
    beam_args: list[str] | None = None,
) -> dict:
    from realm.data.preprocess import PreprocessOptions, run_preprocess, stats_markdown
    from realm.data.process import ProcessConfig
    from realm.resources import sample_wikipedia_dump

    _setup_logging()
    options = PreprocessOptions(
        input_pattern or sample_wikipedia_dump(),
        out_dir,
        num_shards=num_shards,
        process=ProcessConfig(block_max_tokens=block_max_tokens),
        overwrite=True,
    )
    stats = run_preprocess(options, beam_args or [])
    return {
        "stats": stats,
        "markdown": stats_markdown(stats),
        "fingerprint": fingerprint(os.path.join(out_dir, "stats.json")),
    }


def warm_start(
    corpus_dir: str,
    preset: str,
    steps: int,
    batch_size: int,
    out_dir: str,
    query_seq_len: int = 64,
    candidate_seq_len: int = 288,
) -> dict:
    """The retriever the pre-training starts from: ICT-trained when steps > 0, else the MiniLM warm start. ICT
    trains at the sequence lengths pre-training then retrieves with: longer ones only pad the pipeline's blocks."""
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
                # ORQA's 1e-4 is for batches of 4096; MiniLM at batch 32 improved every recall at 5e-5 (README
                # demonstration). Tiny's random weights need more.
                learning_rate={"tiny": 1e-3, "base": 1e-4}.get(preset, 5e-5),
                warmup_steps=max(1, steps // 10),
                query_seq_len=query_seq_len,
                candidate_seq_len=candidate_seq_len,
                log_every=max(1, min(25, steps // 10)),
                jit_compile=preset != "tiny",  # as pre-training: XLA pays off past the tiny test model
            )
        ).run()
        shutil.copytree(os.path.join(run_dir, "final", "embedder"), os.path.join(out_dir, "embedder"))
        return _warm_start_result("ict", steps, out_dir, _numeric(last))
    from realm.checkpoints.bert import warm_start_from_bert
    from realm.modeling.models import RealmEmbedder
    from realm.pretrained import save_pretrained

    embedder = RealmEmbedder(make_preset(preset)).build_for_inference()
    method = "random"
    if preset != "tiny":
        warm_start_from_bert(embedder, minilm_dir())
        method = "minilm"
    save_pretrained(embedder, os.path.join(out_dir, "embedder"))
    return _warm_start_result(method, 0, out_dir, {})


def _warm_start_result(method: str, ict_steps: int, out_dir: str, ict_figures: dict) -> dict:
    figures = {
        "ict_steps": ict_steps,
        "embedder_megabytes": _megabytes(os.path.join(out_dir, "embedder")),
        **ict_figures,
    }
    described = {
        "ict": "Inverse Cloze Task pre-training of the retriever (ORQA)",
        "minilm": "MiniLM (BERT) weights, no retriever pre-training",
        "random": "random initialisation (tiny preset)",
    }[method]
    return {
        "method": method,
        "figures": figures,
        "markdown": figures_markdown("Retriever warm start", figures, [f"method: {method}, {described}"]),
    }


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
    mlm_head_fit_steps: int = 0,
    mlm_warmup_steps: int = 0,
) -> dict:
    """REALM pre-training from the warm-started retriever. With `mlm_warmup_steps`, the README's demonstration
    recipe: the encoder first learns alone (own block + two retrieved distractors) at a rate ten times the
    retriever's."""
    from realm.config import preset as make_preset
    from realm.pretraining.plots import plot_pretraining
    from realm.pretraining.trainer import PretrainConfig, Pretrainer
    from realm.resources import minilm_dir

    _setup_logging()
    if not 0 <= mlm_warmup_steps <= steps or mlm_head_fit_steps < 0:
        raise ValueError(
            f"mlm_warmup_steps={mlm_warmup_steps}, mlm_head_fit_steps={mlm_head_fit_steps}: the warm-up takes "
            f"0 to steps={steps} steps (all of them: the retriever never trains), the head fit 0 or more"
        )
    retriever_rate = 1e-5 if preset != "tiny" else 1e-3  # small batches: 5e-5 pulled MiniLM off its start
    # The warm-up's encoder learns to copy at ten times the retriever's rate (tiny's random weights already
    # train at 1e-3).
    encoder_rate = 1e-4 if mlm_warmup_steps and preset != "tiny" else retriever_rate
    config = PretrainConfig(
        output_dir=out_dir,
        data_dir=corpus_dir,
        model=make_preset(preset),
        init_bert=minilm_dir() if preset != "tiny" else None,
        init_embedder=os.path.join(warm_start_dir, "embedder"),
        steps=steps,
        batch_size=batch_size,
        learning_rate=encoder_rate,
        retriever_learning_rate=retriever_rate if encoder_rate != retriever_rate else None,
        mlm_head_fit_steps=mlm_head_fit_steps,
        mlm_warmup_steps=mlm_warmup_steps,
        mlm_warmup_own_block=mlm_warmup_steps > 0,
        mlm_warmup_distractors=2 if mlm_warmup_steps else 0,
        query_seq_len=query_seq_len,
        candidate_seq_len=candidate_seq_len,
        refresh_every=refresh_every,
        checkpoint_every=max(refresh_every, 10),
        log_every=max(1, min(10, steps // 10)),
        jit_compile=preset != "tiny",
    )
    last = Pretrainer(config).run()
    figures = _numeric(last)
    notes = [
        f"{steps} steps, batch {batch_size}, index refreshed every {refresh_every} steps",
        f"MLM head fitted for {mlm_head_fit_steps} steps; {mlm_warmup_steps} encoder-only warm-up steps",
        "TensorBoard: tensorboard/",
    ]
    return {
        "metrics": figures,
        "plot": plot_pretraining(out_dir),
        "markdown": figures_markdown("REALM pre-training (last logged step)", figures, notes),
    }


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
    from realm.pretraining.plots import plot_curves

    _setup_logging()
    overrides = {"reader_seq_len": 96, "searcher_beam_size": 20} if preset == "tiny" else {}
    config = FinetuneConfig(
        output_dir=out_dir,
        data_dir=corpus_dir,
        model=make_preset(preset, **overrides),
        pretrain_dir=pretrain_dir,
        steps=steps,
        batch_size=batch_size,
        # MiniLM ships no span head: at ORQA's 1e-5 a 150-step run left test EM at 0 on the sample, 1e-4 gave 3.9%.
        learning_rate=1e-3 if preset == "tiny" else 1e-4 if preset == "minilm" else 1e-5,
        query_seq_len=64,
        candidate_seq_len=128 if preset == "tiny" else 288,
        checkpoint_every=max(steps // 2, 1),
        log_every=max(1, min(10, steps // 10)),
    )
    qs = sample_questions(split) if questions == "sample" else read_questions(questions)
    last = Finetuner(config, qs).run()
    figures = _numeric(last)
    panels = [("loss", "fine-tuning loss"), ("retriever_loss", "retriever loss"), ("reader_loss", "reader loss")]
    notes = [f"{len(qs)} {split} questions, {steps} steps, batch {batch_size}", "TensorBoard: tensorboard/"]
    return {
        "metrics": figures,
        "model_dir": config.output_dir,
        "plot": plot_curves(os.path.join(out_dir, "metrics.jsonl"), panels, os.path.join(out_dir, "finetuning.png")),
        "markdown": figures_markdown("Open-QA fine-tuning (last logged step)", figures, notes),
    }


BLESSED_METRICS = os.path.join("assets.extra", "blessed_metrics.json")  # inside a pushed version's directory


def last_pushed_metrics(push_dir: str, name: str) -> str | None:
    """The metrics.json the newest pushed version was blessed with, or None when nothing was pushed with one."""
    root = os.path.join(push_dir, name) if push_dir and name else ""
    if not root or not os.path.isdir(root):
        return None
    for version in sorted((int(d) for d in os.listdir(root) if d.isdigit()), reverse=True):
        path = os.path.join(root, str(version), BLESSED_METRICS)
        if os.path.exists(path):
            return path
    return None


def evaluate(
    model_dir: str,
    questions: str,
    split: str,
    min_exact_match: float,
    baseline: str,
    tolerance: float,
    out_dir: str,
    push_dir: str = "",
    model_name: str = "",
) -> dict:
    """Evaluate and bless; without an explicit baseline, the last model pushed to push_dir/model_name is the bar."""
    from realm.evaluation.openqa import BlessingPolicy, run_evaluation
    from realm.finetuning.questions import read_questions, sample_questions

    _setup_logging()
    if baseline and not os.path.exists(baseline):
        raise FileNotFoundError(f"baseline metrics {baseline} does not exist")
    baseline = baseline or last_pushed_metrics(push_dir, model_name) or ""
    logger.info("blessing against %s", baseline or f"nothing: no model pushed to {push_dir}/{model_name} yet")
    qs = sample_questions(split) if questions == "sample" else read_questions(questions)
    policy = BlessingPolicy(min_exact_match=min_exact_match, baseline_metrics=baseline or None, tolerance=tolerance)
    result = run_evaluation(os.path.join(model_dir, "final"), qs, out_dir, policy)
    with open(os.path.join(out_dir, "report.md"), encoding="utf-8") as f:
        result["markdown"] = f.read()
    result["plot"] = os.path.join(out_dir, "recall_at_k.png")
    result["baseline"] = baseline
    return result


def export(model_dir: str, name: str, version: int, out_dir: str) -> dict:
    from realm.export.saved_model import export_saved_model

    _setup_logging()
    path = export_saved_model(os.path.join(model_dir, "final"), out_dir, name, version or None)
    exported = int(os.path.basename(path))
    figures = {"version": exported, "saved_model_megabytes": _megabytes(path)}
    notes = [f"TF Serving layout: {name}/{exported} (signature serving_default, warm-up requests in assets.extra)"]
    return {
        "version": exported,
        "path": path,
        "figures": figures,
        "markdown": figures_markdown("Export (TF Serving SavedModel)", figures, notes),
    }


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
    figures = {"version": version, "warmup_requests_answered": len(answers), "empty_answers": answers.count("")}
    notes = ["loaded in a fresh process with only TensorFlow and TF Text", *(f"answer: {a}" for a in answers)]
    return {
        "warmup_answers": answers,
        "figures": figures,
        "markdown": figures_markdown("Infra validation passed", figures, notes),
    }


def push(serving_dir: str, name: str, version: int, push_dir: str, evaluation_dir: str) -> dict:
    """Copy the blessed version into the serving directory with the metrics it was blessed with (the next run's
    bar); an existing version is never overwritten and an unblessed one is never pushed.
    """
    _setup_logging()
    blessing_path = os.path.join(evaluation_dir, "blessing.json")
    if not os.path.exists(blessing_path):
        raise FileNotFoundError(f"{blessing_path} does not exist: push needs the evaluation that blessed the model")
    with open(blessing_path, encoding="utf-8") as f:
        blessing = json.load(f)
    if not blessing.get("blessed"):
        raise RuntimeError(f"{blessing_path}: the model is not blessed ({'; '.join(blessing.get('reasons', []))})")
    source = os.path.join(serving_dir, name, str(version))
    target_root = os.path.join(push_dir, name)
    target = os.path.join(target_root, str(version))
    if os.path.exists(target):
        raise FileExistsError(f"{target} already exists; pushed versions are never overwritten")
    os.makedirs(target_root, exist_ok=True)
    staging = os.path.join(target_root, f".staging-{version}-{os.getpid()}")
    shutil.copytree(source, staging)
    os.makedirs(os.path.dirname(os.path.join(staging, BLESSED_METRICS)), exist_ok=True)
    with open(os.path.join(staging, BLESSED_METRICS), "w", encoding="utf-8") as f:
        json.dump(blessing["metrics"], f, indent=2)
    os.rename(staging, target)  # the version appears whole, metrics included, or not at all
    for extra in ("models.config", "batching_parameters.txt"):
        if os.path.exists(os.path.join(serving_dir, extra)):
            shutil.copy(os.path.join(serving_dir, extra), os.path.join(push_dir, extra))
    logger.info("pushed %s -> %s", source, target)
    figures = {"version": version, "pushed_megabytes": _megabytes(target), **_numeric(blessing["metrics"])}
    notes = [f"pushed to {target}", f"blessed: {'; '.join(blessing.get('reasons', []))}"]
    return {"pushed_to": target, "figures": figures, "markdown": figures_markdown("Push", figures, notes)}
