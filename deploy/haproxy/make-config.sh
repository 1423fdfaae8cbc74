#!/usr/bin/env bash
# Writes an HAProxy (2.6+) configuration that puts a pool of PersonaPlex servers behind one address.
# See deploy/haproxy/README.md and docs/personaplex.md ("A pool of servers").
#
# The real server serves ONE session per GPU process (a global lock; others get their 101 and then
# nothing), so the pool:
#   * sends each /api/chat WebSocket upgrade to a server with no session (maxconn 1 per server,
#     least connections); everything else (the web UI, /api/chat without an upgrade) goes to any
#     live server without taking a session slot;
#   * sends an agent back to the server of its previous session (by its X-Session-Key header) when
#     that server is up and idle and nobody is waiting; otherwise to any idle server at once, so
#     stickiness never makes an agent wait or fail;
#   * when every live server is busy, either queues the upgrade until one frees up (mode "queue",
#     up to PERSONAPLEX_POOL_QUEUE_TIMEOUT_S, then 503) or refuses it at once with 429 +
#     Retry-After (mode "refuse");
#   * treats an upgrade whose X-Session-Key already has a live session as that agent's replacement
#     session (the duplex client opens one before the model's context window runs out): it is never
#     refused, and it waits ahead of other agents, so it gets the agent's own server when the old
#     session closes if no other server frees up first;
#   * health-checks every server with GET / (the server's web UI) and stops routing to dead ones;
#   * answers GET /pool/status itself (JSON; 503 when no server is up).
#
# Usage: PERSONAPLEX_POOL=gpu1:8998,gpu2:8998 deploy/haproxy/make-config.sh > haproxy.cfg
#        haproxy -c -f haproxy.cfg && haproxy -db -f haproxy.cfg
# Settings (environment):
#   PERSONAPLEX_POOL                  comma list of host:port (required), e.g. gpu1:8998,gpu2:8998
#   PERSONAPLEX_POOL_BIND             listen address (default *:9000)
#   PERSONAPLEX_POOL_MODE             queue | refuse (default queue)
#   PERSONAPLEX_POOL_QUEUE_TIMEOUT_S  how long a queued upgrade waits, 1..500 (default 120)
#   PERSONAPLEX_POOL_RETRY_AFTER_S    Retry-After sent with a refusal (default 1)
#   PERSONAPLEX_POOL_STICKY_TTL_S     how long an agent's last server is remembered (default 1800)
#   PERSONAPLEX_POOL_CHECK_MS         health-check interval (default 2000)
#   PERSONAPLEX_BACKEND_TLS           none | verify | insecure: TLS to the servers (default none)
#   PERSONAPLEX_BACKEND_CA_FILE       CA bundle for "verify" (e.g. the servers' mkcert roots)
#   PERSONAPLEX_POOL_TLS_CERT         PEM with certificate + key: serve wss/https to the agents
set -euo pipefail

pool="${PERSONAPLEX_POOL:-}"
bind="${PERSONAPLEX_POOL_BIND:-*:9000}"
mode="${PERSONAPLEX_POOL_MODE:-queue}"
queue_s="${PERSONAPLEX_POOL_QUEUE_TIMEOUT_S:-120}"
retry_after_s="${PERSONAPLEX_POOL_RETRY_AFTER_S:-1}"
sticky_s="${PERSONAPLEX_POOL_STICKY_TTL_S:-1800}"
check_ms="${PERSONAPLEX_POOL_CHECK_MS:-2000}"
backend_tls="${PERSONAPLEX_BACKEND_TLS:-none}"
backend_ca="${PERSONAPLEX_BACKEND_CA_FILE:-}"
front_cert="${PERSONAPLEX_POOL_TLS_CERT:-}"

fail() {
  echo "make-config: $*" >&2
  exit 2
}
positive() { # name value max
  if ! [[ "$2" =~ ^[0-9]{1,9}$ ]] || [ "$((10#$2))" -lt 1 ] || [ "$((10#$2))" -gt "$3" ]; then
    fail "$1='$2'; accepted: an integer from 1 to $3"
  fi
}

