"""The KFP pipeline: compiled IR, a whole local run with the tiny preset, and submission to a fake KFP API."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from pipeline.cli import PipelineError, compile_pipeline, list_versions, submit
from realm.version import pipeline_version
from tests.conftest import write_sample_slice

TASKS = [
    "preprocess-op", "warm-start-op", "pretrain-op", "finetune-op", "evaluate-op", "export-op",
    "infra-validate-op", "push-op",
]  # fmt: skip


CLUSTER_FLAGS = [
    "--preset", "base", "--gpus", "2", "--accelerator-type", "NVIDIA_TESLA_A100", "--node-selector", "pool=gpu",
    "--pvc", "realm-workspace", "--toleration", "nvidia.com/gpu=present:NoSchedule", "dedicated",
    "--cpu", "preprocess=8", "--memory", "pretrain=64G", "evaluate=8G", "--retries", "pretrain=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict:
    """Compiled through `realm pipeline compile`, so the flags reach the IR."""
    from realm.cli import main

    path = str(tmp_path_factory.mktemp("ir") / "realm.yaml")
    assert main(["pipeline", "compile", "--out", path, *CLUSTER_FLAGS]) == 0
    with open(path) as f:
        documents = list(yaml.safe_load_all(f))
    return {"ir": documents[0], "platform": documents[1] if len(documents) > 1 else {}, "text": open(path).read()}


def test_compiled_pipeline_has_every_task_and_the_blessing_gate(compiled):
    ir = compiled["ir"]
    root = ir["root"]["dag"]["tasks"]
    assert {"preprocess-op", "warm-start-op", "pretrain-op", "finetune-op", "evaluate-op"} <= set(root)
    gated = [t for t in root.values() if "triggerPolicy" in t]
    assert len(gated) == 1  # the dsl.If condition group
    condition = gated[0]["triggerPolicy"]["condition"]
    assert "evaluate-op" in condition and "true" in condition.lower()
    branch = ir["components"][gated[0]["componentRef"]["name"]]["dag"]["tasks"]
    assert set(branch) == {"export-op", "infra-validate-op", "push-op"}
    assert "infra-validate-op" in branch["push-op"]["dependentTasks"]


def test_compiled_pipeline_records_version_gpus_caching_and_placement(compiled):
    ir, text = compiled["ir"], compiled["text"]
    version = pipeline_version()
    assert version in ir["pipelineInfo"]["description"]
    assert ir["root"]["inputDefinitions"]["parameters"]["pipeline_version"]["defaultValue"] == version
    executors = ir["deploymentSpec"]["executors"]
    training = {name: e for name, e in executors.items() if re.search(r"pretrain|finetune|warm-start", name)}
    assert len(training) == 3
    for executor in training.values():
        resources = executor["container"]["resources"]
        assert resources["accelerator"]["resourceCount"] == "2"
        assert resources["accelerator"]["resourceType"] == "NVIDIA_TESLA_A100"
        assert resources["resourceCpuRequest"] == "4"  # the training default
        assert executor["container"]["image"].endswith(f"realm-gpu:{version}")
    assert training["exec-pretrain-op"]["container"]["resources"]["resourceMemoryRequest"] == "64G"  # --memory
    assert training["exec-finetune-op"]["container"]["resources"]["resourceMemoryRequest"] == "32G"  # default
    assert executors["exec-preprocess-op"]["container"]["resources"] == {"cpuRequest": 8.0, "resourceCpuRequest": "8"}
    assert executors["exec-evaluate-op"]["container"]["resources"]["resourceMemoryRequest"] == "8G"
    assert "accelerator" not in executors["exec-evaluate-op"]["container"].get("resources", {})
    assert all(e["container"]["image"].endswith(version) for e in executors.values())
    root = ir["root"]["dag"]["tasks"]
    branch = next(c["dag"]["tasks"] for name, c in ir["components"].items() if name.startswith("comp-condition"))
    tasks = {**root, **branch}
    for uncached in ("warm-start-op", "pretrain-op", "finetune-op", "evaluate-op", "infra-validate-op", "push-op"):
        assert not tasks[uncached]["cachingOptions"].get("enableCache"), uncached
    assert root["preprocess-op"]["cachingOptions"]["enableCache"] is True
    assert branch["export-op"]["cachingOptions"]["enableCache"] is True
    assert root["preprocess-op"]["retryPolicy"]["maxRetryCount"] == 2  # the default kept beside --retries
    assert root["pretrain-op"]["retryPolicy"]["maxRetryCount"] == 1
    assert "retryPolicy" not in root["finetune-op"]
    parameters = ir["root"]["inputDefinitions"]["parameters"]
    assert parameters["ict_batch_size"]["defaultValue"] == 4096  # base: ORQA's, not pre-training's 512
    warm_start = root["warm-start-op"]["inputs"]["parameters"]
    for argument, pipeline_parameter in [
        ("ict_batch_size", "ict_batch_size"), ("query_seq_len", "query_seq_len"),
        ("candidate_seq_len", "candidate_seq_len"),
    ]:  # fmt: skip
        assert warm_start[argument]["componentInputParameter"] == pipeline_parameter, argument
    platform = compiled["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(platform) == set(executors)
    for executor in platform.values():
        assert executor["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Exists"},
        ]
        assert executor["nodeSelector"]["labels"] == {"pool": "gpu"}
        assert executor["pvcMount"][0]["mountPath"] == "/workspace"
    assert "realm-workspace" in text


def _fake_git(sha: str, porcelain: str):
    """subprocess.run answering the two git calls of pipeline_version (and running anything else for real)."""
    import subprocess

    real_run = subprocess.run

    def run(command, *args, **kwargs):
        if command[:2] == ["git", "rev-parse"]:
            return subprocess.CompletedProcess(command, 0, stdout=f"{sha}\n", stderr="")
        if command[:2] == ["git", "status"]:
            return subprocess.CompletedProcess(command, 0, stdout=porcelain, stderr="")
        return real_run(command, *args, **kwargs)

    return run


def test_compiling_without_a_pvc_warns_that_pushed_models_would_be_lost(tmp_path, capsys):
    from pipeline.cli import NO_PVC_WARNING
    from realm.cli import main

    assert main(["pipeline", "compile", "--out", str(tmp_path / "realm.yaml"), "--preset", "tiny"]) == 0
    assert NO_PVC_WARNING in capsys.readouterr().err
    assert main(["pipeline", "compile", "--out", str(tmp_path / "pvc.yaml"), "--preset", "tiny", "--pvc", "w"]) == 0
    assert NO_PVC_WARNING not in capsys.readouterr().err


def test_compiled_version_is_dirty_only_with_uncommitted_changes(monkeypatch, tmp_path):
    from realm.version import package_version

    monkeypatch.delenv("REALM_PIPELINE_VERSION", raising=False)
    for porcelain, expected in ((" M realm/config.py\n", f"{package_version()}-abc1234-dirty"), ("", None)):
        monkeypatch.setattr("realm.version.subprocess.run", _fake_git("abc1234", porcelain))
        path = compile_pipeline(str(tmp_path / "realm.yaml"), None, "tiny")
        with open(path) as f:
            ir = next(yaml.safe_load_all(f))
        recorded = ir["root"]["inputDefinitions"]["parameters"]["pipeline_version"]["defaultValue"]
        assert recorded == (expected or f"{package_version()}-abc1234"), porcelain
        assert recorded in ir["pipelineInfo"]["description"]


@pytest.mark.parametrize(
    "flags, problem",
    [
        (["--cpu", "pretrian=8"], "unknown step"),
        (["--retries", "pretrain=often"], "N a whole number"),
        (["--toleration", "gpu=:NoSchedule"], "KEY\\[=VALUE\\]"),
        (["--toleration", "gpu=yes:Sometimes"], "effect must be one of"),
        (["--memory", "pretrain"], "--memory takes NAME=VALUE"),
        (["--memory", "pretrain=64GB"], "--memory pretrain=64GB: a memory request is a whole number"),
        (["--cpu", "preprocess=abc"], "--cpu preprocess=abc: a CPU request is a number of cores"),
        (["--gpus", "-1"], "--gpus -1: GPUs per training task are 0 or more"),
        (["--training-memory", "lots"], "--training-memory lots: a memory request"),
    ],
)
def test_bad_cluster_flags_are_clear_errors(flags, problem, tmp_path, capsys):
    from realm.cli import main

    assert main(["pipeline", "compile", "--out", str(tmp_path / "realm.yaml"), *flags]) == 2
    assert re.search(problem, capsys.readouterr().err)
    assert not (tmp_path / "realm.yaml").exists()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> dict:

    root = tmp_path_factory.mktemp("local-run")
    dump = write_sample_slice(root / "enwiki-slice.xml.bz2", 40)
    overrides = {
        "ict_steps": 2, "pretrain_steps": 6, "mlm_warmup_steps": 2, "refresh_every": 3, "finetune_steps": 4,
        "num_shards": 2, "block_lead_names": "true",
    }  # fmt: skip
    # As a user runs it: the command line, in its own process, its console read back.
    command = [sys.executable, "-m", "realm.cli", "pipeline", "run", "--preset", "tiny", "--input", dump,
               "--out", str(root / "out"), "--param", *(f"{k}={v}" for k, v in overrides.items())]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert finished.returncode == 0, (finished.stdout + finished.stderr)[-5000:]
    printed = finished.stdout
    summary = json.JSONDecoder().raw_decode(printed[printed.index("{\n") :])[0]
    return {**summary, "stdout": finished.stdout, "stderr": finished.stderr, "out": str(root / "out")}


def test_the_console_shows_the_steps_and_the_projects_lines_and_the_log_keeps_the_rest(local_run):
    """kfp.local streams every task's executor input, TensorFlow's C++ logs and CUDA probing: about 990 lines for
    this run. The console keeps the project's lines and one per step; everything is in pipeline.log."""
    console = local_run["stdout"] + local_run["stderr"]
    assert len(console.splitlines()) < 100, console
    for step in ("preprocess", "warm-start", "pretrain", "finetune", "evaluate", "export", "push"):
        assert f"step {step}: started" in console and f"step {step}: success" in console, step
    assert "executor_input" not in console and "cuInit" not in console
    assert "realm.finetuning.trainer: step 8/8 fine-tune loss" in console  # 4 cloze + 4 steps: progress lines
    log = Path(local_run["out"], "pipeline.log").read_text()
    assert "executor_input" in log and len(log.splitlines()) > 300


