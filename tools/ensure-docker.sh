#!/usr/bin/env bash
# Make sure a Docker engine answers, for the docker runtime's tests and `skiff up --runtime docker`.
#
# Idempotent: installs docker.io and busybox-static with apt-get when missing, starts dockerd in
# the background (log: $DOCKERD_LOG, default /tmp/dockerd.log) when `docker info` fails, and waits
# up to $DOCKER_START_DEADLINE seconds (default 60) for the engine to answer. Then it builds the
# local busybox:latest image (tools/busybox-image.sh): no container registry need be reachable.
# Prints what it did; exits non-zero with a clear message if the engine cannot start.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
log="${DOCKERD_LOG:-/tmp/dockerd.log}"
deadline_s="${DOCKER_START_DEADLINE:-60}"

say() { echo "ensure-docker: $*"; }
die() { echo "ensure-docker: ERROR: $*" >&2; exit 1; }

missing=()
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)  # a local registry for pull tests
if [ "${#missing[@]}" -gt 0 ]; then
  pkgs="$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
  [ "$(id -u)" = 0 ] || die "need root to install: $pkgs"
  say "installing $pkgs"
  apt-get update -qq >/dev/null || die "apt-get update failed"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null || die "apt-get install $pkgs failed"
fi

if docker info >/dev/null 2>&1; then
  say "engine answers ($(docker version --format '{{.Server.Version}}'))"
else
  [ "$(id -u)" = 0 ] || die "the Docker engine does not answer and only root can start dockerd"
  say "starting dockerd (log: $log)"
  nohup dockerd >"$log" 2>&1 &
  end=$((SECONDS + deadline_s))
  until docker info >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$end" ]; then
      tail -n 20 "$log" >&2 || true
      die "dockerd did not answer within ${deadline_s}s (see $log)"
    fi
    if ! kill -0 "$!" 2>/dev/null && ! pgrep -x dockerd >/dev/null; then
      tail -n 20 "$log" >&2 || true
      die "dockerd exited (see $log)"
    fi
    sleep 0.5
  done
  say "engine answers ($(docker version --format '{{.Server.Version}}'))"
fi

"$here/busybox-image.sh"