[ -n "$pool" ] || fail "PERSONAPLEX_POOL is empty; accepted: a comma list of host:port, e.g. gpu1:8998,gpu2:8998"
case "$mode" in queue | refuse) ;; *) fail "PERSONAPLEX_POOL_MODE='$mode'; accepted: queue, refuse" ;; esac
# Queued requests are ordered by a timestamp that HAProxy keeps for 524 s only.
positive PERSONAPLEX_POOL_QUEUE_TIMEOUT_S "$queue_s" 500
positive PERSONAPLEX_POOL_RETRY_AFTER_S "$retry_after_s" 3600
positive PERSONAPLEX_POOL_STICKY_TTL_S "$sticky_s" 2000000
positive PERSONAPLEX_POOL_CHECK_MS "$check_ms" 600000
queue_s=$((10#$queue_s)) retry_after_s=$((10#$retry_after_s))
sticky_s=$((10#$sticky_s)) check_ms=$((10#$check_ms))
[[ "$bind" =~ ^[^[:space:]]+:[0-9]+$ ]] || fail "PERSONAPLEX_POOL_BIND='$bind'; accepted: address:port, e.g. *:9000"
case "$backend_tls" in
  none | insecure) ;;
  verify)
    [ -n "$backend_ca" ] || fail "PERSONAPLEX_BACKEND_TLS=verify needs PERSONAPLEX_BACKEND_CA_FILE"
    [ -r "$backend_ca" ] || fail "PERSONAPLEX_BACKEND_CA_FILE '$backend_ca' is not a readable file"
    ;;
  *) fail "PERSONAPLEX_BACKEND_TLS='$backend_tls'; accepted: none, verify, insecure" ;;
esac
[ -z "$front_cert" ] || [ -r "$front_cert" ] ||
  fail "PERSONAPLEX_POOL_TLS_CERT '$front_cert' is not a readable file (PEM: certificate + key)"

# The servers: "host port" per line, validated.
servers=()
IFS=',' read -r -a entries <<<"$pool"
for entry in "${entries[@]}"; do
  s="${entry//[[:space:]]/}"
  [ -n "$s" ] || continue
  s="${s#http://}"
  s="${s#https://}"
  s="${s#ws://}"
  s="${s#wss://}"
  s="${s%%/*}"
  [[ "$s" =~ ^([A-Za-z0-9._-]+):([0-9]{1,5})$ ]] ||
    fail "PERSONAPLEX_POOL entry '$entry' is not host:port (for an IPv6 server use a host name)"
  port="${BASH_REMATCH[2]}"
  if [ "$((10#$port))" -lt 1 ] || [ "$((10#$port))" -gt 65535 ]; then
    fail "PERSONAPLEX_POOL entry '$entry': port out of range"
  fi
  for seen in "${servers[@]+"${servers[@]}"}"; do
    [ "$seen" != "$s" ] || fail "PERSONAPLEX_POOL lists '$s' twice (one entry per server process)"
  done
  servers+=("$s")
done
[ "${#servers[@]}" -gt 0 ] || fail "PERSONAPLEX_POOL has no servers"

# TLS options of one server line (host name checked when the entry is a name, not an address).
server_tls() {
  local host="${1%:*}"
  case "$backend_tls" in
    none) ;;
    insecure) printf ' ssl verify none' ;;
    verify)
      printf ' ssl verify required ca-file %s' "$backend_ca"
      [[ "$host" =~ ^[0-9.]+$ ]] || printf ' verifyhost %s' "$host"
      ;;
  esac
}

bind_tls=""
[ -z "$front_cert" ] || bind_tls=" ssl crt $front_cert"
# Retry-After of "no server is up": about the time a restarted server needs to pass its checks.
down_retry_s=$(((2 * check_ms + 999) / 1000))
count="${#servers[@]}"

cat <<CFG
# Generated by deploy/haproxy/make-config.sh (mode ${mode}). PersonaPlex pool: ${pool}
global
    log stderr format raw local0 info
    maxconn 4096
    # One thread: a handful of audio streams is nothing for it, and every routing decision then
    # sees the previous one's session counts (no two upgrades can take the same idle server).
    nbthread 1

defaults
    mode http
    log global
    option httplog
    option redispatch
    retries 2
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    # A PersonaPlex session is a long WebSocket; no message for a while is normal before the
    # handshake (prompt phase). Agents keep sending audio once it runs.
    timeout tunnel 2h
    timeout client-fin 5s
    timeout server-fin 5s
    timeout queue ${queue_s}s