def test_a_failed_step_says_why_in_one_line(tmp_path):
    command = [sys.executable, "-m", "realm.cli", "pipeline", "run", "--preset", "tiny", "--input",
               str(tmp_path / "nope.bz2"), "--out", str(tmp_path / "out")]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 2
    last = finished.stderr.strip().splitlines()[-1]
    assert last.startswith("realm pipeline: error: step preprocess failed: ") and "nope.bz2" in last, last
    assert "its whole log: " in last


def test_local_run_of_the_whole_dag_pushes_a_model_that_answers(local_run):
    from realm.export.saved_model import answer_locally

    assert local_run["blessed"] is True
    assert local_run["evaluation"]["questions"] >= 50
    for task in TASKS:
        assert os.path.isdir(os.path.join(local_run["run_dir"], task)), task
    pushed = local_run["pushed_model"]
    assert pushed and os.path.exists(os.path.join(pushed, "saved_model.pb"))
    answers = answer_locally(pushed, ["who was the 16th president of the united states"])
    assert isinstance(answers[0]["answer"], str) and len(answers[0]["block_titles"]) >= 1
    with open(os.path.join(local_run["run_dir"], "preprocess-op", "corpus", "stats.json")) as f:
        stats = json.load(f)
    assert stats["articles"] >= 3 and stats["blocks"] > 50
    assert stats["articles_headed_with_lead_names"] >= 1  # block_lead_names reaches the preprocess step
    # Blocks are cut to the preset's candidate_seq_len (64 for tiny): the retriever embeds them whole.
    assert max(b["max_tokens"] for b in stats["block_length_histogram"] if b["blocks"]) <= 64


