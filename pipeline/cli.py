"""`realm pipeline compile | run --local | submit | versions | version`."""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import shutil
import tempfile
import time

from realm.errors import RealmError

logger = logging.getLogger("realm.pipeline")


class PipelineError(RealmError):
    pass


def _settings(args):
    from pipeline.realm_pipeline import ClusterSettings

    return ClusterSettings(
        accelerator_type=getattr(args, "accelerator_type", None),
        accelerators_per_training_task=getattr(args, "gpus", 0) or 0,
        node_selector=dict(item.split("=", 1) for item in (getattr(args, "node_selector", None) or [])),
        workspace_pvc=getattr(args, "pvc", None),
    )


def compile_pipeline(out: str, settings=None, preset: str = "minilm") -> str:
    from kfp import compiler

    from pipeline.realm_pipeline import build_pipeline
    from pipeline.version import pipeline_version

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    compiler.Compiler().compile(build_pipeline(settings, preset), out)
    logger.info("compiled pipeline version %s to %s", pipeline_version(), out)
    return out


def run_local(output_dir: str, preset: str, input_pattern: str = "", overrides: dict | None = None) -> dict:
    """The whole DAG on this machine with kfp.local (tasks run one after another as subprocesses)."""
    from kfp import local

    from pipeline.realm_pipeline import build_pipeline

    output_dir = os.path.abspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    pipeline_root = os.path.join(output_dir, "pipeline_root")
    # kfp.local deletes its workspace after each run: keep it outside the outputs.
    workspace = tempfile.mkdtemp(prefix="realm-kfp-workspace-")
    started = time.time()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root, workspace_root=workspace)
    params = {"input_pattern": input_pattern, "preset": preset, "push_dir": os.path.join(output_dir, "serving")}
    params.update(overrides or {})
    logger.info("running the REALM pipeline locally (preset %s); outputs in %s", preset, output_dir)
    try:
        build_pipeline(None, preset)(**params)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    runs = sorted(glob.glob(os.path.join(pipeline_root, "realm-*")), key=os.path.getmtime)
    if not runs:
        raise PipelineError(f"no run directory under {pipeline_root}")
    run_dir = runs[-1]
    summary = {"run_dir": run_dir, "minutes": round((time.time() - started) / 60, 1)}
    metrics_files = glob.glob(os.path.join(run_dir, "evaluate-op", "evaluation", "metrics.json"))
    if metrics_files:
        with open(metrics_files[0], encoding="utf-8") as f:
            summary["evaluation"] = json.load(f)
        with open(os.path.join(os.path.dirname(metrics_files[0]), "blessing.json"), encoding="utf-8") as f:
            summary["blessed"] = json.load(f)["blessed"]
    pushed = sorted(glob.glob(os.path.join(output_dir, "serving", params.get("model_name", "realm"), "[0-9]*")))
    summary["pushed_model"] = pushed[-1] if pushed else None
    return summary


# ------------------------------------------------------------------------------------------------ cluster
def _client(host: str, namespace: str | None):
    import kfp

    try:
        return kfp.Client(host=host, **({"namespace": namespace} if namespace else {}))
    except Exception as exc:  # the client raises many kinds (connection, HTTP, auth) on its health check
        text = str(exc)
        if "401" in text or "403" in text or "Unauthorized" in text or "Forbidden" in text:
            raise PipelineError(
                f"{host}: the server refused the credentials (set KF_PIPELINES_SA_TOKEN_PATH or log in): {text[:200]}"
            ) from None
        raise PipelineError(f"{host}: cannot reach the Kubeflow Pipelines API ({text[:300]})") from None


def _find_pipeline_id(client, name: str) -> str | None:
    try:
        return client.get_pipeline_id(name)
    except Exception:
        return None


def submit(
    host: str,
    package: str,
    experiment: str,
    namespace: str | None = None,
    params: dict | None = None,
    wait: bool = False,
) -> dict:
    from pipeline.realm_pipeline import PIPELINE_NAME
    from pipeline.version import pipeline_version

    client = _client(host, namespace)
    version = pipeline_version()
    pipeline_id = _find_pipeline_id(client, PIPELINE_NAME)
    try:
        if pipeline_id is None:
            uploaded = client.upload_pipeline(package, pipeline_name=PIPELINE_NAME, description=f"REALM {version}")
            pipeline_id = uploaded.pipeline_id
            versions = client.list_pipeline_versions(pipeline_id=pipeline_id).pipeline_versions or []
            version_id = versions[0].pipeline_version_id
        else:
            uploaded = client.upload_pipeline_version(package, pipeline_version_name=version, pipeline_id=pipeline_id)
            version_id = uploaded.pipeline_version_id
    except Exception as exc:
        text = str(exc)
        if "already exist" in text.lower() or "409" in text:
            raise PipelineError(
                f"pipeline version {version} is already uploaded to {host}; commit your changes (a new sha makes "
                "a new version) or run the uploaded one"
            ) from None
        raise PipelineError(f"{host}: upload failed ({text[:300]})") from None
    experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
    run = client.run_pipeline(
        experiment_id=experiment_id,
        job_name=f"{PIPELINE_NAME}-{version}-{int(time.time())}",
        params=params or {},
        pipeline_id=pipeline_id,
        version_id=version_id,
    )
    result = {"pipeline_id": pipeline_id, "version_id": version_id, "run_id": run.run_id, "version": version}
    if wait:
        finished = client.wait_for_run_completion(run.run_id, timeout=24 * 3600)
        result["state"] = str(getattr(finished, "state", "unknown"))
    return result