frontend personaplex_pool
    bind ${bind}${bind_tls}
    acl is_session path /api/chat
    acl is_session_upgrade hdr(upgrade) -i websocket
    acl has_key req.hdr_cnt(x-session-key) gt 0
    acl no_server_up nbsrv(personaplex_sessions) lt 1
    http-request return status 200 content-type application/json lf-string '{"mode":"${mode}","servers":${count},"up":%[nbsrv(personaplex_sessions)],"queued":%[queue(personaplex_sessions)],"members":[$(
  i=0
  for s in "${servers[@]}"; do
    i=$((i + 1))
    [ "$i" -eq 1 ] || printf ','
    printf '{"name":"pp%d","address":"%s","up":%%[srv_is_up(personaplex_sessions/pp%d)],"sessions":%%[srv_conn(personaplex_sessions/pp%d)]}' "$i" "$s" "$i" "$i"
  done
)]}' if { path /pool/status } !no_server_up
    http-request return status 503 content-type application/json lf-string '{"mode":"${mode}","servers":${count},"up":0,"queued":%[queue(personaplex_sessions)]}' if { path /pool/status } no_server_up
    # Count the agent's live sessions: a second one with the same key is its replacement session.
    http-request track-sc0 req.hdr(x-session-key) table personaplex_sessions if is_session is_session_upgrade has_key
    acl is_replacement sc0_conn_cur(personaplex_sessions) gt 1
    http-request return status 503 content-type text/plain hdr Retry-After ${down_retry_s} string "no PersonaPlex server is up" if is_session is_session_upgrade no_server_up
CFG
if [ "$mode" = refuse ]; then
  echo "    # The pool has room if any server is up with no session and nobody queued for it."
  i=0
  for s in "${servers[@]}"; do
    i=$((i + 1))
    printf '    http-request set-var(txn.room) bool(true) if is_session is_session_upgrade { srv_is_up(personaplex_sessions/pp%d) } { srv_conn(personaplex_sessions/pp%d) eq 0 } { srv_queue(personaplex_sessions/pp%d) eq 0 }\n' "$i" "$i" "$i"
  done
  cat <<CFG
    # Every live server has its session: refuse at once (a replacement session still waits).
    http-request return status 429 content-type text/plain hdr Retry-After ${retry_after_s} string "all PersonaPlex servers are busy" if is_session is_session_upgrade !is_replacement !{ var(txn.room) -m bool }
CFG
fi
cat <<CFG
    use_backend personaplex_sessions if is_session is_session_upgrade
    default_backend personaplex_web

backend personaplex_sessions
    balance leastconn
    # Drop a queued upgrade whose client has gone, when HAProxy notices. (2.6 often notices only
    # once the server has answered: the server then sees an upgrade that closes at once.)
    option abortonclose
    # Key -> server of the agent's last session (written when the connection to it succeeds),
    # and the agent's live sessions (conn_cur, tracked by the frontend).
    stick-table type string len 200 size 100k expire ${sticky_s}s store conn_cur
    stick store-request req.hdr(x-session-key) if { req.hdr_cnt(x-session-key) gt 0 }
    http-request set-var(txn.last_server) req.hdr(x-session-key),table_server_id(personaplex_sessions) if { req.hdr_cnt(x-session-key) gt 0 }
    # A replacement session waits ahead of other agents' first sessions.
    http-request set-priority-class int(-1) if { sc0_conn_cur(personaplex_sessions) gt 1 }
    option httpchk GET /
    http-check expect status 200
    default-server maxconn 1 check inter ${check_ms} fall 2 rise 2
CFG
i=0
for s in "${servers[@]}"; do
  i=$((i + 1))
  printf '    use-server pp%d if { var(txn.last_server) -m int %d } { srv_conn(pp%d) eq 0 } { srv_queue(pp%d) eq 0 } { queue(personaplex_sessions) eq 0 }\n' \
    "$i" "$i" "$i" "$i"
done
i=0
for s in "${servers[@]}"; do
  i=$((i + 1))
  printf '    server pp%d %s id %d%s\n' "$i" "$s" "$i" "$(server_tls "$s")"
done
cat <<CFG

# The web UI and anything that is not a session: any live server, no session slot taken.
backend personaplex_web
    balance roundrobin
CFG
i=0
for s in "${servers[@]}"; do
  i=$((i + 1))
  printf '    server pp%d %s id %d track personaplex_sessions/pp%d%s\n' "$i" "$s" "$i" "$i" "$(server_tls "$s")"
done