def test_local_warm_start_step_trains_the_retriever_by_ict_for_pretraining(local_run):
    outputs = _output_artifacts(local_run["run_dir"], "warm-start-op")
    retriever = outputs["retriever"]
    assert retriever["metadata"]["method"] == "ict" and retriever["metadata"]["ict_steps"] == 2
    with open(os.path.join(retriever["uri"], "ict", "metrics.jsonl")) as f:
        assert [json.loads(line)["step"] for line in f] == [1, 2]
    assert os.path.isdir(os.path.join(retriever["uri"], "embedder"))
    assert "method: ict" in Path(outputs["summary"]["uri"]).read_text()


def test_local_pretrain_step_fits_the_mlm_head_and_warms_up_the_encoder_first(local_run):
    """The pipeline's pre-training follows the README's recipe: head fit, then encoder-only steps, then REALM."""
    run_dir = local_run["run_dir"]
    outputs = _output_artifacts(run_dir, "pretrain-op")
    with open(os.path.join(outputs["model"]["uri"], "metrics.jsonl")) as f:
        frozen = [json.loads(line)["retriever_frozen"] for line in f]
    assert frozen == [1, 1, 0, 0, 0, 0]  # mlm_warmup_steps=2 of pretrain_steps=6
    summary = Path(outputs["summary"]["uri"]).read_text()
    assert "MLM head fitted for 5 steps; 2 encoder-only warm-up steps" in summary


