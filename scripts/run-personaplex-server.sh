#!/usr/bin/env bash
# Starts the real PersonaPlex server (NVIDIA/personaplex, `python -m moshi.server`) on a GPU host.
#
# Needs: a PersonaPlex checkout with its Python environment (PERSONAPLEX_DIR), a Hugging Face
# token whose account accepted the nvidia/personaplex-7b-v1 licence (HF_TOKEN, or
# HUGGINGFACE_API_KEY). Both may come from the environment or from the repository's .env.local
# (or ENV_FILE); the environment wins. Nothing here is machine-specific.
#
# Usage: scripts/run-personaplex-server.sh [--port N] [--host H] [--ssl-dir DIR] [--cpu-offload]
#                                          [-- extra moshi.server arguments]
# Settings (environment or .env.local):
#   PERSONAPLEX_DIR   the checkout (required)        PERSONAPLEX_PYTHON  interpreter (default:
#   HF_TOKEN          token (required; or              $PERSONAPLEX_DIR/.venv/bin/python if present,
#                     HUGGINGFACE_API_KEY)             else python3)
#   HF_CACHE/HF_HOME  Hugging Face cache dir         PERSONAPLEX_PORT    port (default 8998)
#   SSL_DIR           cert.pem/key.pem dir (default: a temporary dir, removed on exit; the server
#                     generates a certificate into it with mkcert)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
env_file="${ENV_FILE:-$repo/.env.local}"

# Reads KEY=VALUE lines without executing the file: CR stripped, `export ` and quotes handled.
# Only the variables this script uses are taken, and never over the process environment.
load_env_file() {
  local file="$1" line key value
  [ -f "$file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    line="${line#"${line%%[![:space:]]*}"}"
    [ -z "$line" ] && continue
    [[ "$line" == \#* ]] && continue
    line="${line#export }"
    [[ "$line" == *=* ]] || continue
    key="${line%%=*}"
    key="${key%"${key##*[![:space:]]}"}"
    value="${line#*=}"
    value="${value#"${value%%[![:space:]]*}"}"
    value="${value%"${value##*[![:space:]]}"}"
    if [[ "$value" == \"*\" && ${#value} -ge 2 ]]; then
      value="${value:1:${#value}-2}"
    elif [[ "$value" == \'*\' && ${#value} -ge 2 ]]; then
      value="${value:1:${#value}-2}"
    else
      value="${value%% #*}"
    fi
    case "$key" in
      HF_TOKEN|HUGGINGFACE_API_KEY|HF_CACHE|HF_HOME|PERSONAPLEX_DIR|PERSONAPLEX_PYTHON|PERSONAPLEX_PORT|SSL_DIR)
        if [ -z "${!key:-}" ]; then
          printf -v "$key" '%s' "$value"
          export "${key?}"
        fi
        ;;
    esac
  done < "$file"
}

load_env_file "$env_file"

port="${PERSONAPLEX_PORT:-8998}"
host="0.0.0.0"
ssl_dir="${SSL_DIR:-}"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --host) host="${2:?--host needs a value}"; shift 2 ;;
    --ssl-dir) ssl_dir="${2:?--ssl-dir needs a value}"; shift 2 ;;
    --cpu-offload) extra+=(--cpu-offload); shift ;;
    --) shift; extra+=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run-personaplex-server: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  echo "run-personaplex-server: port '$port' is not a number from 1 to 65535" >&2
  exit 2
fi

token="${HF_TOKEN:-${HUGGINGFACE_API_KEY:-}}"
token="${token%$'\r'}"
if [ -z "$token" ]; then
  echo "run-personaplex-server: HF_TOKEN is not set (environment or $env_file)." >&2
  echo "  Create a token at https://huggingface.co/settings/tokens with an account that accepted" >&2
  echo "  the nvidia/personaplex-7b-v1 licence, then set HF_TOKEN (or HUGGINGFACE_API_KEY)." >&2
  exit 1
fi
if [ -z "${PERSONAPLEX_DIR:-}" ]; then
  echo "run-personaplex-server: PERSONAPLEX_DIR is not set: point it at a checkout of" >&2
  echo "  https://github.com/NVIDIA/personaplex (git clone, then install its Python package)." >&2
  exit 1
fi
if [ ! -d "$PERSONAPLEX_DIR" ]; then
  echo "run-personaplex-server: PERSONAPLEX_DIR='$PERSONAPLEX_DIR' does not exist: clone" >&2
  echo "  https://github.com/NVIDIA/personaplex there (or fix the path)." >&2
  exit 1
fi

python="${PERSONAPLEX_PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$PERSONAPLEX_DIR/.venv/bin/python" ]; then
    python="$PERSONAPLEX_DIR/.venv/bin/python"
  else
    python="python3"
  fi
fi
if ! command -v "$python" >/dev/null 2>&1; then
  echo "run-personaplex-server: Python interpreter '$python' not found (set PERSONAPLEX_PYTHON)" >&2
  exit 1
fi

export HF_TOKEN="$token"
cache="${HF_CACHE:-${HF_HOME:-}}"
if [ -n "$cache" ]; then
  mkdir -p "$cache/hub"
  export HF_HOME="$cache"
  export HUGGINGFACE_HUB_CACHE="$cache/hub"
fi

remove_ssl_dir=""
if [ -z "$ssl_dir" ]; then
  ssl_dir="$(mktemp -d "${TMPDIR:-/tmp}/personaplex-ssl.XXXXXX")"
  remove_ssl_dir="$ssl_dir"
fi

child=""
cleanup() {
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [ -n "$remove_ssl_dir" ]; then
    rm -rf "$remove_ssl_dir"
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

echo "run-personaplex-server: starting moshi.server on port $port (ssl dir $ssl_dir, cwd $PERSONAPLEX_DIR)"
cd "$PERSONAPLEX_DIR"
"$python" -m moshi.server --ssl "$ssl_dir" --host "$host" --port "$port" ${extra[@]+"${extra[@]}"} &
child=$!
set +e
wait "$child"
status=$?
set -e
child=""
exit "$status"
