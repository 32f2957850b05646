"""`realm pipeline compile | run --local | submit | versions | version`."""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import shutil
import sys
import tempfile
import time

from realm.errors import RealmError

logger = logging.getLogger("realm.pipeline")


class PipelineError(RealmError):
    pass


def _assignments(items: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not (sep and name and value):
            raise PipelineError(f"{flag} takes NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def _toleration(text: str) -> dict:
    """kubectl's taint syntax: KEY=VALUE:EFFECT tolerates that taint, KEY:EFFECT (or KEY) any value of KEY."""
    taint, _, effect = text.partition(":")
    key, sep, value = taint.partition("=")
    if not key or (sep and not value):
        raise PipelineError(f"--toleration takes KEY[=VALUE][:EFFECT], got {text!r}")
    toleration: dict = {"key": key, "operator": "Equal" if sep else "Exists"}
    if sep:
        toleration["value"] = value
    if effect:
        toleration["effect"] = effect
    return toleration


NO_PVC_WARNING = (
    "warning: no --pvc: on a cluster the pushed model goes to push_dir (default /workspace/serving) on the push "
    "task's own disk and is gone when its pod ends; compile with --pvc NAME (mounted at /workspace) to keep it"
)


def _settings(args):
    """ClusterSettings from the compile/submit flags; a flag left out keeps ClusterSettings' default."""
    from pipeline.realm_pipeline import ClusterSettings

    given: dict = {}
    if getattr(args, "training_cpu", None):
        given["training_cpu"] = args.training_cpu
    if getattr(args, "training_memory", None):
        given["training_memory"] = args.training_memory
    retries = _assignments(getattr(args, "retries", None), "--retries")
    if retries:
        if not all(n.isdigit() for n in retries.values()):
            raise PipelineError(f"--retries takes STEP=N with N a whole number, got {retries}")
        given["retries"] = {**ClusterSettings().retries, **{step: int(n) for step, n in retries.items()}}
    try:
        return ClusterSettings(
            accelerator_type=getattr(args, "accelerator_type", None),
            accelerators_per_training_task=getattr(args, "gpus", 0) or 0,
            cpu=_assignments(getattr(args, "cpu", None), "--cpu"),
            memory=_assignments(getattr(args, "memory", None), "--memory"),
            node_selector=_assignments(getattr(args, "node_selector", None), "--node-selector"),
            tolerations=[_toleration(t) for t in getattr(args, "toleration", None) or []],
            workspace_pvc=getattr(args, "pvc", None),
            **given,
        )
    except ValueError as exc:
        raise PipelineError(f"bad cluster settings: {exc}") from None


def compile_pipeline(out: str, settings=None, preset: str = "minilm") -> str:
    from kfp import compiler

    from pipeline.realm_pipeline import build_pipeline
    from realm.version import pipeline_version

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    compiler.Compiler().compile(build_pipeline(settings, preset), out)
    logger.info("compiled pipeline version %s to %s", pipeline_version(), out)
    return out


def describe_by_type(by_type: dict) -> str:
    """One line: `who 17.6% of 17, what 22.9% of 70, ...`."""
    return ", ".join(f"{kind} {100 * v['exact_match']:.1f}% of {v['questions']}" for kind, v in by_type.items())


def _compact(summary: dict) -> dict:
    """The run summary as printed: the per-type breakdown gets its own line (and stays in the evaluation's files)."""
    evaluation = {k: v for k, v in summary.get("evaluation", {}).items() if k != "by_question_type"}
    return {**summary, "evaluation": evaluation} if "evaluation" in summary else summary


def print_sample_answers(model_dir: str, input_pattern: str, count: int = 3) -> None:
    """What a user runs the pipeline for: the pushed SavedModel answering a few held-out questions of the
    sample question set (only when the corpus is the sample, which those questions are about)."""
    from realm.export.client import format_answer
    from realm.export.saved_model import answer_locally
    from realm.finetuning.questions import sample_questions

    if input_pattern:
        print(f'\nAsk it: realm ask --model {model_dir} "your question"')
        return
    questions = sample_questions("test")[:count]
    print(f"\nThe pushed model ({model_dir}) on {count} test questions:")
    rows = answer_locally(model_dir, [q.question for q in questions])
    for question, row in zip(questions, rows, strict=True):
        print(f"{format_answer(question.question, row)}\n   gold: {' | '.join(question.answers)}")
    print(f'Ask it more: realm ask --model {model_dir} "your question"')


def pipeline_parameters(preset: str) -> dict:
    """The compiled pipeline's parameters for `preset`: name -> default (the preset's recipe, realm.presets)."""
    from pipeline.realm_pipeline import build_pipeline

    inputs = build_pipeline(None, preset).component_spec.inputs or {}
    return {name: spec.default for name, spec in inputs.items()}


FRACTION_PARAMETERS = {"cloze_wh_first"}  # checked here too: the fine-tune step would refuse it after pre-training


def check_params(preset: str, params: dict) -> dict:
    """Refuse, before any work, a parameter the pipeline does not have, a fraction outside 0..1, and a preset's
    missing init_checkpoint."""
    from realm import presets

    known = pipeline_parameters(preset)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise PipelineError(
            f"--param: no pipeline parameter {', '.join(unknown)}; the parameters are {', '.join(sorted(known))}"
        )
    for name in FRACTION_PARAMETERS & set(params):
        try:
            fraction = float(params[name])
        except (TypeError, ValueError):
            fraction = -1.0
        if not 0.0 <= fraction <= 1.0:
            raise PipelineError(f"--param {name}={params[name]}: a fraction, from 0 to 1")
    if presets.get(preset).needs_init_checkpoint and not params.get("init_checkpoint"):
        raise PipelineError(
            f"the {preset!r} preset needs a checkpoint to start from: pass --init-checkpoint PATH (or --param "
            "init_checkpoint=PATH): a BERT-base directory or Google BERT/REALM/ORQA TF checkpoint, local or gs://"
        )
    return params


def package_preset(package: str) -> str:
    """The preset a compiled pipeline package was built for (a constant input of its warm-start task)."""
    import yaml

    if not os.path.isfile(package):
        raise PipelineError(f"{package}: no such pipeline package (compile one with `realm pipeline compile`)")
    try:
        with open(package, encoding="utf-8") as f:
            ir = next(yaml.safe_load_all(f))
        return ir["root"]["dag"]["tasks"]["warm-start-op"]["inputs"]["parameters"]["preset"]["runtimeValue"]["constant"]
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration) as exc:
        raise PipelineError(
            f"{package}: not a REALM pipeline package compiled by `realm pipeline compile` ({exc})"
        ) from None


def run_local(
    output_dir: str,
    preset: str,
    input_pattern: str = "",
    overrides: dict | None = None,
    runner: str = "subprocess",
    build_images: bool = False,
    verbose: bool = True,
) -> dict:
    """The whole DAG on this machine with kfp.local: tasks run one after another as subprocesses of this Python,
    or with runner="docker" each in the project image the compiled pipeline names, as on a cluster (see
    pipeline.containers; build_images builds missing images first). Not verbose, kfp.local's output goes to
    <output_dir>/pipeline.log and the console shows the project's lines and the steps (pipeline.console)."""
    from kfp import local

    from pipeline import console, containers
    from pipeline.realm_pipeline import ClusterSettings, build_pipeline

    overrides = check_params(preset, overrides or {})  # before anything is made: a bad parameter loses nothing
    output_dir = os.path.abspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    pipeline_root = os.path.join(output_dir, "pipeline_root")
    # kfp.local deletes its workspace after each run: keep it outside the outputs.
    workspace = tempfile.mkdtemp(prefix="realm-kfp-workspace-")
    started = time.time()
    params = {"input_pattern": input_pattern, "push_dir": os.path.join(output_dir, "serving")}
    params.update(overrides)
    logger.info("running the REALM pipeline locally (preset %s); outputs in %s", preset, output_dir)
    settings, plan, kfp_runner = None, None, local.SubprocessRunner(use_venv=False)
    log_path = None if verbose else os.path.join(output_dir, "pipeline.log")
    try:
        if runner == "docker":
            plan = containers.plan_images(containers.docker_client(), build_images)
            kfp_runner = local.DockerRunner(**containers.prepare_run(plan, output_dir, params))
            settings = ClusterSettings(image=plan.image, gpu_image=plan.gpu_image)
        local.init(runner=kfp_runner, pipeline_root=pipeline_root, workspace_root=workspace)
        with console.quiet(log_path, verbose), containers.exit_codes_kept(enabled=plan is not None):
            build_pipeline(settings, preset)(**params)
    except RuntimeError as exc:  # kfp.local: "Task 'x' finished with status FAILURE"
        raise containers.failed_step(exc, plan, log_path) from None
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
TOKEN_ENV = "KF_PIPELINES_TOKEN"
COOKIES_ENV = "KF_PIPELINES_COOKIES"
HEALTHZ_PATH = "/apis/v2beta1/healthz"
HEALTHZ_TIMEOUT_S = 10


def _credentials_error(host: str, status: int | str, given: bool) -> PipelineError:
    state = "rejected" if given else "missing"
    return PipelineError(
        f"{host}: the Kubeflow Pipelines API answered {status}: credentials {state}. Pass a bearer token with "
        f"--token or {TOKEN_ENV} (e.g. `kubectl -n kubeflow create token default-editor`), or the session cookie "
        f"of a logged-in browser with --cookies or {COOKIES_ENV} (e.g. 'authservice_session=...')"
    )


def _probe(host: str, token: str | None, cookies: str | None) -> None:
    """One quick health check before kfp.Client, whose own check retries for about half a minute and then
    reports any refusal, missing credentials included, as a timeout."""
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    url = host.rstrip("/") + HEALTHZ_PATH
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookies:
        headers["Cookie"] = cookies
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=HEALTHZ_TIMEOUT_S) as reply:
            landed = reply.geturl()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise _credentials_error(host, exc.code, bool(token or cookies)) from None
        raise PipelineError(f"{host}: cannot reach the Kubeflow Pipelines API (HTTP {exc.code} from {url})") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PipelineError(f"{host}: cannot reach the Kubeflow Pipelines API ({reason})") from None
    if urllib.parse.urlparse(landed).path != urllib.parse.urlparse(url).path:  # an auth proxy's login page
        raise _credentials_error(host, f"with a redirect to {landed}", bool(token or cookies))


