#!/usr/bin/env bash
# Build (and with --push, push) the CPU and GPU images, tagged with the pipeline version the compiled pipeline
# references (`realm --version`), with Docker or Podman: whichever is installed (Docker first), or
# CONTAINER_ENGINE=docker|podman.
#
# Usage: docker/build.sh [--cpu-only | --gpu-only] [--push] [--no-cache] [--base-image IMAGE] [--ca-bundle FILE]
#   --base-image IMAGE  the Python 3.11 base of both stages (default python:3.11-slim)
#   --ca-bundle FILE    extra CA certificates (PEM) pip trusts during the build, e.g. a TLS-intercepting proxy's;
#                       passed as the build secret `extra_ca`, so it is in no layer of the image
#   --push              push the built images (log in to the registry first)
#   --no-cache          rebuild every layer
# Environment: REALM_IMAGE_REGISTRY (default ghcr.io/realm-pipeline), BUILD_NETWORK (default host: builds reach
# the package registry the way this machine does), EXTRA_BUILD_ARGS (more flags for the engine's build).
# Podman on vfs storage builds with `--layers=false` unless EXTRA_BUILD_ARGS says `--layers`: there every cached
# layer is a full copy of the filesystem (several GB each in the builder stage), which
# filled a CI machine's disk ("no space left on device"); the cost is that every build starts from the base image.
# Prints one line per image: REFERENCE SIZE_BYTES BUILD_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "docker/build.sh: $*" >&2; exit 2; }
variants=(cpu gpu) push=0 base_image="" ca_bundle="" no_cache=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu-only) variants=(cpu) ;;
    --gpu-only) variants=(gpu) ;;
    --push) push=1 ;;
    --no-cache) no_cache=--no-cache ;;
    --base-image) [[ $# -ge 2 ]] || die "--base-image needs an image"; base_image="$2"; shift ;;
    --ca-bundle) [[ $# -ge 2 ]] || die "--ca-bundle needs a file"; ca_bundle="$2"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
[[ -z "$ca_bundle" || -s "$ca_bundle" ]] || die "--ca-bundle $ca_bundle: no such file (or empty)"

engine="${CONTAINER_ENGINE:-}"
if [[ -z "$engine" ]]; then
  if command -v docker >/dev/null \
      && server="$(docker version --format '{{range .Server.Components}}{{.Name}} {{end}}' 2>/dev/null)"; then
    # A docker CLI talking to Podman's API (DOCKER_HOST) has no BuildKit there: build with podman itself.
    if [[ "$server" == *Podman* ]] && command -v podman >/dev/null; then engine=podman; else engine=docker; fi
  elif command -v podman >/dev/null; then
    engine=podman
  else
    die "no container engine: no running Docker daemon and no podman (install one, or set CONTAINER_ENGINE)"
  fi
fi
command -v "$engine" >/dev/null || die "CONTAINER_ENGINE=$engine is not installed"
# Docker needs BuildKit for the secret mount; Podman (Buildah) supports it natively.
[[ "$engine" == docker ]] && export DOCKER_BUILDKIT=1

version="$(python -c 'from realm.version import pipeline_version; print(pipeline_version())')"
registry="${REALM_IMAGE_REGISTRY:-ghcr.io/realm-pipeline}"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
source_url="$(git remote get-url origin 2>/dev/null || echo https://github.com/realm-pipeline/realm)"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

args=(--network "${BUILD_NETWORK:-host}" -f docker/Dockerfile
      --build-arg "REALM_PIPELINE_VERSION=$version" --build-arg "REVISION=$revision"
      --build-arg "SOURCE=$source_url" --build-arg "CREATED=$created")
[[ -n "$no_cache" ]] && args+=("$no_cache")
# shellcheck disable=SC2206  # flags, split on purpose
[[ -n "${EXTRA_BUILD_ARGS:-}" ]] && args+=(${EXTRA_BUILD_ARGS})
if [[ "$engine" == podman && "${EXTRA_BUILD_ARGS:-}" != *--layers* ]] \
    && [[ "$(podman info --format '{{.Store.GraphDriverName}}' 2>/dev/null)" == vfs ]]; then
  echo "docker/build.sh: Podman on vfs storage: building with --layers=false (no layer cache; see --help)" >&2
  args+=(--layers=false)
fi
[[ -n "$base_image" ]] && args+=(--build-arg "BASE_IMAGE=$base_image")
[[ -n "$ca_bundle" ]] && args+=(--secret "id=extra_ca,src=$(realpath "$ca_bundle")")

for variant in "${variants[@]}"; do
  if [[ "$variant" == cpu ]]; then
    ref="$registry/realm:$version" tensorflow="tensorflow-cpu==2.20.0"
  else
    ref="$registry/realm-gpu:$version" tensorflow="tensorflow[and-cuda]==2.20.0"
  fi
  started=$SECONDS
  "$engine" build "${args[@]}" --build-arg "TENSORFLOW=$tensorflow" -t "$ref" . >&2
  seconds=$((SECONDS - started))
  if [[ "$push" == 1 ]]; then "$engine" push "$ref" >&2; fi
  echo "$ref $("$engine" image inspect --format '{{.Size}}' "$ref") $seconds"
done
