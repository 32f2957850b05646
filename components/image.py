"""The container images the components run in: built from docker/ and tagged with the pipeline version.

Override the registry with REALM_IMAGE_REGISTRY (default ghcr.io/realm-pipeline), or a whole reference with
REALM_IMAGE / REALM_GPU_IMAGE, before compiling. The GPU variant (same code, CUDA TensorFlow) runs the training
steps. The references are resolved when a pipeline is built (`pipeline.realm_pipeline.build_pipeline` sets each
task's image), not when this module is imported: the version asks git, and importing the components must neither
run git nor depend on the environment of the moment it happened to be imported in.
"""

from __future__ import annotations

import os

from realm.version import pipeline_version

DEFAULT_REGISTRY = "ghcr.io/realm-pipeline"
# What the decorators in components.definitions name until build_pipeline sets the real reference: a component
# used outside the pipeline (e.g. compiled on its own) must not silently run some other version's image.
UNSET_IMAGE = "realm-image-is-set-by-build-pipeline"


def registry() -> str:
    return os.environ.get("REALM_IMAGE_REGISTRY", DEFAULT_REGISTRY)


def cpu_image(version: str | None = None) -> str:
    """The CPU image of `version` (default: this checkout's pipeline version)."""
    return os.environ.get("REALM_IMAGE") or f"{registry()}/realm:{version or pipeline_version()}"


def gpu_image(version: str | None = None) -> str:
    """The GPU image (training steps) of `version` (default: this checkout's pipeline version)."""
    return os.environ.get("REALM_GPU_IMAGE") or f"{registry()}/realm-gpu:{version or pipeline_version()}"
