"""The container image every component runs in: built from docker/ and tagged with the pipeline version.

Override the registry with REALM_IMAGE_REGISTRY (default ghcr.io/realm-pipeline), or the whole reference with
REALM_IMAGE, before compiling. The GPU variant (same code, CUDA TensorFlow) is used by the training steps.
"""

from __future__ import annotations

import os

from pipeline.version import pipeline_version

REGISTRY = os.environ.get("REALM_IMAGE_REGISTRY", "ghcr.io/realm-pipeline")
VERSION = pipeline_version()
IMAGE = os.environ.get("REALM_IMAGE", f"{REGISTRY}/realm:{VERSION}")
GPU_IMAGE = os.environ.get("REALM_GPU_IMAGE", f"{REGISTRY}/realm-gpu:{VERSION}")