def test_main_command_ends_with_the_pushed_model_answering_test_questions(local_run, capsys):
    from pipeline.cli import print_sample_answers
    from realm.finetuning.questions import sample_questions

    print_sample_answers(local_run["pushed_model"], "")
    printed = capsys.readouterr().out
    for question in sample_questions("test")[:3]:
        assert f"Q: {question.question}\nA: " in printed and f"gold: {' | '.join(question.answers)}" in printed
    print_sample_answers(local_run["pushed_model"], "gs://bucket/enwiki-*.bz2")  # not the sample: no questions
    assert "Q: " not in capsys.readouterr().out


# Each task's Metrics and Markdown outputs, by name.
UI_OUTPUTS = {
    "preprocess-op": ("stats", "summary"), "warm-start-op": ("metrics", "summary"),
    "pretrain-op": ("metrics", "summary"), "finetune-op": ("metrics", "summary"), "evaluate-op": ("metrics", "report"),
    "export-op": ("metrics", "summary"), "infra-validate-op": ("metrics", "summary"), "push-op": ("metrics", "summary"),
}  # fmt: skip


def _output_artifacts(run_dir: str, task: str) -> dict[str, dict]:
    """name -> {uri, metadata} of a task's output artifacts, from the executor output kfp.local keeps per task."""
    with open(os.path.join(run_dir, task, "executor_output.json")) as f:
        artifacts = json.load(f).get("artifacts", {})
    return {name: listed["artifacts"][0] for name, listed in artifacts.items()}