def list_versions(host: str, namespace: str | None = None) -> list[dict]:
    from pipeline.realm_pipeline import PIPELINE_NAME

    client = _client(host, namespace)
    pipeline_id = _find_pipeline_id(client, PIPELINE_NAME)
    if pipeline_id is None:
        return []
    versions = client.list_pipeline_versions(pipeline_id=pipeline_id, page_size=100).pipeline_versions or []
    return [{"name": v.display_name, "id": v.pipeline_version_id, "created": str(v.created_at)} for v in versions]


# ----------------------------------------------------------------------------------------------------- CLI
def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("pipeline", help="compile, run locally, or submit the KFP pipeline")
    commands = parser.add_subparsers(dest="pipeline_command", required=True)

    compile_parser = commands.add_parser("compile", help="write the pipeline IR YAML")
    compile_parser.add_argument("--out", required=True, metavar="FILE")
    compile_parser.add_argument("--preset", choices=["tiny", "minilm", "base"], default="minilm")
    compile_parser.add_argument("--gpus", type=int, default=0, help="GPUs per training task")
    compile_parser.add_argument("--accelerator-type", help="accelerator type of the training tasks")
    compile_parser.add_argument("--node-selector", nargs="*", metavar="LABEL=VALUE")
    compile_parser.add_argument("--pvc", help="existing PVC mounted at /workspace on every task")

    run_parser = commands.add_parser("run", help="run the whole pipeline")
    run_parser.add_argument("--local", action="store_true", required=True, help="on this machine with kfp.local")
    run_parser.add_argument("--preset", choices=["tiny", "minilm"], default="minilm")
    run_parser.add_argument("--output", default="outputs/pipeline", metavar="DIR")
    run_parser.add_argument("--input", default="", metavar="GLOB", help="dump(s); default: the gensim sample")
    run_parser.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE", help="pipeline parameters")

    submit_parser = commands.add_parser("submit", help="upload (a new version of) the pipeline and start a run")
    submit_parser.add_argument("--host", required=True, metavar="URL")
    submit_parser.add_argument("--experiment", default="realm")
    submit_parser.add_argument("--namespace")
    submit_parser.add_argument("--package", help="compiled YAML (default: compile now)")
    submit_parser.add_argument("--preset", choices=["tiny", "minilm", "base"], default="base")
    submit_parser.add_argument("--gpus", type=int, default=1, help="GPUs per training task")
    submit_parser.add_argument("--accelerator-type")
    submit_parser.add_argument("--node-selector", nargs="*", metavar="LABEL=VALUE")
    submit_parser.add_argument("--pvc")
    submit_parser.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE")
    submit_parser.add_argument("--wait", action="store_true")

    versions_parser = commands.add_parser("versions", help="list the uploaded versions")
    versions_parser.add_argument("--host", required=True, metavar="URL")
    versions_parser.add_argument("--namespace")

    commands.add_parser("version", help="print this checkout's pipeline version")
    parser.set_defaults(func=run_command)


def _params(items: list[str]) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise PipelineError(f"--param takes NAME=VALUE, got {item!r}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def run_command(args: argparse.Namespace) -> int:
    from pipeline.version import pipeline_version

    command = args.pipeline_command
    if command == "version":
        print(pipeline_version())
    elif command == "compile":
        print(compile_pipeline(args.out, _settings(args), args.preset))
    elif command == "run":
        summary = run_local(args.output, args.preset, args.input, _params(args.param))
        print(json.dumps(summary, indent=2))
        if summary.get("pushed_model"):
            question = "who was the 16th president of the united states"
            print(f'\nAsk it: realm ask --model {summary["pushed_model"]} "{question}"')
    elif command == "submit":
        package = args.package
        if not package:
            package = os.path.join(tempfile.mkdtemp(prefix="realm-pipeline-"), "realm_pipeline.yaml")
            compile_pipeline(package, _settings(args), args.preset)
        print(json.dumps(submit(args.host, package, args.experiment, args.namespace, _params(args.param), args.wait)))
    elif command == "versions":
        print(json.dumps(list_versions(args.host, args.namespace), indent=2))
    return 0