def _api_error(host: str, doing: str, exc: Exception, given_credentials: bool) -> PipelineError:
    status = getattr(exc, "status", None)
    if status in (401, 403):
        return _credentials_error(host, status, given_credentials)
    return PipelineError(f"{host}: {doing} failed (HTTP {status}: {str(getattr(exc, 'body', '') or exc)[:300]})")


class _Cluster:
    """A kfp.Client and what is needed to explain its errors."""

    def __init__(self, host: str, namespace: str | None, token: str | None = None, cookies: str | None = None):
        import kfp
        import kfp_server_api
        import urllib3

        host = host if host.startswith("http") else f"https://{host}"
        token = token or os.environ.get(TOKEN_ENV) or None
        cookies = cookies or os.environ.get(COOKIES_ENV) or None
        _probe(host, token, cookies)
        self.host, self.credentials_given = host, bool(token or cookies)
        try:
            self.client = kfp.Client(
                host=host, existing_token=token, cookies=cookies, **({"namespace": namespace} if namespace else {})
            )
        except kfp_server_api.ApiException as exc:
            raise self.error("connecting", exc) from None
        except (TimeoutError, OSError, urllib3.exceptions.HTTPError) as exc:
            raise PipelineError(f"{host}: cannot reach the Kubeflow Pipelines API ({str(exc)[:300]})") from None

    def error(self, doing: str, exc: Exception) -> PipelineError:
        return _api_error(self.host, doing, exc, self.credentials_given)

    def find_pipeline_id(self, name: str) -> str | None:
        """The id of the pipeline called `name`, None only when there is none; any failure is an error."""
        import kfp_server_api

        try:
            return self.client.get_pipeline_id(name)
        except kfp_server_api.ApiException as exc:
            raise self.error(f"looking up pipeline {name!r}", exc) from None
        except ValueError as exc:  # several pipelines share the name
            raise PipelineError(f"{self.host}: {exc}") from None


