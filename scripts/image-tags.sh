#!/usr/bin/env bash
# The tags of a ragops image build: the version (pyproject.toml) and main-<short commit>, the
# tag a rollback selects (docs/runbooks/README.md#rollback).
#
# Usage: scripts/image-tags.sh               one tag a line: ragops:0.1.0, ragops:main-1a2b3c4
#        scripts/image-tags.sh --build-args  the `docker build` arguments: -t ... and the
#                                            --build-arg VERSION/GIT_COMMIT/BUILD_TIME/IMAGE_TAG
# IMAGE (default "ragops") names the repository, e.g. IMAGE=registry.example.com/ragops.
# A checkout with uncommitted changes gets main-<short commit>-dirty: never mistaken for a release.
set -euo pipefail

cd "$(dirname "$0")/.."
image="${IMAGE:-ragops}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)"
if [[ -z "${version}" ]]; then
    echo "image-tags: no version in pyproject.toml" >&2
    exit 1
fi
commit="$(git rev-parse HEAD)"
short="$(git rev-parse --short=7 HEAD)"
suffix=""
if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
    suffix="-dirty"
fi
commit_tag="main-${short}${suffix}"

case "${1:-}" in
    "")
        printf '%s:%s\n%s:%s\n' "${image}" "${version}" "${image}" "${commit_tag}"
        ;;
    --build-args)
        printf -- '-t %s:%s -t %s:%s' "${image}" "${version}" "${image}" "${commit_tag}"
        printf -- ' --build-arg VERSION=%s --build-arg GIT_COMMIT=%s' "${version}" "${commit}"
        printf -- ' --build-arg BUILD_TIME=%s' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        printf -- ' --build-arg IMAGE_TAG=%s\n' "${commit_tag}"
        ;;
    *)
        echo "usage: scripts/image-tags.sh [--build-args]" >&2
        exit 2
        ;;
esac