def test_local_run_shows_every_step_in_the_ui_with_lineage(local_run):
    from components.executors import BLESSED_METRICS
    from components.ui import LINEAGE_KEYS

    run_dir = local_run["run_dir"]
    outputs = {task: _output_artifacts(run_dir, task) for task in TASKS}
    for task, (metrics_name, markdown_name) in UI_OUTPUTS.items():
        figures = {k: v for k, v in outputs[task][metrics_name]["metadata"].items() if k not in LINEAGE_KEYS}
        assert figures and all(isinstance(v, int | float) for v in figures.values()), task
        markdown = outputs[task][markdown_name]["uri"]
        assert os.path.getsize(markdown) > 0 and Path(markdown).read_text().startswith("# "), task
    for task in ("pretrain-op", "finetune-op", "evaluate-op"):
        with open(outputs[task]["plots"]["uri"]) as f:
            assert "<img src='data:image/png;base64," in f.read(), task
    for task in ("pretrain-op", "finetune-op"):
        model_dir = outputs[task]["model"]["uri"]
        assert glob.glob(os.path.join(model_dir, "tensorboard", "**", "events.out.tfevents.*"), recursive=True), task

    fingerprint = outputs["preprocess-op"]["corpus"]["metadata"]["data_fingerprint"]
    run_id = outputs["preprocess-op"]["corpus"]["metadata"]["run_id"]
    assert fingerprint and run_id
    version = outputs["export-op"]["serving"]["metadata"]["model_version"]
    for task in TASKS:
        for name, artifact in outputs[task].items():
            lineage = artifact["metadata"]
            assert lineage["data_fingerprint"] == fingerprint, (task, name)
            assert lineage["pipeline_version"] == pipeline_version(), (task, name)
            assert lineage["run_id"] == run_id, (task, name)
            if task in ("export-op", "infra-validate-op", "push-op"):
                assert lineage["model_version"] == version, (task, name)
    assert local_run["pushed_model"].endswith(f"/{version}")

    evaluation = outputs["evaluate-op"]["evaluation"]["uri"]
    with open(os.path.join(evaluation, "blessing.json")) as f:
        assert any(r.startswith("no previous blessed model") for r in json.load(f)["reasons"])
    assert "no previous blessed model" in Path(outputs["evaluate-op"]["report"]["uri"]).read_text()
    with open(os.path.join(local_run["pushed_model"], BLESSED_METRICS)) as f:
        blessed = json.load(f)  # the next run's bar: the evaluation as printed, plus the per-type breakdown
    assert {k: v for k, v in blessed.items() if k != "by_question_type"} == local_run["evaluation"]
    assert sum(v["questions"] for v in blessed["by_question_type"].values()) == blessed["questions"]
    assert "exact match by question type: " in local_run["stdout"]


def test_the_runs_model_is_blessed_only_when_it_meets_a_non_zero_bar(local_run, tmp_path):
    """The local run blesses with no threshold. Its fine-tuned model evaluated again: a bar just above its exact
    match refuses it and push refuses to serve it; a baseline just above it (within tolerance) blesses it."""
    from components.executors import evaluate, push

    model_dir = _output_artifacts(local_run["run_dir"], "finetune-op")["model"]["uri"]
    achieved = local_run["evaluation"]["exact_match"]
    above = evaluate(model_dir, "sample", "test", achieved + 0.01, "", 0.0, str(tmp_path / "refused"))
    assert above["blessing"]["blessed"] is False
    assert above["blessing"]["reasons"][0] == f"exact match {achieved:.4f} < threshold {achieved + 0.01:.4f}"
    serving = os.path.dirname(os.path.dirname(local_run["pushed_model"]))
    with pytest.raises(RuntimeError, match="not blessed"):
        push(serving, "realm", 1, str(tmp_path / "pushed"), str(tmp_path / "refused"))
    assert not (tmp_path / "pushed").exists()
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"exact_match": achieved + 0.01}))
    near = evaluate(model_dir, "sample", "test", achieved, str(baseline), 0.02, str(tmp_path / "near"))
    assert near["blessing"]["blessed"] is True
    assert {k: v for k, v in near["metrics"].items() if k != "by_question_type"} == local_run["evaluation"]
    far = evaluate(model_dir, "sample", "test", achieved, str(baseline), 0.005, str(tmp_path / "far"))
    assert far["blessing"]["blessed"] is False and "last blessed model" in far["blessing"]["reasons"][0]


