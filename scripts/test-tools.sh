#!/usr/bin/env bash
# Installs the system tools the test suite drives (Debian's ffmpeg and chromium) when missing.
# Runs as part of `make test`; tests that need a tool still skip, with the reason, if it cannot be had.
set -uo pipefail
need=()
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
  echo "installing ${need[*]} for the tests ..."
  $SUDO apt-get update -qq >/dev/null 2>&1 && \
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || \
    echo "could not install ${need[*]}; the tests that need it will skip"
else
  echo "no apt-get: install ${need[*]} yourself; the tests that need it will skip"
fi
exit 0
