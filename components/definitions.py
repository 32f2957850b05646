"""The pipeline's KFP components: thin wrappers that unpack artifacts and call components.executors.

Each is a containerized Python component on the project image (`install_kfp_package=False`: the image has kfp
and the project installed), with the library imported inside the function body, so the same definition runs
from the image on a cluster and from the installed package under `kfp.local.SubprocessRunner`; which image (CPU,
or GPU for the training steps, tagged with the pipeline version) is set per task when the pipeline is built.
Every step logs its key figures as KFP Metrics and writes a Markdown summary for the UI, and every output artifact
carries the same lineage (data fingerprint, pipeline version, run id, and the served model version once there is one).
"""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

from components.image import UNSET_IMAGE


@dsl.component(base_image=UNSET_IMAGE, install_kfp_package=False)
def preprocess_op(
    input_pattern: str,
    num_shards: int,
    block_max_tokens: int,
    lead_names: bool,
    pipeline_version: str,
    run_id: str,
    corpus: Output[Dataset],
    stats: Output[Metrics],
    summary: Output[Markdown],
):
    """Wikipedia dump -> blocks, block store and pre-training examples (Beam)."""
    from components import executors, ui

    result = executors.preprocess(input_pattern, num_shards, corpus.path, block_max_tokens, lead_names)
    ui.write_ui(
        stats, {k: result["stats"][k] for k in executors.PREPROCESS_FIGURES}, summary, result["markdown"]
    )
    ui.record_lineage(
        [corpus, stats, summary],
        data_fingerprint=result["fingerprint"],
        pipeline_version=pipeline_version,
        run_id=run_id,
    )
    corpus.metadata["blocks"] = result["stats"]["blocks"]


@dsl.component(base_image=UNSET_IMAGE, install_kfp_package=False)
def warm_start_op(
    corpus: Input[Dataset],
    preset: str,
    init_checkpoint: str,
    ict_steps: int,
    ict_batch_size: int,
    ict_learning_rate: float,
    query_seq_len: int,
    candidate_seq_len: int,
    jit_compile: bool,
    pipeline_version: str,
    run_id: str,
    retriever: Output[Model],
    metrics: Output[Metrics],
    summary: Output[Markdown],
):
    """The retriever pre-training starts from: ICT (ORQA) when ict_steps > 0, else the preset's warm start
    (init_checkpoint when given)."""
    from components import executors, ui

    result = executors.warm_start(
        corpus.path,
        preset,
        init_checkpoint,
        ict_steps,
        ict_batch_size,
        ict_learning_rate,
        query_seq_len,
        candidate_seq_len,
        jit_compile,
        retriever.path,
    )
    ui.write_ui(metrics, result["figures"], summary, result["markdown"])
    ui.record_lineage(
        [retriever, metrics, summary],
        data_fingerprint=corpus.metadata.get("data_fingerprint", ""),
        pipeline_version=pipeline_version,
        run_id=run_id,
    )
    retriever.metadata.update({"method": result["method"], **result["figures"]})


@dsl.component(base_image=UNSET_IMAGE, install_kfp_package=False)
def pretrain_op(
    corpus: Input[Dataset],
    retriever: Input[Model],
    preset: str,
    steps: int,
    batch_size: int,
    learning_rate: float,
    refresh_every: int,
    mlm_head_fit_steps: int,
    mlm_warmup_steps: int,
    mlm_warmup_learning_rate: float,
    query_seq_len: int,
    candidate_seq_len: int,
    jit_compile: bool,
    pipeline_version: str,
    run_id: str,
    model: Output[Model],
    metrics: Output[Metrics],
    summary: Output[Markdown],
    plots: Output[HTML],
):
    """REALM pre-training with the refresh sidecar as a child process."""
    from components import executors, ui

    result = executors.pretrain(
        corpus.path,
        retriever.path,
        preset,
        steps,
        batch_size,
        learning_rate,
        refresh_every,
        query_seq_len,
        candidate_seq_len,
        model.path,
        mlm_head_fit_steps=mlm_head_fit_steps,
        mlm_warmup_steps=mlm_warmup_steps,
        mlm_warmup_learning_rate=mlm_warmup_learning_rate,
        jit_compile=jit_compile,
    )
    ui.write_ui(
        metrics, result["metrics"], summary, result["markdown"], plots, result["plot"], "REALM pre-training"
    )
    ui.record_lineage(
        [model, metrics, summary, plots],
        data_fingerprint=corpus.metadata.get("data_fingerprint", ""),
        pipeline_version=pipeline_version,
        run_id=run_id,
    )
    model.metadata["steps"] = steps