def _upload(cluster: _Cluster, package: str, version: str) -> tuple[str, str]:
    """-> (pipeline id, id of the version named `version`). upload_pipeline cannot name the version it creates
    (the server names it after the pipeline), so a first upload adds the named version and drops that default."""
    import kfp_server_api

    from pipeline.realm_pipeline import PIPELINE_NAME

    client = cluster.client
    pipeline_id = cluster.find_pipeline_id(PIPELINE_NAME)
    try:
        if pipeline_id is not None:
            uploaded = client.upload_pipeline_version(
                package, pipeline_version_name=version, pipeline_id=pipeline_id, description=f"REALM {version}"
            )
            return pipeline_id, uploaded.pipeline_version_id
        pipeline_id = client.upload_pipeline(package, pipeline_name=PIPELINE_NAME, description="REALM").pipeline_id
        unnamed = client.list_pipeline_versions(pipeline_id=pipeline_id).pipeline_versions or []
        named = client.upload_pipeline_version(
            package, pipeline_version_name=version, pipeline_id=pipeline_id, description=f"REALM {version}"
        )
    except kfp_server_api.ApiException as exc:
        if exc.status == 409 or "already exist" in str(exc.body or exc).lower():
            raise PipelineError(
                f"pipeline version {version} is already uploaded to {cluster.host}; commit your changes (a new sha "
                "makes a new version) or run the uploaded one"
            ) from None
        raise cluster.error(f"uploading {package}", exc) from None
    for default in unnamed:
        try:
            client.delete_pipeline_version(pipeline_id, default.pipeline_version_id)
        except kfp_server_api.ApiException as exc:
            logger.warning("could not delete the default version %s: %s", default.display_name, exc.status)
    return pipeline_id, named.pipeline_version_id


