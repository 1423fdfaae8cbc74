#!/usr/bin/env bash
# Installs the Debian 12 packages podium-voices needs to build, test and run. Idempotent: only
# missing packages are installed, non-interactively. Uses sudo when not run as root.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake make pkg-config
  # networking: Boost.Beast/Asio, OpenSSL, libcurl; test servers: cpp-httplib
  libboost-dev libboost-system-dev libssl-dev openssl ca-certificates libcurl4-openssl-dev
  libcpp-httplib-dev
  # utilities
  nlohmann-json3-dev libexpected-dev libspdlog-dev libcli11-dev
  # audio: codec, container, resamplers, WebRTC VAD/APM
  libopus-dev libogg-dev libspeexdsp-dev libsoxr-dev libwebrtc-audio-processing-dev
  # embedded speech: pocketsphinx ASR + model, flite TTS
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us flite1-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # interop checks (opusinfo/opusdec) and the PersonaPlex pool (HAProxy) integration test
  opus-tools haproxy
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
