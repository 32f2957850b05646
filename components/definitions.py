"""The pipeline's KFP components: thin wrappers that unpack artifacts and call components.executors.

Each is a containerized Python component on the project image (`install_kfp_package=False`: the image has kfp
and the project installed), with the library imported inside the function body, so the same definition runs
from the image on a cluster and from the installed package under `kfp.local.SubprocessRunner`.
"""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

from components.image import GPU_IMAGE, IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def preprocess_op(
    input_pattern: str,
    num_shards: int,
    pipeline_version: str,
    run_id: str,
    corpus: Output[Dataset],
    stats: Output[Metrics],
    summary: Output[Markdown],
):
    """Wikipedia dump -> blocks, block store and pre-training examples (Beam)."""
    from components import executors

    result = executors.preprocess(input_pattern, num_shards, corpus.path)
    for key in ("pages_read", "articles", "blocks", "examples", "spans_total", "quarantined"):
        stats.log_metric(key, result["stats"][key])
    corpus.metadata.update(
        {
            "data_fingerprint": result["fingerprint"],
            "pipeline_version": pipeline_version,
            "run_id": run_id,
            "blocks": result["stats"]["blocks"],
        }
    )
    with open(summary.path, "w", encoding="utf-8") as f:
        f.write(result["markdown"])


@dsl.component(base_image=GPU_IMAGE, install_kfp_package=False)
def warm_start_op(
    corpus: Input[Dataset],
    preset: str,
    ict_steps: int,
    batch_size: int,
    pipeline_version: str,
    run_id: str,
    retriever: Output[Model],
):
    """The retriever pre-training starts from: ICT (ORQA) when ict_steps > 0, else the BERT warm start."""
    from components import executors

    result = executors.warm_start(corpus.path, preset, ict_steps, batch_size, retriever.path)
    retriever.metadata.update(
        {
            **result,
            "data_fingerprint": corpus.metadata.get("data_fingerprint", ""),
            "pipeline_version": pipeline_version,
            "run_id": run_id,
        }
    )


@dsl.component(base_image=GPU_IMAGE, install_kfp_package=False)
def pretrain_op(
    corpus: Input[Dataset],
    retriever: Input[Model],
    preset: str,
    steps: int,
    batch_size: int,
    refresh_every: int,
    query_seq_len: int,
    candidate_seq_len: int,
    pipeline_version: str,
    run_id: str,
    model: Output[Model],
    metrics: Output[Metrics],
    plots: Output[HTML],
):
    """REALM pre-training with the refresh sidecar as a child process."""
    from components import executors

    result = executors.pretrain(
        corpus.path,
        retriever.path,
        preset,
        steps,
        batch_size,
        refresh_every,
        query_seq_len,
        candidate_seq_len,
        model.path,
    )
    for key, value in result["metrics"].items():
        metrics.log_metric(key, value)
    model.metadata.update(
        {
            "data_fingerprint": corpus.metadata.get("data_fingerprint", ""),
            "pipeline_version": pipeline_version,
            "run_id": run_id,
            "steps": steps,
        }
    )
    with open(plots.path, "w", encoding="utf-8") as f:
        f.write(executors.png_html(result["plot"], "REALM pre-training") if result["plot"] else "<p>no plot</p>")


@dsl.component(base_image=GPU_IMAGE, install_kfp_package=False)
def finetune_op(
    corpus: Input[Dataset],
    pretrained: Input[Model],
    preset: str,
    questions: str,
    steps: int,
    batch_size: int,
    pipeline_version: str,
    run_id: str,
    model: Output[Model],
    metrics: Output[Metrics],
):
    """Open-QA fine-tuning on the train split (fixed index; question embedder and reader trained)."""
    from components import executors

    result = executors.finetune(corpus.path, pretrained.path, preset, questions, "train", steps, batch_size, model.path)
    for key, value in result["metrics"].items():
        metrics.log_metric(key, value)
    model.metadata.update(
        {
            "data_fingerprint": corpus.metadata.get("data_fingerprint", ""),
            "pipeline_version": pipeline_version,
            "run_id": run_id,
        }
    )


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_op(
    model: Input[Model],
    questions: str,
    min_exact_match: float,
    baseline_metrics: str,
    tolerance: float,
    pipeline_version: str,
    run_id: str,
    evaluation: Output[Dataset],
    metrics: Output[Metrics],
    report: Output[Markdown],
    plots: Output[HTML],
) -> bool:
    """EM, recall@k and the reader oracle on the test split; returns whether the model is blessed."""
    import os

    from components import executors

    result = executors.evaluate(
        model.path, questions, "test", min_exact_match, baseline_metrics, tolerance, evaluation.path
    )
    for key, value in result["metrics"].items():
        metrics.log_metric(key.replace("@", "_at_"), value)
    metrics.log_metric("blessed", int(result["blessing"]["blessed"]))
    evaluation.metadata.update(
        {"pipeline_version": pipeline_version, "run_id": run_id, "blessed": result["blessing"]["blessed"]}
    )
    with open(report.path, "w", encoding="utf-8") as f:
        f.write(result["markdown"])
    with open(plots.path, "w", encoding="utf-8") as f:
        plot = result["plot"]
        f.write(executors.png_html(plot, "Retrieval recall@k") if os.path.exists(plot) else "<p>no plot</p>")
    return bool(result["blessing"]["blessed"])


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def export_op(model: Input[Model], name: str, pipeline_version: str, run_id: str, serving: Output[Model]) -> int:
    """TF Serving SavedModel under serving/<name>/<version>; returns the version."""
    from components import executors

    result = executors.export(model.path, name, 0, serving.path)
    serving.metadata.update(
        {"version": result["version"], "model_name": name, "pipeline_version": pipeline_version, "run_id": run_id}
    )
    return result["version"]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def infra_validate_op(serving: Input[Model], name: str, version: int, summary: Output[Markdown]):
    """Load the export as TF Serving would (fresh process, TF + TF Text only) and answer the warm-up requests."""
    from components import executors

    result = executors.infra_validate(serving.path, name, version)
    with open(summary.path, "w", encoding="utf-8") as f:
        f.write("# Infra validation passed\n\n" + "\n".join(f"- {a}" for a in result["warmup_answers"]) + "\n")


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def push_op(serving: Input[Model], name: str, version: int, push_dir: str) -> str:
    """Copy the blessed export to the serving directory (never overwriting a version)."""
    from components import executors

    return executors.push(serving.path, name, version, push_dir)["pushed_to"]