# ------------------------------------------------------------------------------------------ executors
def test_record_lineage_stamps_every_artifact_and_refuses_a_missing_fingerprint():
    from kfp.dsl import HTML, Markdown, Metrics

    from components.ui import record_lineage

    artifacts = [Metrics(), Markdown(), HTML()]
    lineage = record_lineage(
        artifacts, data_fingerprint="f00d", pipeline_version="1.0-abc", run_id="r1", model_version=7
    )
    assert lineage == {"data_fingerprint": "f00d", "pipeline_version": "1.0-abc", "run_id": "r1", "model_version": 7}
    assert all(a.metadata == lineage for a in artifacts)
    with pytest.raises(ValueError, match="no data_fingerprint"):
        record_lineage([Metrics()], data_fingerprint="", pipeline_version="1.0-abc", run_id="r1")


def _blessed_evaluation(path, blessed: bool = True, exact_match: float = 0.3) -> str:
    path.mkdir(parents=True, exist_ok=True)
    metrics = {"questions": 10, "exact_match": exact_match}
    (path / "blessing.json").write_text(json.dumps({"blessed": blessed, "reasons": ["r"], "metrics": metrics}))
    return str(path)


def test_push_stores_the_blessed_metrics_with_the_model_and_evaluate_finds_the_newest(tmp_path):
    from components.executors import BLESSED_METRICS, last_pushed_metrics, push

    serving, pushed = tmp_path / "export", tmp_path / "serving"
    for version in (5, 12):
        (serving / "realm" / str(version) / "variables").mkdir(parents=True)
        (serving / "realm" / str(version) / "saved_model.pb").write_bytes(b"graph")
    assert last_pushed_metrics(str(pushed), "realm") is None
    with pytest.raises(RuntimeError, match="not blessed"):
        push(str(serving), "realm", 5, str(pushed), _blessed_evaluation(tmp_path / "refused", blessed=False))
    assert not (pushed / "realm" / "5").exists()
    result = push(str(serving), "realm", 5, str(pushed), _blessed_evaluation(tmp_path / "e5", exact_match=0.25))
    assert result["figures"]["exact_match"] == 0.25 and "# Push" in result["markdown"]
    push(str(serving), "realm", 12, str(pushed), _blessed_evaluation(tmp_path / "e12", exact_match=0.5))
    (pushed / "realm" / "99").mkdir()  # pushed by hand, without metrics: not a bar
    newest = last_pushed_metrics(str(pushed), "realm")
    assert newest == str(pushed / "realm" / "12" / BLESSED_METRICS)
    assert json.loads(Path(newest).read_text())["exact_match"] == 0.5
    with pytest.raises(FileExistsError, match="never overwritten"):
        push(str(serving), "realm", 12, str(pushed), _blessed_evaluation(tmp_path / "e12"))


