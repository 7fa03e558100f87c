#!/usr/bin/env bash
# Build the Dockerfile without a Docker daemon (podman/buildah) and smoke-test the image:
# /healthz on TAMS_PORT, /player with hls.js, the numeric user, `tams-gateway ingest` of a small TS.
#
#   scripts/build-image.sh            # build and test, tag tams-gateway:dev
#   STANDIN_BASES=1 scripts/build-image.sh
#
# Where Docker Hub cannot be reached, STANDIN_BASES=1 makes local stand-ins for the Dockerfile's two
# FROM images with debootstrap (Debian bookworm: python3.11 from Debian, nodejs/npm from Debian) and
# tags them with the FROM names, so the Dockerfile itself builds unchanged. The stand-ins are not
# the official images (Debian's python3 at /usr/bin, pip told it may install system-wide; Node 18,
# not 22): they show the Dockerfile's stages, user, volume and healthcheck work, not the exact bytes
# of a Docker Hub build. Needs root, podman and (for stand-ins) debootstrap and ffmpeg on the host.
set -euo pipefail

cd "$(dirname "$0")/.."
TAG=${TAG:-tams-gateway:dev}
PORT=${PORT:-8765}
NAME=tams-smoke-$$
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=${WORK:-/tmp/tams-image}
# The defaults suit a root Firecracker VM with hybrid cgroups (crun refuses them; runc copes) and a
# hard RLIMIT_NOFILE below podman's default; on an ordinary host BUILD_OPTS= RUN_OPTS= will do.
BUILD_OPTS=${BUILD_OPTS---isolation chroot}
RUN_OPTS=${RUN_OPTS---runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096}
mkdir -p "$WORK"

standin() { # standin IMAGE PACKAGES...
  local image=$1 root="$WORK/rootfs-${1//[^a-z0-9]/_}"
  shift
  if podman image exists "$image"; then return; fi
  if podman pull -q "$image" >/dev/null 2>&1; then return; fi
  [ "${STANDIN_BASES:-0}" = 1 ] || { echo "cannot pull $image; STANDIN_BASES=1 makes a local stand-in" >&2; exit 1; }
  echo "== stand-in for $image (debootstrap bookworm + $*)"
  rm -rf "$root"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$root.log" 2>&1
  # apt in the chroot, not debootstrap --include: --include leaves npm's dependencies unconfigured
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc"
  chroot "$root" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends ca-certificates $* && apt-get clean" >>"$root.log" 2>&1
  umount "$root/proc"
  rm -rf "$root"/var/lib/apt/lists/*
  : >"$root/etc/resolv.conf"
  printf '[global]\nbreak-system-packages = true\n' >"$root/etc/pip.conf"
  # the host's extra CAs (a TLS-intercepting egress proxy), so npm and pip reach their registries
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >>"$root.log" 2>&1
  fi
  tar -C "$root" -c . | podman import --change 'ENV LANG=C.UTF-8' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - "$image" >/dev/null
}

for image in $(sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile | sort -u); do
  case $image in
    python:*) standin "docker.io/library/$image" python3 python3-pip python3-venv python-is-python3 ;;
    node:*) standin "docker.io/library/$image" nodejs npm ;;
    *) podman pull -q "$image" >/dev/null ;;
  esac
done

echo "== build $TAG"
# --format docker: the OCI image format has no HEALTHCHECK
# shellcheck disable=SC2086
podman build $BUILD_OPTS --format docker -t "$TAG" .

echo "== run on TAMS_PORT=$PORT"
cleanup() { podman rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=320x240:rate=25 -t 6 -c:v libx264 -g 25 \
  -pix_fmt yuv420p -f mpegts "$WORK/smoke.ts"
# shellcheck disable=SC2086
podman run -d --name "$NAME" $RUN_OPTS --network host -e TAMS_PORT="$PORT" -e TAMS_ALLOW_OPEN=true \
  -v "$WORK/smoke.ts:/in/smoke.ts:ro" "$TAG" >/dev/null
for _ in $(seq 60); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/healthz"; echo
test "$(podman exec "$NAME" id -u):$(podman exec "$NAME" id -g)" = 10001:10001
echo "user: $(podman exec "$NAME" id)"
curl -fsS "http://127.0.0.1:$PORT/player" | grep -q 'hls.min.js'
curl -fsS -o "$WORK/hls.min.js" "http://127.0.0.1:$PORT/player/hls.min.js"
grep -q 'Hls' "$WORK/hls.min.js" && echo "player: /player and /player/hls.min.js ($(wc -c <"$WORK/hls.min.js") bytes)"
podman healthcheck run "$NAME" && echo "HEALTHCHECK: healthy"
FLOW=5f0d4b2e-6c1a-4d7e-9a43-2b8f3c1e0a01
podman exec "$NAME" tams-gateway ingest --flow-id "$FLOW" /in/smoke.ts
curl -fsS -o "$WORK/segments.json" "http://127.0.0.1:$PORT/flows/$FLOW/segments"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s, "no segments"; print(f"segments: {len(s)}")' \
  "$WORK/segments.json"
echo "data dir: $(podman exec "$NAME" stat -c '%u:%g %n' /data)"
echo "== $TAG: ok"