def submit(
    host: str,
    package: str,
    experiment: str,
    namespace: str | None = None,
    params: dict | None = None,
    wait: bool = False,
    token: str | None = None,
    cookies: str | None = None,
    poll_seconds: int = 30,
) -> dict:
    """Upload the package as the version named after this checkout and start a run (then wait for it)."""
    import kfp_server_api

    from pipeline.realm_pipeline import PIPELINE_NAME
    from realm.version import pipeline_version

    cluster = _Cluster(host, namespace, token, cookies)
    if not os.path.isfile(package):
        raise PipelineError(f"{package}: no such pipeline package (compile one with `realm pipeline compile`)")
    version = pipeline_version()
    pipeline_id, version_id = _upload(cluster, package, version)
    try:
        experiment_id = cluster.client.create_experiment(experiment, namespace=namespace).experiment_id
        run = cluster.client.run_pipeline(
            experiment_id=experiment_id,
            job_name=f"{PIPELINE_NAME}-{version}-{int(time.time())}",
            params=params or {},
            pipeline_id=pipeline_id,
            version_id=version_id,
        )
        result = {"pipeline_id": pipeline_id, "version_id": version_id, "run_id": run.run_id, "version": version}
        if wait:
            finished = cluster.client.wait_for_run_completion(
                run.run_id, timeout=24 * 3600, sleep_duration=poll_seconds
            )
            result["state"] = str(finished.state)
    except kfp_server_api.ApiException as exc:
        raise cluster.error("starting the run", exc) from None
    return result


