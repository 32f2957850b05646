#!/usr/bin/env bash
# Build and (with --push) push both images, tagged with the pipeline version the compiled pipeline references.
# Usage: docker/build.sh [--push]   (registry: REALM_IMAGE_REGISTRY, default ghcr.io/realm-pipeline)
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(python -c 'from pipeline.version import pipeline_version; print(pipeline_version())')"
registry="${REALM_IMAGE_REGISTRY:-ghcr.io/realm-pipeline}"
docker build -f docker/Dockerfile --build-arg REALM_PIPELINE_VERSION="$version" -t "$registry/realm:$version" .
docker build -f docker/Dockerfile.gpu --build-arg REALM_PIPELINE_VERSION="$version" -t "$registry/realm-gpu:$version" .
if [[ "${1:-}" == "--push" ]]; then
  docker push "$registry/realm:$version"
  docker push "$registry/realm-gpu:$version"
fi
echo "$registry/realm:$version $registry/realm-gpu:$version"