@dsl.component(base_image=UNSET_IMAGE, install_kfp_package=False)
def finetune_op(
    corpus: Input[Dataset],
    pretrained: Input[Model],
    preset: str,
    questions: str,
    steps: int,
    batch_size: int,
    learning_rate: float,
    cloze_steps: int,
    cloze_batch_size: int,
    cloze_reader_beam_size: int,
    cloze_wh_first: float,
    question_seq_len: int,
    candidate_seq_len: int,
    reader_seq_len: int,
    searcher_beam_size: int,
    retrieval_lexical_weight: float,
    pipeline_version: str,
    run_id: str,
    model: Output[Model],
    metrics: Output[Metrics],
    summary: Output[Markdown],
    plots: Output[HTML],
):
    """Open-QA fine-tuning on the train split (fixed index; question embedder and reader trained); blocks are read
    at candidate_seq_len, the corpus's block length."""
    from components import executors, ui

    result = executors.finetune(
        corpus.path,
        pretrained.path,
        preset,
        questions,
        "train",
        steps,
        batch_size,
        learning_rate,
        question_seq_len,
        candidate_seq_len,
        reader_seq_len,
        searcher_beam_size,
        model.path,
        cloze_steps=cloze_steps,
        cloze_batch_size=cloze_batch_size,
        cloze_reader_beam_size=cloze_reader_beam_size,
        cloze_wh_first=cloze_wh_first,
        lexical_weight=retrieval_lexical_weight,
    )
    ui.write_ui(
        metrics, result["metrics"], summary, result["markdown"], plots, result["plot"], "Open-QA fine-tuning"
    )
    ui.record_lineage(
        [model, metrics, summary, plots],
        data_fingerprint=corpus.metadata.get("data_fingerprint", ""),
        pipeline_version=pipeline_version,
        run_id=run_id,
    )
    model.metadata["steps"] = steps


@dsl.component(base_image=UNSET_IMAGE, install_kfp_package=False)
def evaluate_op(
    model: Input[Model],
    questions: str,
    min_exact_match: float,
    baseline_metrics: str,
    tolerance: float,
    push_dir: str,
    model_name: str,
    pipeline_version: str,
    run_id: str,
    evaluation: Output[Dataset],
    metrics: Output[Metrics],
    report: Output[Markdown],
    plots: Output[HTML],
) -> bool:
    """EM, recall@k and the reader oracle on the test split; returns whether the model is blessed (against the
    last pushed model's metrics unless baseline_metrics names a metrics.json)."""
    from components import executors, ui

    result = executors.evaluate(
        model.path,
        questions,
        "test",
        min_exact_match,
        baseline_metrics,
        tolerance,
        evaluation.path,
        push_dir,
        model_name,
    )
    blessed = bool(result["blessing"]["blessed"])
    ui.write_ui(
        metrics,
        {**result["metrics"], "blessed": blessed},
        report,
        result["markdown"],
        plots,
        result["plot"],
        "Retrieval recall@k",
    )
    ui.record_lineage(
        [evaluation, metrics, report, plots],
        data_fingerprint=model.metadata.get("data_fingerprint", ""),
        pipeline_version=pipeline_version,
        run_id=run_id,
    )
    evaluation.metadata.update({"blessed": blessed, "baseline_metrics": result["baseline"]})
    return blessed


@dsl.component(base_image=UNSET_IMAGE, install_kfp_package=False)
def export_op(
    model: Input[Model],
    name: str,
    pipeline_version: str,
    run_id: str,
    serving: Output[Model],
    metrics: Output[Metrics],
    summary: Output[Markdown],
) -> int:
    """TF Serving SavedModel under serving/<name>/<version>; returns the version."""
    from components import executors, ui

    result = executors.export(model.path, name, 0, serving.path)
    ui.write_ui(metrics, result["figures"], summary, result["markdown"])
    ui.record_lineage(
        [serving, metrics, summary],
        data_fingerprint=model.metadata.get("data_fingerprint", ""),
        pipeline_version=pipeline_version,
        run_id=run_id,
        model_version=result["version"],
    )
    serving.metadata["model_name"] = name
    return result["version"]


@dsl.component(base_image=UNSET_IMAGE, install_kfp_package=False)
def infra_validate_op(
    serving: Input[Model],
    name: str,
    version: int,
    pipeline_version: str,
    run_id: str,
    metrics: Output[Metrics],
    summary: Output[Markdown],
):
    """Load the export as TF Serving would (fresh process, TF + TF Text only) and answer the warm-up requests."""
    from components import executors, ui

    result = executors.infra_validate(serving.path, name, version)
    ui.write_ui(metrics, result["figures"], summary, result["markdown"])
    ui.record_lineage(
        [metrics, summary],
        data_fingerprint=serving.metadata.get("data_fingerprint", ""),
        pipeline_version=pipeline_version,
        run_id=run_id,
        model_version=version,
    )


@dsl.component(base_image=UNSET_IMAGE, install_kfp_package=False)
def push_op(
    serving: Input[Model],
    evaluation: Input[Dataset],
    name: str,
    version: int,
    push_dir: str,
    pipeline_version: str,
    run_id: str,
    metrics: Output[Metrics],
    summary: Output[Markdown],
) -> str:
    """Copy the blessed export and the metrics it was blessed with to the serving directory (never overwriting a
    version); returns where it went."""
    from components import executors, ui

    result = executors.push(serving.path, name, version, push_dir, evaluation.path)
    ui.write_ui(metrics, result["figures"], summary, result["markdown"])
    ui.record_lineage(
        [metrics, summary],
        data_fingerprint=serving.metadata.get("data_fingerprint", ""),
        pipeline_version=pipeline_version,
        run_id=run_id,
        model_version=version,
    )
    return result["pushed_to"]