def list_versions(host: str, namespace: str | None = None, token: str | None = None, cookies: str | None = None):
    """The uploaded versions of the pipeline (name, id, creation time); [] when it was never uploaded."""
    import kfp_server_api

    from pipeline.realm_pipeline import PIPELINE_NAME

    cluster = _Cluster(host, namespace, token, cookies)
    pipeline_id = cluster.find_pipeline_id(PIPELINE_NAME)
    if pipeline_id is None:
        return []
    try:
        versions = cluster.client.list_pipeline_versions(pipeline_id=pipeline_id, page_size=100).pipeline_versions
    except kfp_server_api.ApiException as exc:
        raise cluster.error("listing the versions", exc) from None
    return [{"name": v.display_name, "id": v.pipeline_version_id, "created": str(v.created_at)} for v in versions or []]


# ----------------------------------------------------------------------------------------------------- CLI
def _add_cluster_flags(parser, default_gpus: int) -> None:
    """Placement and resources, the same for compile and submit; left out, ClusterSettings' defaults apply.
    STEP is a step name (preprocess, warm-start, pretrain, finetune, evaluate, export, infra-validate, push)."""
    parser.add_argument("--gpus", type=int, default=default_gpus, help="GPUs per training task")
    parser.add_argument("--accelerator-type", help="accelerator type of the training tasks")
    parser.add_argument("--training-cpu", help="CPU request of the training tasks (default 4)")
    parser.add_argument("--training-memory", help="memory request of the training tasks (default 32G)")
    parser.add_argument("--cpu", nargs="*", metavar="STEP=CPU", help="CPU request per step, e.g. preprocess=8")
    parser.add_argument("--memory", nargs="*", metavar="STEP=MEMORY", help="memory request per step, e.g. pretrain=64G")
    parser.add_argument("--retries", nargs="*", metavar="STEP=N", help="retries per step (default preprocess=2)")
    parser.add_argument("--node-selector", nargs="*", metavar="LABEL=VALUE")
    parser.add_argument("--toleration", nargs="*", metavar="KEY[=VALUE][:EFFECT]", help="taints every task tolerates")
    parser.add_argument("--pvc", help="existing PVC mounted at /workspace on every task")


def _add_credential_flags(parser) -> None:
    parser.add_argument("--token", help=f"bearer token for the KFP API (default: ${TOKEN_ENV})")
    parser.add_argument(
        "--cookies", help=f"cookie header for the KFP API, e.g. a Dex session (default: ${COOKIES_ENV})"
    )


PRESET_NAMES = ("tiny", "minilm", "base")  # realm.presets.NAMES, without importing TensorFlow for --help
DEFAULT_PRESET = "minilm"  # the same for compile, run and submit: the one that runs anywhere without inputs
PRESET_HELP = "model sizes and recipe (realm/presets.py; default: %(default)s)"
INIT_CHECKPOINT_HELP = (
    "warm start (the init_checkpoint parameter; required by --preset base): a BERT-base directory or a Google "
    "BERT/REALM/ORQA TF checkpoint, local or gs://"
)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("pipeline", help="compile, run locally, or submit the KFP pipeline")
    commands = parser.add_subparsers(dest="pipeline_command", required=True)

    compile_parser = commands.add_parser("compile", help="write the pipeline IR YAML")
    compile_parser.add_argument("--out", required=True, metavar="FILE")
    compile_parser.add_argument("--preset", choices=PRESET_NAMES, default=DEFAULT_PRESET, help=PRESET_HELP)
    _add_cluster_flags(compile_parser, default_gpus=0)

    run_parser = commands.add_parser("run", help="run the whole pipeline")
    run_parser.add_argument("--local", action="store_true", help="on this machine with kfp.local (the only mode)")
    run_parser.add_argument(
        "--runner",
        choices=["subprocess", "docker"],
        default="subprocess",
        help="subprocess: tasks in this Python; docker: each task in the project image (Docker or Podman's API)",
    )
    run_parser.add_argument("--build-images", action="store_true", help="--runner docker: build missing images")
    run_parser.add_argument("--preset", choices=PRESET_NAMES, default=DEFAULT_PRESET, help=PRESET_HELP)
    run_parser.add_argument(
        "--out", default="outputs/pipeline", metavar="DIR", help="run outputs and pushed models (default: %(default)s)"
    )
    run_parser.add_argument("--input", default="", metavar="GLOB", help="dump(s); default: the gensim sample")
    run_parser.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE", help="pipeline parameters")
    run_parser.add_argument("--init-checkpoint", metavar="PATH", help=INIT_CHECKPOINT_HELP)

    submit_parser = commands.add_parser("submit", help="upload (a new version of) the pipeline and start a run")
    submit_parser.add_argument("--host", required=True, metavar="URL")
    submit_parser.add_argument("--experiment", default="realm")
    submit_parser.add_argument("--namespace")
    submit_parser.add_argument("--package", help="compiled YAML (default: compile now)")
    submit_parser.add_argument(
        "--preset", choices=PRESET_NAMES, default=DEFAULT_PRESET, help=PRESET_HELP + "; ignored with --package"
    )
    _add_cluster_flags(submit_parser, default_gpus=1)
    _add_credential_flags(submit_parser)
    submit_parser.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE")
    submit_parser.add_argument("--init-checkpoint", metavar="PATH", help=INIT_CHECKPOINT_HELP)
    submit_parser.add_argument("--wait", action="store_true", help="wait for the run; exit 1 unless it succeeds")

    versions_parser = commands.add_parser("versions", help="list the uploaded versions")
    versions_parser.add_argument("--host", required=True, metavar="URL")
    versions_parser.add_argument("--namespace")
    _add_credential_flags(versions_parser)

    params_parser = commands.add_parser("params", help="list the pipeline's parameters (--param NAME=VALUE)")
    params_parser.add_argument("--preset", choices=PRESET_NAMES, default=DEFAULT_PRESET, help=PRESET_HELP)
    parser.set_defaults(func=run_command)


