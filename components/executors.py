"""Executors of the pipeline steps: plain functions over the `realm` library, one per KFP component.

The KFP component functions (components/definitions.py) only unpack their artifacts and call these, as TFX
components call their executors: the same code runs from the project image on a cluster and from the installed
package under kfp.local. Each executor writes its outputs under the artifact paths it is given and returns the
metadata (lineage and key figures) the component attaches to its output artifacts.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys

from components.ui import figures_markdown, fingerprint

logger = logging.getLogger("realm.pipeline")


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("apache_beam", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
    lead_names: bool = False,
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
        process=ProcessConfig(block_max_tokens=block_max_tokens, lead_names=lead_names),
        overwrite=True,
    )
    stats = run_preprocess(options, beam_args or [])
    return {
        "stats": stats,
        "markdown": stats_markdown(stats),
        "fingerprint": fingerprint(os.path.join(out_dir, "stats.json")),
    }


WARM_START_RECORD = "warm_start.json"  # in the retriever artifact: which BERT the other towers start from
WARM_START_BERT = "init_bert"  # a converted init_checkpoint, kept in the artifact for the pre-train step


def warm_start(
    corpus_dir: str,
    preset: str,
    init_checkpoint: str,
    ict_steps: int,
    ict_batch_size: int,
    ict_learning_rate: float,
    query_seq_len: int,
    candidate_seq_len: int,
    jit_compile: bool,
    out_dir: str,
    seed: int = 0,
) -> dict:
    """The retriever the pre-training starts from: ICT-trained when ict_steps > 0, else the preset's warm start
    (random, MiniLM, or `init_checkpoint` converted on the fly). ICT trains at the sequence lengths pre-training
    then retrieves with: longer ones only pad the pipeline's blocks. `seed` draws ICT's batches and dropout: runs
    at other seeds measure how much a recipe's outcome owes to one draw."""
    import tempfile

    from realm.presets import model_config, resolve_warm_start

    _setup_logging()
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="realm-init-checkpoint-") as workdir:
        bert_dir = resolve_warm_start(preset, init_checkpoint, workdir)
        if init_checkpoint:  # converted (maybe copied from gs://) once, here; the pre-train step reads this copy
            shutil.copytree(bert_dir, os.path.join(out_dir, WARM_START_BERT))
            bert_dir = os.path.join(out_dir, WARM_START_BERT)
    source = WARM_START_BERT if init_checkpoint else ("minilm" if bert_dir else None)
    with open(os.path.join(out_dir, WARM_START_RECORD), "w", encoding="utf-8") as f:
        json.dump({"bert": source, "init_checkpoint": init_checkpoint}, f)
    if ict_steps > 0:
        from realm.pretraining.ict import ICTConfig, ICTTrainer

        run_dir = os.path.join(out_dir, "ict")
        last = ICTTrainer(
            ICTConfig(
                output_dir=run_dir,
                data_dir=corpus_dir,
                model=model_config(preset),
                init_bert=bert_dir,
                steps=ict_steps,
                batch_size=ict_batch_size,
                learning_rate=ict_learning_rate,
                warmup_steps=max(1, ict_steps // 10),
                query_seq_len=query_seq_len,
                candidate_seq_len=candidate_seq_len,
                log_every=max(1, min(25, ict_steps // 10)),
                seed=seed,
                jit_compile=jit_compile,
            )
        ).run()
        shutil.copytree(os.path.join(run_dir, "final", "embedder"), os.path.join(out_dir, "embedder"))
        return _warm_start_result("ict", ict_steps, out_dir, _numeric(last))
    from realm.checkpoints.bert import warm_start_from_bert
    from realm.modeling.models import RealmEmbedder
    from realm.pretrained import save_pretrained

    embedder = RealmEmbedder(model_config(preset)).build_for_inference()
    method = "random"
    if bert_dir:
        warm_start_from_bert(embedder, bert_dir)
        method = "checkpoint" if init_checkpoint else "minilm"
    save_pretrained(embedder, os.path.join(out_dir, "embedder"))
    return _warm_start_result(method, 0, out_dir, {})


def warm_start_bert_dir(warm_start_dir: str) -> str | None:
    """The BERT directory the warm-start step started from (for the encoder's warm start), None for random."""
    with open(os.path.join(warm_start_dir, WARM_START_RECORD), encoding="utf-8") as f:
        source = json.load(f)["bert"]
    if source == "minilm":
        from realm.resources import minilm_dir

        return minilm_dir()
    return os.path.join(warm_start_dir, source) if source else None


def _warm_start_result(method: str, ict_steps: int, out_dir: str, ict_figures: dict) -> dict:
    figures = {
        "ict_steps": ict_steps,
        "embedder_megabytes": _megabytes(os.path.join(out_dir, "embedder")),
        **ict_figures,
    }
    described = {
        "ict": "Inverse Cloze Task pre-training of the retriever (ORQA)",
        "minilm": "MiniLM (BERT) weights, no retriever pre-training",
        "checkpoint": "init_checkpoint's BERT weights, no retriever pre-training",
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
    learning_rate: float,
    refresh_every: int,
    query_seq_len: int,
    candidate_seq_len: int,
    out_dir: str,
    mlm_head_fit_steps: int = 0,
    mlm_warmup_steps: int = 0,
    mlm_warmup_learning_rate: float = 1e-4,
    jit_compile: bool = True,
    seed: int = 0,
) -> dict:
    """REALM pre-training from the warm-started retriever. With `mlm_warmup_steps`, the demonstration's recipe:
    the encoder first learns alone (own block + two retrieved distractors) at `mlm_warmup_learning_rate`, then the
    retriever trains at `learning_rate`. `seed` draws the masks, the data order and fresh weights."""
    from realm.presets import model_config
    from realm.pretraining.plots import plot_pretraining
    from realm.pretraining.trainer import PretrainConfig, Pretrainer

    _setup_logging()
    if not 0 <= mlm_warmup_steps <= steps or mlm_head_fit_steps < 0:
        raise ValueError(
            f"mlm_warmup_steps={mlm_warmup_steps}, mlm_head_fit_steps={mlm_head_fit_steps}: the warm-up takes "
            f"0 to steps={steps} steps (all of them: the retriever never trains), the head fit 0 or more"
        )
    encoder_rate = mlm_warmup_learning_rate if mlm_warmup_steps else learning_rate
    config = PretrainConfig(
        output_dir=out_dir,
        data_dir=corpus_dir,
        model=model_config(preset),
        init_bert=warm_start_bert_dir(warm_start_dir),
        init_embedder=os.path.join(warm_start_dir, "embedder"),
        steps=steps,
        batch_size=batch_size,
        learning_rate=encoder_rate,
        retriever_learning_rate=learning_rate if encoder_rate != learning_rate else None,
        mlm_head_fit_steps=mlm_head_fit_steps,
        mlm_warmup_steps=mlm_warmup_steps,
        mlm_warmup_own_block=mlm_warmup_steps > 0,
        mlm_warmup_distractors=2 if mlm_warmup_steps else 0,
        query_seq_len=query_seq_len,
        candidate_seq_len=candidate_seq_len,
        refresh_every=refresh_every,
        checkpoint_every=max(refresh_every, 10),
        log_every=max(1, min(10, steps // 10)),
        seed=seed,
        jit_compile=jit_compile,
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
    learning_rate: float,
    question_seq_len: int,
    candidate_seq_len: int,
    reader_seq_len: int,
    searcher_beam_size: int,
    out_dir: str,
    cloze_steps: int = 0,
    cloze_batch_size: int = 0,
    cloze_reader_beam_size: int = 0,
    cloze_wh_first: float = 0.0,
    lexical_weight: float = 0.0,
) -> dict:
    """Open-QA fine-tuning; `candidate_seq_len` is the corpus's block length (blocks are read whole). Cloze steps
    (questions made from the corpus) come first; a batch size or beam of 0 means the fine-tuning one."""
    from realm.finetuning.questions import load_questions
    from realm.finetuning.trainer import FinetuneConfig, Finetuner
    from realm.presets import model_config
    from realm.pretraining.plots import plot_curves

    _setup_logging()
    config = FinetuneConfig(
        output_dir=out_dir,
        data_dir=corpus_dir,
        model=model_config(preset, reader_seq_len=reader_seq_len, searcher_beam_size=searcher_beam_size),
        pretrain_dir=pretrain_dir,
        steps=steps,
        cloze_steps=cloze_steps,
        cloze_batch_size=cloze_batch_size or None,
        cloze_reader_beam_size=cloze_reader_beam_size or None,
        cloze_wh_first=cloze_wh_first,
        lexical_weight=lexical_weight,
        batch_size=batch_size,
        learning_rate=learning_rate,
        query_seq_len=question_seq_len,
        candidate_seq_len=candidate_seq_len,
        checkpoint_every=max(steps // 2, 1),
        log_every=max(1, min(10, steps // 10)),
    )
    qs = load_questions(questions, split)
    last = Finetuner(config, qs).run()
    figures = _numeric(last)
    panels = [("loss", "fine-tuning loss"), ("retriever_loss", "retriever loss"), ("reader_loss", "reader loss")]
    notes = [f"{len(qs)} {split} questions, {steps} steps, batch {batch_size}", "TensorBoard: tensorboard/"]
    if cloze_steps:
        notes.insert(1, f"first {cloze_steps} steps on cloze questions made from the corpus")
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
    from realm.finetuning.questions import load_questions

    _setup_logging()
    if baseline and not os.path.exists(baseline):
        raise FileNotFoundError(f"baseline metrics {baseline} does not exist")
    baseline = baseline or last_pushed_metrics(push_dir, model_name) or ""
    logger.info("blessing against %s", baseline or f"nothing: no model pushed to {push_dir}/{model_name} yet")
    qs = load_questions(questions, split)
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


def infra_validate(serving_dir: str, name: str, version: int) -> dict:
    """Load the export as TF Serving would: a fresh process with only tensorflow and tensorflow-text."""
    _setup_logging()
    from components import infra_validation

    path = os.path.join(serving_dir, name, str(version))
    result = subprocess.run(
        [sys.executable, infra_validation.__file__, path], capture_output=True, text=True, cwd="/"
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
