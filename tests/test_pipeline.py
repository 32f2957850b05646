"""The KFP pipeline: compiled IR, a whole local run with the tiny preset, and submission to a fake KFP API."""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
import yaml

from pipeline.cli import PipelineError, compile_pipeline, list_versions, run_local, submit
from pipeline.realm_pipeline import ClusterSettings
from pipeline.version import pipeline_version
from tests.conftest import write_sample_slice

TASKS = [
    "preprocess-op", "warm-start-op", "pretrain-op", "finetune-op", "evaluate-op", "export-op",
    "infra-validate-op", "push-op",
]  # fmt: skip


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict:
    path = str(tmp_path_factory.mktemp("ir") / "realm.yaml")
    settings = ClusterSettings(
        accelerator_type="NVIDIA_TESLA_A100",
        accelerators_per_training_task=2,
        node_selector={"pool": "gpu"},
        workspace_pvc="realm-workspace",
    )
    compile_pipeline(path, settings, "base")
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
    training = [e for name, e in executors.items() if re.search(r"pretrain|finetune|warm-start", name)]
    assert len(training) == 3
    for executor in training:
        resources = executor["container"]["resources"]
        assert resources["accelerator"]["resourceCount"] == "2" or resources["accelerator"].get("count") == "2"
        assert executor["container"]["image"].endswith(f"realm-gpu:{version}")
    assert all(e["container"]["image"].endswith(version) for e in executors.values())
    root = ir["root"]["dag"]["tasks"]
    assert root["pretrain-op"]["cachingOptions"] == {} or not root["pretrain-op"]["cachingOptions"].get("enableCache")
    assert root["preprocess-op"]["cachingOptions"]["enableCache"] is True
    assert root["preprocess-op"]["retryPolicy"]["maxRetryCount"] == 2
    assert "nodeSelector" in text and "realm-workspace" in text and "/workspace" in text


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> dict:

    root = tmp_path_factory.mktemp("local-run")
    dump = write_sample_slice(root / "enwiki-slice.xml.bz2", 40)
    overrides = {"pretrain_steps": 6, "refresh_every": 3, "finetune_steps": 4, "num_shards": 2}
    return run_local(str(root / "out"), "tiny", dump, overrides)


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


# ------------------------------------------------------------------------------------------ fake KFP API
class FakeKFP(BaseHTTPRequestHandler):
    """The KFP v2beta1 endpoints the client uses, with a tiny in-memory store."""

    state: ClassVar[dict] = {}

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        self.state["requests"].append(("GET", url.path))
        if url.path.endswith("/healthz"):
            return self._reply(200, {"multi_user": False})
        if url.path == "/apis/v2beta1/pipelines":
            pipelines = [{"pipeline_id": p, "display_name": "realm"} for p in self.state["pipelines"]]
            return self._reply(200, {"pipelines": pipelines, "total_size": len(pipelines)})
        match = re.fullmatch(r"/apis/v2beta1/pipelines/(\w+)/versions", url.path)
        if match:
            versions = [{"pipeline_version_id": v, "display_name": n} for v, n in self.state["versions"]]
            return self._reply(200, {"pipeline_versions": versions, "total_size": len(versions)})
        if url.path == "/apis/v2beta1/experiments":
            return self._reply(200, {"experiments": []})
        return self._reply(404, {"error": "not found"})

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.state["requests"].append(("POST", url.path))
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/apis/v2beta1/pipelines/upload":
            self.state["pipelines"].append("p1")
            self.state["versions"].append(("v1", query.get("name", ["realm"])[0]))
            assert b"pipelineInfo" in body
            return self._reply(200, {"pipeline_id": "p1", "display_name": "realm"})
        if url.path == "/apis/v2beta1/pipelines/upload_version":
            name = query.get("name", [""])[0]
            if any(n == name for _, n in self.state["versions"]):
                return self._reply(409, {"error": f"version {name} already exists"})
            self.state["versions"].append((f"v{len(self.state['versions']) + 1}", name))
            return self._reply(200, {"pipeline_version_id": self.state["versions"][-1][0], "pipeline_id": "p1"})
        if url.path == "/apis/v2beta1/experiments":
            return self._reply(200, {"experiment_id": "e1", "display_name": json.loads(body)["display_name"]})
        if url.path == "/apis/v2beta1/runs":
            run = json.loads(body)
            self.state["runs"].append(run)
            return self._reply(200, {"run_id": f"r{len(self.state['runs'])}", "display_name": run["display_name"]})
        return self._reply(404, {"error": "not found"})

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_kfp():
    FakeKFP.state = {"requests": [], "pipelines": [], "versions": [], "runs": []}
    server = HTTPServer(("127.0.0.1", 0), FakeKFP)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", FakeKFP.state
    server.shutdown()


def test_submit_uploads_then_adds_versions_and_starts_runs(fake_kfp, tmp_path):
    host, state = fake_kfp
    package = compile_pipeline(str(tmp_path / "realm.yaml"), None, "tiny")
    first = submit(host, package, "realm-experiments", params={"pretrain_steps": 5})
    assert first["pipeline_id"] == "p1" and first["run_id"] == "r1"
    assert ("POST", "/apis/v2beta1/pipelines/upload") in state["requests"]
    run = state["runs"][0]
    assert run["experiment_id"] == "e1" and run["pipeline_version_reference"]["pipeline_version_id"] == "v1"
    assert run["runtime_config"]["parameters"] == {"pretrain_steps": 5}
    state["versions"][0] = ("v1", "older")  # the first upload named the version; pretend it was an older one
    second = submit(host, package, "realm-experiments")
    assert second["version_id"] == "v2" and ("POST", "/apis/v2beta1/pipelines/upload_version") in state["requests"]
    assert [v["name"] for v in list_versions(host)] == ["older", pipeline_version()]
    with pytest.raises(PipelineError, match="already uploaded"):
        submit(host, package, "realm-experiments")


def test_unreachable_host_is_a_clear_error(tmp_path):
    package = str(tmp_path / "unused.yaml")
    with pytest.raises(PipelineError, match="cannot reach"):
        submit("http://127.0.0.1:9", package, "realm")
