"""The REALM pipeline (KFP v2): preprocess -> retriever warm start -> pre-train -> fine-tune -> evaluate, and,
only when evaluation blesses the model, export -> infra-validate -> push.

`build_pipeline(settings)` returns the pipeline function with the cluster settings applied (GPUs, CPU and memory
requests per step, retries per step, caching, node selector and tolerations, a shared PVC); `ClusterSettings()`
without a GPU is what `realm pipeline run --local` uses. Evaluation blesses against `min_exact_match` and, unless
`baseline_metrics` names another, the metrics the last pushed model was blessed with (push stores them with it).
"""

import dataclasses
import re

from kfp import dsl

from components.definitions import (
    evaluate_op,
    export_op,
    finetune_op,
    infra_validate_op,
    preprocess_op,
    pretrain_op,
    push_op,
    warm_start_op,
)
from components.image import cpu_image, gpu_image
from realm import presets
from realm.version import pipeline_version

PIPELINE_NAME = "realm"


# What each pipeline parameter means (`realm pipeline params` prints them with the preset's defaults); a test keeps
# this in step with the pipeline's signature.
PARAMETER_HELP = {
    "input_pattern": "MediaWiki pages-articles dump(s): a file, comma-separated list or glob, local or gs:// "
    "(empty: the Wikipedia sample in the gensim wheel)",
    "num_shards": "output shards of the preprocessed corpus",
    "init_checkpoint": "BERT-base or Google BERT/REALM/ORQA checkpoint the towers start from, local or gs:// "
    "(required by base; replaces the other presets' own warm start)",
    "block_max_tokens": "wordpieces per block, title and specials included (fine-tuning reads blocks at this length)",
    "block_lead_names": "head every block `title (other names from the article's lead)` for the retriever",
    "ict_steps": "Inverse Cloze Task steps warming up the retriever (0: none)",
    "ict_batch_size": "ICT examples per step; the batch's other blocks are each query's negatives",
    "ict_learning_rate": "ICT peak learning rate",
    "pretrain_steps": "REALM pre-training steps",
    "pretrain_batch_size": "masked sentences per pre-training step",
    "pretrain_learning_rate": "pre-training peak learning rate (the retriever's, and the encoder's after the warm-up)",
    "refresh_every": "pre-training steps between index refreshes (the sidecar re-embeds the corpus)",
    "query_seq_len": "wordpieces per masked sentence (pre-training and ICT queries)",
    "candidate_seq_len": "wordpieces per block as the retriever embeds it",
    "mlm_head_fit_steps": "steps fitting a fresh MLM head before pre-training (warm starts without one)",
    "mlm_warmup_steps": "first pre-training steps that train the encoder alone, the retriever frozen",
    "mlm_warmup_learning_rate": "the encoder's peak learning rate during that warm-up",
    "finetune_steps": "open-QA fine-tuning steps",
    "finetune_batch_size": "questions per fine-tuning step",
    "finetune_learning_rate": "fine-tuning peak learning rate",
    "cloze_steps": "fine-tuning steps on cloze questions made from the corpus, before the training questions",
    "cloze_batch_size": "cloze questions per step",
    "cloze_reader_beam_size": "blocks the reader reads per cloze question",
    "cloze_wh_first": "fraction of cloze questions with the wh-word in front",
    "question_seq_len": "wordpieces per question (fine-tuning, evaluation and the served model)",
    "reader_seq_len": "wordpieces the reader reads per block (question and block)",
    "searcher_beam_size": "blocks retrieved per question during fine-tuning",
    "retrieval_lexical_weight": "BM25 weight beside the dense score when the fine-tuned model retrieves",
    "jit_compile": "compile the ICT and pre-training steps and the refresh sidecar's embedding with XLA",
    "questions": "question file (JSONL or TSV) for fine-tuning and evaluation, or `sample` (the sample's own set)",
    "min_exact_match": "exact match the model must reach to be blessed (and exported and pushed)",
    "baseline_metrics": "metrics.json the model must not fall below (empty: the last model pushed)",
    "tolerance": "exact match the model may lose against the baseline and still be blessed",
    "model_name": "TF Serving model name",
    "push_dir": "where blessed models go (<push_dir>/<model_name>/<version>)",
    "pipeline_version": "recorded on every artifact (default: this checkout's version)",
}

