"""Pipeline version: `<package version>-<git short sha>`, plus `-dirty` when the tree has uncommitted changes.

Recorded in the compiled YAML, in every artifact's metadata and in the image tags, so a run, its artifacts and
the image that produced them can be matched. Outside a git checkout (e.g. inside the image) the version baked
in at build time (REALM_PIPELINE_VERSION) is used. It lives in the library, not in `pipeline/`, because the
components (image tags) and `realm --version` need it without importing the pipeline; nothing runs git at
import time, only when a version is asked for.
"""

from __future__ import annotations

import os
import subprocess
from importlib import metadata

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package_version() -> str:
    """The installed distribution's version (pyproject.toml); 0.0.0 from a source tree that was never installed."""
    try:
        return metadata.version("realm-pipeline")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def pipeline_version() -> str:
    """The version baked into an image, else this checkout's `<package>-<sha>[-dirty]` (`-unknown` without git)."""
    baked = os.environ.get("REALM_PIPELINE_VERSION")
    if baked:
        return baked
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=_ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{package_version()}-unknown"
    return f"{package_version()}-{sha}" + ("-dirty" if dirty else "")
