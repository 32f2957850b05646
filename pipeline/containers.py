"""`realm pipeline run --local --runner docker`: every task in the project image, as a cluster runs it.

kfp.local.DockerRunner starts each task's container from the image reference the compiled pipeline names (the
CPU image, the GPU image for the training steps, both tagged with the pipeline version) through the Docker API:
Docker's, or Podman's (`podman system service`, with DOCKER_HOST pointing at its socket). This module checks
that the engine answers and the images are there (building them with docker/build.sh on request), and prepares
what DockerRunner itself does not: the host paths a run reads or writes besides the pipeline root, and a user
that may write them.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline.cli import PipelineError

logger = logging.getLogger("realm.pipeline")

IMAGE_UID = 1000  # the image's non-root user (docker/Dockerfile)
BUILD_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docker", "build.sh")


@dataclass
class ContainerPlan:
    """The images a local container run uses: the CPU image, and the one its training steps run from."""

    image: str
    gpu_image: str


def docker_client():
    """A client of the Docker API (Docker, or Podman's compatible service) that answers, or a clear error."""
    try:
        import docker
    except ImportError:
        raise PipelineError("--runner docker needs the docker Python package: pip install docker") from None
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # docker raises DockerException, requests' and OSError's alike
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise PipelineError(
            f"--runner docker: no container engine answers at {host} ({str(exc)[:200]}); start Docker, or Podman's "
            "API (`podman system service --time=0 unix:///run/podman/podman.sock &`) and export "
            "DOCKER_HOST=unix:///run/podman/podman.sock"
        ) from None
    return client


def _engine_name(client) -> str:
    """`podman` when the API is Podman's (images built by the podman CLI are the ones it sees), else `docker`."""
    components = client.version().get("Components") or []
    return "podman" if any("podman" in str(c.get("Name", "")).lower() for c in components) else "docker"


def has_image(client, ref: str) -> bool:
    import docker

    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def has_gpu() -> bool:
    """Whether an NVIDIA GPU is visible here (nvidia-smi lists one)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    listed = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False)
    return listed.returncode == 0 and "GPU" in listed.stdout


def build_images(client, variants: list[str]) -> None:
    """Build the images of the current version with docker/build.sh, with the engine behind the API in use."""
    if not os.path.exists(BUILD_SCRIPT):
        raise PipelineError(f"--build-images needs the repository's {BUILD_SCRIPT}; build the images where it is")
    for variant in variants:
        logger.info("building the %s image with docker/build.sh (a few minutes)", variant)
        env = {**os.environ, "CONTAINER_ENGINE": os.environ.get("CONTAINER_ENGINE") or _engine_name(client)}
        built = subprocess.run(["bash", BUILD_SCRIPT, f"--{variant}-only"], env=env, stdout=sys.stderr, check=False)
        if built.returncode != 0:
            raise PipelineError(f"docker/build.sh --{variant}-only failed (exit {built.returncode}), output above")


def plan_images(client, build: bool, gpu: bool | None = None) -> ContainerPlan:
    """The images the compiled pipeline names, present (or built when `build`); without a GPU here, a missing GPU
    image is replaced by the CPU image for the training steps (same code; TensorFlow runs them on the CPU)."""
    from components.image import cpu_image, gpu_image

    gpu = has_gpu() if gpu is None else gpu
    image, training_image = cpu_image(), gpu_image()
    missing = [variant for variant, ref in (("cpu", image), ("gpu", training_image)) if not has_image(client, ref)]
    if "gpu" in missing and not gpu:
        logger.warning(
            "no GPU here: the training steps (warm-start, pretrain, finetune) run from the CPU image %s instead of "
            "%s, which is not built here",
            image,
            training_image,
        )
        missing.remove("gpu")
        training_image = image
    if missing and build:
        build_images(client, missing)
    elif missing:
        refs = " and ".join(image if variant == "cpu" else training_image for variant in missing)
        only = f" --{missing[0]}-only" if len(missing) == 1 else ""
        raise PipelineError(
            f"--runner docker: image {refs} is not in the local image store; build it with "
            f"`docker/build.sh{only}` (or pass --build-images), or pull it if it was pushed"
        )
    return ContainerPlan(image=image, gpu_image=training_image)


def _inside(path: str, directory: str) -> bool:
    return os.path.commonpath([path, directory]) == directory


def _host_paths(params: dict, output_dir: str) -> tuple[set[str], set[str]]:
    """(read-only, writable) host paths the parameters name outside the output directory (mounted anyway): the
    files an input glob or checkpoint prefix matches, a named file or directory, and push_dir. Files, not their
    directories: a private directory (a temporary one, mode 700) would keep the image's user from reaching them."""
    read_only, writable = set(), set()
    for name, value in params.items():
        if not isinstance(value, str) or not value.startswith("/"):
            continue  # "", gs://... and names are not host paths
        if name == "push_dir":
            writable.add(os.path.abspath(value))
        elif os.path.exists(value):
            read_only.add(os.path.abspath(value))
        else:  # a glob, or a checkpoint prefix (model.ckpt-100 -> model.ckpt-100.index, ...)
            read_only.update(os.path.abspath(p) for p in glob.glob(value if glob.has_magic(value) else value + "*"))
    return {p for p in read_only if not _inside(p, output_dir)}, {p for p in writable if not _inside(p, output_dir)}


def prepare_run(plan: ContainerPlan, output_dir: str, params: dict, gpu: bool | None = None) -> dict:
    """DockerRunner's container arguments: the output directory (pipeline root, pushed models) and the host paths
    the parameters name, mounted at the same paths; host networking; the GPUs when the training image is the GPU
    image; and a user that may write the outputs: yours, or, when you are root, the image's own non-root user, to
    which the directories the tasks create entries in are handed."""
    import docker

    output_dir = os.path.abspath(output_dir)
    read_only, writable = _host_paths(params, output_dir)
    mounts = [docker.types.Mount(output_dir, output_dir, type="bind")]
    mounts += [docker.types.Mount(p, p, type="bind") for p in sorted(writable)]
    mounts += [docker.types.Mount(p, p, type="bind", read_only=True) for p in sorted(read_only)]
    run_args: dict = {"mounts": mounts, "network_mode": "host"}
    push_dir = os.path.abspath(params.get("push_dir") or os.path.join(output_dir, "serving"))
    created = [output_dir, os.path.join(output_dir, "pipeline_root"), push_dir]
    created.append(os.path.join(push_dir, params.get("model_name", "realm")))
    for directory in created:
        os.makedirs(directory, exist_ok=True)
        if os.getuid() == 0:
            os.chown(directory, IMAGE_UID, IMAGE_UID)
    if os.getuid() != 0:
        run_args["user"] = f"{os.getuid()}:{os.getgid()}"
    if plan.gpu_image != plan.image and (has_gpu() if gpu is None else gpu):
        run_args["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return run_args


def failed_step(exc: RuntimeError, plan: ContainerPlan | None, log_path: str | None = None) -> PipelineError:
    """kfp.local's "Task 'x' finished with status FAILURE" (ANSI-coloured) as a one-line error naming the step, and,
    when its output went to `log_path` (the quiet console), the error that ended it and where the log is."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    match = re.search(r"Task '?([\w-]+?)(?:-op)?'? finished with status FAILURE", text) or re.search(
        r"Inner task failed: '?([\w-]+?)(?:-op)?'?[ .]", text
    )
    if not match:
        return PipelineError(f"the pipeline failed: {text}")
    from pipeline.console import failure_cause
    from pipeline.realm_pipeline import TRAINING_STEPS

    step = match.group(1)
    where = "" if plan is None else f" in its container ({plan.gpu_image if step in TRAINING_STEPS else plan.image})"
    if log_path is None:
        return PipelineError(f"step {step} failed{where}; its log is above")
    cause = failure_cause(log_path, step) or "no error line in its output"
    return PipelineError(f"step {step} failed{where}: {cause} (its whole log: {log_path})")


def _run_container(client, image: str, command: list[str], volumes: dict, **run_args) -> int:
    """kfp.local's run_docker_container without auto_remove: with it, a container that exits before its logs are
    read is gone (Podman then answers 500, not 404, and the run crashes) and a vanished container counts as a
    success. Here the exit status is read before the container is removed."""
    container = client.containers.run(
        image=image, command=command, detach=True, stdout=True, stderr=True, volumes=volumes, **run_args
    )
    try:
        for line in container.logs(stream=True, follow=True):
            print(line.decode(errors="replace"), end="")
        return container.wait()["StatusCode"]
    finally:
        container.remove(force=True)


@contextmanager
def exit_codes_kept(enabled: bool = True) -> Iterator[None]:
    """While a run lasts, kfp.local's DockerRunner starts its containers with _run_container. Disabled (the
    subprocess runner), nothing is imported: kfp's docker handler needs the `docker` package, which the main
    install leaves out."""
    if not enabled:
        yield
        return
    from kfp.local import docker_task_handler

    original = docker_task_handler.run_docker_container
    docker_task_handler.run_docker_container = _run_container
    try:
        yield
    finally:
        docker_task_handler.run_docker_container = original