def _params(items: list[str], init_checkpoint: str | None = None) -> dict:
    out = {"init_checkpoint": init_checkpoint} if init_checkpoint else {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise PipelineError(f"--param takes NAME=VALUE, got {item!r}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def parameters_table(preset: str) -> str:
    """Every pipeline parameter with the preset's default and what it means, one per line."""
    from pipeline.realm_pipeline import PARAMETER_HELP

    defaults = pipeline_parameters(preset)
    width = max(len(name) for name in defaults)
    lines = [f"Pipeline parameters of the {preset!r} preset (override with --param NAME=VALUE):"]
    for name, default in defaults.items():
        lines.append(f"  {name:<{width}}  {json.dumps(default):<12}  {PARAMETER_HELP.get(name, '')}")
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    command = args.pipeline_command
    if command == "params":
        print(parameters_table(args.preset))
    elif command == "compile":
        settings = _settings(args)
        print(compile_pipeline(args.out, settings, args.preset))
        if not settings.workspace_pvc:
            print(NO_PVC_WARNING, file=sys.stderr)
    elif command == "run":
        params = _params(args.param, args.init_checkpoint)
        summary = run_local(
            args.out, args.preset, args.input, params, args.runner, args.build_images, verbose=args.verbose
        )
        print(json.dumps(_compact(summary), indent=2))
        if by_type := summary.get("evaluation", {}).get("by_question_type"):
            print("exact match by question type:", describe_by_type(by_type))
        if summary.get("pushed_model"):
            print_sample_answers(summary["pushed_model"], args.input)
    elif command == "submit":
        package = args.package
        if not package:
            package = os.path.join(tempfile.mkdtemp(prefix="realm-pipeline-"), "realm_pipeline.yaml")
            compile_pipeline(package, _settings(args), args.preset)
        result = submit(
            args.host,
            package,
            args.experiment,
            args.namespace,
            check_params(package_preset(package), _params(args.param, args.init_checkpoint)),
            args.wait,
            args.token,
            args.cookies,
        )
        print(json.dumps(result))
        if args.wait and result["state"] != "SUCCEEDED":
            return 1
    elif command == "versions":
        print(json.dumps(list_versions(args.host, args.namespace, args.token, args.cookies), indent=2))
    return 0