# ------------------------------------------------------------------------------------------ fake KFP API
class FakeKFP(BaseHTTPRequestHandler):
    """The KFP v2beta1 endpoints the client uses, with a tiny in-memory store. Like the real server, an upload
    creates the pipeline with one version named after the pipeline; with `token` set, every request without that
    bearer token gets 401; a run reports RUNNING on its first `running_polls` polls, then `final_state`."""

    state: ClassVar[dict] = {}

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _refused(self, method: str, path: str) -> bool:
        self.state["requests"].append((method, path))
        token = self.state["token"]
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            self._reply(401, {"error": "Unauthorized", "code": 16})
            return True
        return False

    def _new_id(self, prefix: str) -> str:
        self.state["next_id"] += 1
        return f"{prefix}{self.state['next_id']}"

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if self._refused("GET", url.path):
            return None
        if url.path.endswith("/healthz"):
            return self._reply(200, {"multi_user": False})
        if url.path == "/apis/v2beta1/pipelines":
            if self.state["failing_lookups"]:
                return self._reply(500, {"error": "database is down"})
            pipelines = [{"pipeline_id": p, "display_name": "realm"} for p in self.state["pipelines"]]
            return self._reply(200, {"pipelines": pipelines, "total_size": len(pipelines)})
        match = re.fullmatch(r"/apis/v2beta1/pipelines/(\w+)/versions", url.path)
        if match:
            versions = [{"pipeline_version_id": v, "display_name": n} for v, n in self.state["versions"]]
            return self._reply(200, {"pipeline_versions": versions, "total_size": len(versions)})
        if url.path == "/apis/v2beta1/experiments":
            return self._reply(200, {"experiments": []})
        match = re.fullmatch(r"/apis/v2beta1/runs/(\w+)", url.path)
        if match:
            polls = self.state["polls"].setdefault(match.group(1), 0)
            self.state["polls"][match.group(1)] = polls + 1
            run_state = "RUNNING" if polls < self.state["running_polls"] else self.state["final_state"]
            return self._reply(200, {"run_id": match.group(1), "state": run_state})
        return self._reply(404, {"error": "not found"})

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self._refused("POST", url.path):
            return None
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/apis/v2beta1/pipelines/upload":
            assert b"pipelineInfo" in body
            name = query["name"][0]
            self.state["pipelines"].append("p1")
            self.state["versions"].append((self._new_id("v"), name))  # the server names it after the pipeline
            return self._reply(200, {"pipeline_id": "p1", "display_name": name})
        if url.path == "/apis/v2beta1/pipelines/upload_version":
            name = query.get("name", [""])[0]
            if any(n == name for _, n in self.state["versions"]):
                return self._reply(409, {"error": f"version {name} already exists"})
            self.state["versions"].append((self._new_id("v"), name))
            return self._reply(200, {"pipeline_version_id": self.state["versions"][-1][0], "pipeline_id": "p1"})
        if url.path == "/apis/v2beta1/experiments":
            return self._reply(200, {"experiment_id": "e1", "display_name": json.loads(body)["display_name"]})
        if url.path == "/apis/v2beta1/runs":
            run = json.loads(body)
            self.state["runs"].append(run)
            return self._reply(200, {"run_id": f"r{len(self.state['runs'])}", "display_name": run["display_name"]})
        return self._reply(404, {"error": "not found"})

    def do_DELETE(self):
        url = urllib.parse.urlparse(self.path)
        if self._refused("DELETE", url.path):
            return None
        match = re.fullmatch(r"/apis/v2beta1/pipelines/(\w+)/versions/(\w+)", url.path)
        if match and any(v == match.group(2) for v, _ in self.state["versions"]):
            self.state["versions"] = [(v, n) for v, n in self.state["versions"] if v != match.group(2)]
            return self._reply(200, {})
        return self._reply(404, {"error": "not found"})

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_kfp(monkeypatch):
    for variable in ("KF_PIPELINES_TOKEN", "KF_PIPELINES_COOKIES"):
        monkeypatch.delenv(variable, raising=False)
    FakeKFP.state = {
        "requests": [], "pipelines": [], "versions": [], "runs": [], "polls": {}, "next_id": 0, "token": None,
        "running_polls": 1, "final_state": "SUCCEEDED", "failing_lookups": False,
    }  # fmt: skip
    server = HTTPServer(("127.0.0.1", 0), FakeKFP)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", FakeKFP.state
    server.shutdown()


