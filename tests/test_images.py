"""Which images the pipeline names and how `--runner docker` prepares its containers, without a container engine:
image references resolved when the pipeline is built (never at import), missing images reported with how to
build them, the CPU image standing in for a missing GPU image only where there is no GPU, host paths mounted,
and a failed task reported as the step it is. tests/test_container.py runs the real thing."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import yaml

import docker
from pipeline.cli import PipelineError, compile_pipeline
from pipeline.containers import ContainerPlan, _host_paths, failed_step, plan_images, prepare_run

CPU, GPU = "registry.example/team/realm:1.0-abc", "registry.example/team/realm-gpu:1.0-abc"


def _compiled_images(path: str) -> dict[str, str]:
    with open(path) as f:
        executors = next(yaml.safe_load_all(f))["deploymentSpec"]["executors"]
    return {name.removeprefix("exec-").removesuffix("-op"): e["container"]["image"] for name, e in executors.items()}


def test_images_are_resolved_when_the_pipeline_is_built_not_when_imported(monkeypatch, tmp_path):
    """The components were imported long before this test; the registry and version of the moment count."""
    monkeypatch.setenv("REALM_IMAGE_REGISTRY", "registry.example/team")
    monkeypatch.setenv("REALM_PIPELINE_VERSION", "1.0-abc")
    images = _compiled_images(compile_pipeline(str(tmp_path / "realm.yaml"), None, "tiny"))
    assert {step: images[step] for step in ("warm-start", "pretrain", "finetune")} == dict.fromkeys(
        ("warm-start", "pretrain", "finetune"), GPU
    )
    assert {images[step] for step in ("preprocess", "evaluate", "export", "infra-validate", "push")} == {CPU}


def test_importing_the_components_and_pipeline_runs_no_git():
    probe = (
        "import subprocess; calls = []; run = subprocess.run\n"
        "subprocess.run = lambda command, *a, **k: (calls.append(command), run(command, *a, **k))[1]\n"
        "import components.definitions, pipeline.realm_pipeline, pipeline.containers\n"
        "print(sum('git' in str(command) for command in calls))"
    )
    env = {k: v for k, v in os.environ.items() if k != "REALM_PIPELINE_VERSION"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "0"


class _FakeImages:
    def __init__(self, present: set[str]):
        self.present = present

    def get(self, ref: str):
        if ref not in self.present:
            raise docker.errors.ImageNotFound(ref)
        return ref


class _FakeClient:
    def __init__(self, *present: str):
        self.images = _FakeImages(set(present))


@pytest.fixture
def version(monkeypatch):
    monkeypatch.setenv("REALM_IMAGE_REGISTRY", "registry.example/team")
    monkeypatch.setenv("REALM_PIPELINE_VERSION", "1.0-abc")


def test_a_missing_image_is_an_error_that_says_how_to_build_it(version):
    with pytest.raises(PipelineError, match=rf"image {CPU} is not in the local image store; build it with "
                       r"`docker/build.sh --cpu-only` \(or pass --build-images\)"):  # fmt: skip
        plan_images(_FakeClient(), build=False, gpu=False)
    with pytest.raises(PipelineError, match=rf"image {GPU} .* `docker/build.sh --gpu-only`"):
        plan_images(_FakeClient(CPU), build=False, gpu=True)
    with pytest.raises(PipelineError, match=rf"image {CPU} and {GPU} .* `docker/build.sh` "):
        plan_images(_FakeClient(), build=False, gpu=True)


def test_without_a_gpu_the_training_steps_run_from_the_cpu_image_and_the_log_says_so(version, caplog):
    with caplog.at_level(logging.WARNING, logger="realm.pipeline"):
        plan = plan_images(_FakeClient(CPU), build=False, gpu=False)
    assert (plan.image, plan.gpu_image) == (CPU, CPU)
    assert f"no GPU here: the training steps (warm-start, pretrain, finetune) run from the CPU image {CPU}" in (
        caplog.text
    )
    plan = plan_images(_FakeClient(CPU, GPU), build=False, gpu=False)  # built anyway: used as the YAML says
    assert (plan.image, plan.gpu_image) == (CPU, GPU)


def test_host_paths_the_parameters_name_are_mounted_at_the_same_paths(tmp_path):
    out, dumps, elsewhere, checkpoints = tmp_path / "out", tmp_path / "dumps", tmp_path / "serving", tmp_path / "ckpt"
    for directory in (dumps, checkpoints, out / "old"):
        directory.mkdir(parents=True)
    inputs = [dumps / "enwiki-1.bz2", dumps / "enwiki-2.bz2", checkpoints / "model.ckpt-9.index"]
    for path in [*inputs, dumps / "other.txt", out / "old" / "metrics.json"]:
        path.write_text("x")
    params = {
        "input_pattern": f"{dumps}/enwiki-*.bz2", "init_checkpoint": f"{checkpoints}/model.ckpt-9",
        "baseline_metrics": f"{out}/old/metrics.json", "push_dir": str(elsewhere), "model_name": "realm",
        "questions": "sample",
    }  # fmt: skip
    # Files, not their (possibly private) directories; what lies in out/ is mounted with it.
    assert _host_paths(params, str(out)) == ({str(p) for p in inputs}, {str(elsewhere)})
    run_args = prepare_run(ContainerPlan(CPU, CPU), str(out), params, gpu=False)
    mounts = {(m["Source"], m["Target"], m["ReadOnly"]) for m in run_args["mounts"]}
    assert mounts == {(str(p), str(p), p in inputs) for p in (out, elsewhere, *inputs)}
    assert (elsewhere / "realm").is_dir() and (out / "pipeline_root").is_dir()
    if os.getuid() == 0:  # the image's non-root user writes the outputs
        assert "user" not in run_args and (out / "pipeline_root").stat().st_uid == 1000
    else:
        assert run_args["user"] == f"{os.getuid()}:{os.getgid()}"
    assert "device_requests" not in run_args


def test_a_failed_task_is_reported_as_its_step_and_image():
    plan = ContainerPlan(CPU, GPU)
    coloured = RuntimeError("Task \x1b[96m'finetune-op'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m")
    assert str(failed_step(coloured, plan)) == f"step finetune failed in its container ({GPU}); its log is above"
    nested = RuntimeError("Pipeline 'realm' finished with status FAILURE. Inner task failed: 'push-op' inside 'x'.")
    assert str(failed_step(nested, plan)) == f"step push failed in its container ({CPU}); its log is above"
    assert str(failed_step(coloured, None)) == "step finetune failed; its log is above"


def test_build_images_runs_the_build_script_with_the_engine_behind_the_api(version, tmp_path, monkeypatch):
    """--build-images: the missing CPU image is built by docker/build.sh with the engine the API belongs to
    (a docker CLI cannot build through Podman's API)."""
    import pipeline.containers as containers

    calls = tmp_path / "calls"
    script = tmp_path / "build.sh"
    script.write_text(f'echo "$* engine=$CONTAINER_ENGINE" >> {calls}\n')
    monkeypatch.setattr(containers, "BUILD_SCRIPT", str(script))
    monkeypatch.delenv("CONTAINER_ENGINE", raising=False)
    client = _FakeClient()
    client.version = lambda: {"Components": [{"Name": "Podman Engine"}, {"Name": "Conmon"}]}
    plan = plan_images(client, build=True, gpu=False)
    assert calls.read_text() == "--cpu-only engine=podman\n"
    assert (plan.image, plan.gpu_image) == (CPU, CPU)
    script.write_text("exit 3\n")
    with pytest.raises(PipelineError, match=r"docker/build\.sh --cpu-only failed \(exit 3\)"):
        plan_images(client, build=True, gpu=False)


def test_run_with_the_docker_runner_and_no_engine_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from realm.cli import main

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    argv = ["pipeline", "run", "--local", "--runner", "docker", "--preset", "tiny", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"no container engine answers at unix://{tmp_path}/no-engine.sock" in err and "DOCKER_HOST" in err
    assert len(err.strip().splitlines()) == 1
