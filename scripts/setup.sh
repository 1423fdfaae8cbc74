#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running agent:
#   1. installs the Debian packages the project needs (only the missing ones),
#   2. configures and builds (Release) into build/,
#   3. synthesizes a scripted user (several utterances, one of them interrupting the agent),
#   4. runs the main job: the agent in the mock room with the embedded offline providers
#      (pocketsphinx ASR, offline responder, flite TTS), real-time paced, and prints the
#      conversation. Output: out/agent.wav, out/timeline.json.
# Extra arguments go to podium-voices (e.g. --fast, --backend loopback, --env-file FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DPV_BUILD_TESTS=OFF -DPV_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target podium-voices personaplex-sim

mkdir -p out
"$BUILD_DIR/apps/podium-voices" make-user-script --out out/user_script.wav
echo
echo "Running the agent in the mock room (scripted user: out/user_script.wav) ..."
exec "$BUILD_DIR/apps/podium-voices" --input out/user_script.wav --output-dir out "$@"