def test_submit_names_the_first_version_after_the_pipeline_version_then_adds_versions(fake_kfp, tmp_path, monkeypatch):
    host, state = fake_kfp
    package = compile_pipeline(str(tmp_path / "realm.yaml"), None, "tiny")
    version = pipeline_version()
    first = submit(host, package, "realm-experiments", params={"pretrain_steps": 5})
    assert first["pipeline_id"] == "p1" and first["run_id"] == "r1" and first["version"] == version
    assert ("POST", "/apis/v2beta1/pipelines/upload") in state["requests"]
    assert [v["name"] for v in list_versions(host)] == [version]  # the server's default version is gone
    named_id = state["versions"][0][0]
    assert first["version_id"] == named_id
    run = state["runs"][0]
    assert run["experiment_id"] == "e1" and run["pipeline_version_reference"]["pipeline_version_id"] == named_id
    assert run["runtime_config"]["parameters"] == {"pretrain_steps": 5}
    assert "state" not in first  # no --wait: no polling
    assert not state["polls"]

    with pytest.raises(PipelineError, match="already uploaded"):
        submit(host, package, "realm-experiments")
    monkeypatch.setenv("REALM_PIPELINE_VERSION", "9.9.9-abc1234")  # a later commit
    second = submit(host, package, "realm-experiments")
    assert ("POST", "/apis/v2beta1/pipelines/upload_version") in state["requests"]
    assert [v["name"] for v in list_versions(host)] == [version, "9.9.9-abc1234"]
    assert second["version_id"] == state["versions"][1][0] != named_id
    assert state["runs"][-1]["pipeline_version_reference"]["pipeline_version_id"] == second["version_id"]
    assert state["requests"].count(("POST", "/apis/v2beta1/pipelines/upload")) == 1


def test_submit_wait_follows_the_run_to_its_terminal_state(fake_kfp, tmp_path, capsys):
    from realm.cli import main

    host, state = fake_kfp
    package = compile_pipeline(str(tmp_path / "realm.yaml"), None, "tiny")
    result = submit(host, package, "realm", wait=True, poll_seconds=0)
    assert result["state"] == "SUCCEEDED" and state["polls"] == {result["run_id"]: 2}  # RUNNING, then done
    state["final_state"], state["running_polls"] = "FAILED", 0  # the CLI polls every 30 s: finish at once
    state["versions"].clear()  # let the same version be uploaded again
    argv = ["pipeline", "submit", "--host", host, "--package", package, "--wait"]
    assert main(argv) == 1  # a failed run fails the command
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["state"] == "FAILED"


def test_missing_or_rejected_credentials_are_a_clear_error(fake_kfp, tmp_path, monkeypatch):
    host, state = fake_kfp
    package = compile_pipeline(str(tmp_path / "realm.yaml"), None, "tiny")
    state["token"] = "s3cret"
    with pytest.raises(PipelineError, match=r"answered 401: credentials missing.*--token or KF_PIPELINES_TOKEN"):
        submit(host, package, "realm")
    assert state["requests"] == [("GET", "/apis/v2beta1/healthz")]  # one probe, no retries
    with pytest.raises(PipelineError, match="credentials rejected"):
        list_versions(host, token="wrong")
    monkeypatch.setenv("KF_PIPELINES_TOKEN", "s3cret")
    assert submit(host, package, "realm")["run_id"] == "r1"


def test_a_failing_pipeline_lookup_is_reported_not_taken_for_a_new_pipeline(fake_kfp, tmp_path):
    host, state = fake_kfp
    package = compile_pipeline(str(tmp_path / "realm.yaml"), None, "tiny")
    state["failing_lookups"] = True
    with pytest.raises(PipelineError, match=r"looking up pipeline 'realm' failed \(HTTP 500"):
        submit(host, package, "realm")
    assert ("POST", "/apis/v2beta1/pipelines/upload") not in state["requests"]


def test_unreachable_host_is_a_clear_error(tmp_path):
    package = str(tmp_path / "unused.yaml")
    with pytest.raises(PipelineError, match="cannot reach"):
        submit("http://127.0.0.1:9", package, "realm")