STEPS = ("preprocess", "warm-start", "pretrain", "finetune", "evaluate", "export", "infra-validate", "push")
TRAINING_STEPS = ("warm-start", "pretrain", "finetune")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# Kubernetes quantities as KFP accepts them (checked here, so a bad flag is named instead of failing in KFP).
CPU_REQUEST = (r"([0-9]*[.])?[0-9]+m?", "a CPU request is a number of cores (8, 0.5) or of millicores (500m)")
MEMORY_REQUEST = (
    r"[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?",
    "a memory request is a whole number with an optional unit: 64G, 64Gi, 512Mi (not GB or MB)",
)


@dataclasses.dataclass
class ClusterSettings:
    """Where and how the tasks run on a cluster; the defaults run anywhere (and are what --local uses)."""

    accelerator_type: "str | None" = None  # e.g. "nvidia.com/gpu" resource, "NVIDIA_TESLA_A100"
    accelerators_per_training_task: int = 0
    training_cpu: str = "4"  # requests of the training steps unless `cpu`/`memory` name the step
    training_memory: str = "32G"
    cpu: dict[str, str] = dataclasses.field(default_factory=dict)  # step (see STEPS) -> CPU request
    memory: dict[str, str] = dataclasses.field(default_factory=dict)  # step -> memory request
    retries: dict[str, int] = dataclasses.field(default_factory=lambda: {"preprocess": 2})  # step -> retries
    node_selector: dict[str, str] = dataclasses.field(default_factory=dict)
    tolerations: list[dict] = dataclasses.field(default_factory=list)  # {"key", "operator", "value", "effect"}
    workspace_pvc: str | None = None  # an existing PVC mounted at /workspace on every task
    image: str | None = None  # None: components.image.cpu_image() of the pipeline version
    gpu_image: str | None = None  # the training steps'; None: components.image.gpu_image() of the version

    def __post_init__(self) -> None:
        if self.accelerators_per_training_task < 0:
            raise ValueError(f"--gpus {self.accelerators_per_training_task}: GPUs per training task are 0 or more")
        requests = [("--cpu", step, value, CPU_REQUEST) for step, value in self.cpu.items()]
        requests += [("--memory", step, value, MEMORY_REQUEST) for step, value in self.memory.items()]
        requests += [("--training-cpu", "", self.training_cpu, CPU_REQUEST)]
        requests += [("--training-memory", "", self.training_memory, MEMORY_REQUEST)]
        for flag, step, value, (pattern, meaning) in requests:
            if not re.fullmatch(pattern, str(value)):
                given = f"{step}={value}" if step else str(value)
                raise ValueError(f"{flag} {given}: {meaning}")
        for field in ("cpu", "memory", "retries"):
            unknown = set(getattr(self, field)) - set(STEPS)
            if unknown:
                raise ValueError(f"{field}: unknown step(s) {sorted(unknown)}; the steps are {', '.join(STEPS)}")
        for toleration in self.tolerations:
            if toleration.get("effect") not in (None, *TOLERATION_EFFECTS):
                raise ValueError(f"toleration {toleration}: effect must be one of {', '.join(TOLERATION_EFFECTS)}")


def _place(task, settings: ClusterSettings, step: str):
    training = step in TRAINING_STEPS
    task.set_container_image(settings.gpu_image if training else settings.image)
    cpu = settings.cpu.get(step) or (settings.training_cpu if training else None)
    memory = settings.memory.get(step) or (settings.training_memory if training else None)
    if cpu:
        task.set_cpu_request(cpu)
    if memory:
        task.set_memory_request(memory)
    if settings.retries.get(step):
        task.set_retry(settings.retries[step])
    if training and settings.accelerators_per_training_task:
        task.set_accelerator_type(settings.accelerator_type or "nvidia.com/gpu")
        task.set_accelerator_limit(settings.accelerators_per_training_task)
    if settings.node_selector or settings.tolerations or settings.workspace_pvc:
        from kfp import kubernetes

        for label, value in settings.node_selector.items():
            kubernetes.add_node_selector(task, label_key=label, label_value=value)
        for toleration in settings.tolerations:
            kubernetes.add_toleration(task, **toleration)
        if settings.workspace_pvc:
            kubernetes.mount_pvc(task, pvc_name=settings.workspace_pvc, mount_path="/workspace")
    return task


def build_pipeline(settings: ClusterSettings | None = None, preset: str = "minilm"):
    """The pipeline for one preset: the model (its sizes) is fixed when compiling, and every value of its recipe
    (realm.presets) is a parameter default that a run may override."""
    settings = settings or ClusterSettings()
    recipe = presets.get(preset).recipe
    version = pipeline_version()
    settings = dataclasses.replace(
        settings, image=settings.image or cpu_image(version), gpu_image=settings.gpu_image or gpu_image(version)
    )

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description=f"REALM pre-training, open-QA fine-tuning and serving ({version}, preset {preset})",
    )
    def realm_pipeline(
        input_pattern: str = "",
        num_shards: int = 4,
        # A BERT-base or Google REALM/ORQA checkpoint (path or gs:// URI); required by `base`, whose weights no
        # package ships; for the other presets it replaces their own warm start.
        init_checkpoint: str = "",
        block_max_tokens: int = recipe.block_max_tokens,
        block_lead_names: bool = recipe.block_lead_names,
        ict_steps: int = recipe.ict_steps,
        ict_batch_size: int = recipe.ict_batch_size,
        ict_learning_rate: float = recipe.ict_learning_rate,
        pretrain_steps: int = recipe.pretrain_steps,
        pretrain_batch_size: int = recipe.pretrain_batch_size,
        pretrain_learning_rate: float = recipe.pretrain_learning_rate,
        refresh_every: int = recipe.refresh_every,
        query_seq_len: int = recipe.query_seq_len,
        candidate_seq_len: int = recipe.candidate_seq_len,
        mlm_head_fit_steps: int = recipe.mlm_head_fit_steps,
        mlm_warmup_steps: int = recipe.mlm_warmup_steps,
        mlm_warmup_learning_rate: float = recipe.mlm_warmup_learning_rate,
        finetune_steps: int = recipe.finetune_steps,
        finetune_batch_size: int = recipe.finetune_batch_size,
        finetune_learning_rate: float = recipe.finetune_learning_rate,
        cloze_steps: int = recipe.cloze_steps,
        cloze_batch_size: int = recipe.cloze_batch_size,
        cloze_reader_beam_size: int = recipe.cloze_reader_beam_size,
        cloze_wh_first: float = recipe.cloze_wh_first,
        question_seq_len: int = recipe.question_seq_len,
        reader_seq_len: int = recipe.reader_seq_len,
        searcher_beam_size: int = recipe.searcher_beam_size,
        retrieval_lexical_weight: float = recipe.retrieval_lexical_weight,
        jit_compile: bool = recipe.jit_compile,
        questions: str = "sample",
        min_exact_match: float = 0.0,
        baseline_metrics: str = "",  # a metrics.json to beat; "": the last model pushed to push_dir/model_name
        tolerance: float = 0.01,
        model_name: str = "realm",
        push_dir: str = "/workspace/serving",
        pipeline_version: str = version,
    ):
        corpus = preprocess_op(
            input_pattern=input_pattern,
            num_shards=num_shards,
            block_max_tokens=block_max_tokens,
            lead_names=block_lead_names,
            pipeline_version=pipeline_version,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        )
        corpus.set_display_name("preprocess (Beam)")
        _place(corpus, settings, "preprocess")
        retriever = warm_start_op(
            corpus=corpus.outputs["corpus"],
            preset=preset,
            init_checkpoint=init_checkpoint,
            ict_steps=ict_steps,
            ict_batch_size=ict_batch_size,
            ict_learning_rate=ict_learning_rate,
            query_seq_len=query_seq_len,
            candidate_seq_len=candidate_seq_len,
            jit_compile=jit_compile,
            pipeline_version=pipeline_version,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_display_name("retriever warm start (ICT)")
        _place(retriever, settings, "warm-start").set_caching_options(False)
        pretrained = pretrain_op(
            corpus=corpus.outputs["corpus"],
            retriever=retriever.outputs["retriever"],
            preset=preset,
            steps=pretrain_steps,
            batch_size=pretrain_batch_size,
            learning_rate=pretrain_learning_rate,
            refresh_every=refresh_every,
            mlm_head_fit_steps=mlm_head_fit_steps,
            mlm_warmup_steps=mlm_warmup_steps,
            mlm_warmup_learning_rate=mlm_warmup_learning_rate,
            query_seq_len=query_seq_len,
            candidate_seq_len=candidate_seq_len,
            jit_compile=jit_compile,
            pipeline_version=pipeline_version,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_display_name("pre-train (refresh sidecar)")
        _place(pretrained, settings, "pretrain").set_caching_options(False)
        finetuned = finetune_op(
            corpus=corpus.outputs["corpus"],
            pretrained=pretrained.outputs["model"],
            preset=preset,
            questions=questions,
            steps=finetune_steps,
            batch_size=finetune_batch_size,
            learning_rate=finetune_learning_rate,
            cloze_steps=cloze_steps,
            cloze_batch_size=cloze_batch_size,
            cloze_reader_beam_size=cloze_reader_beam_size,
            cloze_wh_first=cloze_wh_first,
            question_seq_len=question_seq_len,
            candidate_seq_len=block_max_tokens,  # the corpus's blocks, read whole
            reader_seq_len=reader_seq_len,
            searcher_beam_size=searcher_beam_size,
            retrieval_lexical_weight=retrieval_lexical_weight,
            pipeline_version=pipeline_version,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_display_name("fine-tune (open QA)")
        _place(finetuned, settings, "finetune").set_caching_options(False)
        evaluated = evaluate_op(
            model=finetuned.outputs["model"],
            questions=questions,
            min_exact_match=min_exact_match,
            baseline_metrics=baseline_metrics,
            tolerance=tolerance,
            push_dir=push_dir,
            model_name=model_name,
            pipeline_version=pipeline_version,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_display_name("evaluate")
        _place(evaluated, settings, "evaluate").set_caching_options(False)
        with dsl.If(evaluated.outputs["Output"] == True, name="blessed"):  # noqa: E712 (a KFP condition)
            exported = export_op(
                model=finetuned.outputs["model"],
                name=model_name,
                pipeline_version=pipeline_version,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            )
            _place(exported.set_display_name("export (TF Serving)"), settings, "export")
            validated = infra_validate_op(
                serving=exported.outputs["serving"],
                name=model_name,
                version=exported.outputs["Output"],
                pipeline_version=pipeline_version,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            ).set_display_name("infra-validate")
            _place(validated, settings, "infra-validate").set_caching_options(False)
            pushed = push_op(
                serving=exported.outputs["serving"],
                evaluation=evaluated.outputs["evaluation"],
                name=model_name,
                version=exported.outputs["Output"],
                push_dir=push_dir,
                pipeline_version=pipeline_version,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            ).set_display_name("push")
            pushed.after(validated)
            _place(pushed, settings, "push").set_caching_options(False)

    return realm_pipeline
