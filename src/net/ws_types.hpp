#pragma once
// Types shared by the WebSocket client (ws_client.hpp) and server helper (ws_server.hpp).

#include "net/headers.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pv::net {

enum class WsErrorKind {
  invalid_argument, // bad URL, bad parameters (from create())
  connect_refused,  // resolve failure, ECONNREFUSED, unreachable: nothing listening there
  tls_error,        // TLS set-up, handshake or verification failure (message says which)
  http_rejected,    // the server answered the upgrade with a non-101 status (http_status)
  timeout,          // see WsError::timeout for which deadline
  closed,           // the connection ended: see close_frame / close_code / local
  read_error,       // a read failed (protocol violation, message too big, ...)
  send_error,       // a write failed
  cancelled,        // cancel() (or close() before the connection was open)
};

const char* to_string(WsErrorKind kind);

enum class WsTimeout {
  none,
  connect, // resolve + TCP + TLS + upgrade did not finish within connect_timeout_ms
  idle,    // no message within the armed idle timeout
  close,   // the close handshake (after draining the send queue) did not finish in time
};

const char* to_string(WsTimeout which);

// Why a connection ended (the terminal on_close report) or why it could not be set up.
struct WsError {
  WsErrorKind kind = WsErrorKind::closed;
  std::string message;
  WsTimeout timeout = WsTimeout::none; // kind == timeout
  // kind == http_rejected: the upgrade response.
  int http_status = 0;
  std::string retry_after;   // Retry-After header value, empty if absent
  std::string response_body; // first bytes of the response body (bounded)
  Headers response_headers;
  // kind == closed
  bool local = false;       // this side asked for it (close() or drop())
  bool close_frame = false; // a WebSocket Close frame was received from the peer
  int close_code = 0;       // the peer's close code; 1006 when the TCP connection ended without one
  std::string close_reason; // the peer's close reason

  // "closed (1000 normal)", "http_rejected (429)", ... with the message.
  std::string describe() const;
};

// A received message. The bytes are only valid during the callback (the buffer is reused).
struct WsMessageView {
  bool binary = true;
  std::span<const uint8_t> data;

  std::string_view text() const {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
  }
};

enum class WsSendStatus {
  queued,     // accepted; it will be written in order
  queue_full, // rejected: max_queued_bytes would be exceeded (the peer is not reading)
  closed,     // rejected: the session is closing or has ended
};

const char* to_string(WsSendStatus status);

// Messages accepted by send() and not yet fully written to the socket (includes the one being
// written). Growth under steady input means the peer (or the network) is not keeping up.
struct WsQueueDepth {
  std::size_t messages = 0;
  std::size_t bytes = 0;
};

struct WsCounters {
  uint64_t messages_received = 0;
  uint64_t bytes_received = 0;
  uint64_t messages_sent = 0; // fully written
  uint64_t bytes_sent = 0;
};

// The result of a successful upgrade.
struct WsOpenInfo {
  int http_status = 101;
  Headers headers; // client: the 101 response headers; server: the request headers
  bool tls = false;
};

} // namespace pv::net

namespace pv::net {

// The HTTP upgrade request as the server helper saw it.
struct WsUpgradeRequest {
  std::string method; // "GET"
  std::string target; // path + query, as sent
  Headers headers;
  bool websocket_upgrade = false; // a well-formed RFC 6455 upgrade request
  std::string remote_address;     // "127.0.0.1:54321"

  std::string_view path() const;
  std::string_view query() const; // raw, without '?'
  std::optional<std::string_view> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

// What the server helper does with an upgrade request.
struct WsUpgradeDecision {
  enum class Action {
    accept, // 101 Switching Protocols, then on_open
    reject, // answer `status` with `headers` and `body`, then close the TCP connection
    ignore, // never answer (the connection is held until the client or the server gives up)
  };
  Action action = Action::accept;
  int status = 400;
  Headers headers; // added to the 101 (accept) or the error response (reject)
  std::string body;
  // accept: false = read nothing (no message, no ping, no Close) until set_reading(true), like
  // a server that queues the client before serving it.
  bool start_reading = true;

  static WsUpgradeDecision accept(Headers headers = {}) {
    return {Action::accept, 101, std::move(headers), {}, true};
  }
  static WsUpgradeDecision reject(int status, Headers headers = {}, std::string body = {}) {
    return {Action::reject, status, std::move(headers), std::move(body), true};
  }
  static WsUpgradeDecision ignore() { return {Action::ignore, 0, {}, {}, true}; }
};

} // namespace pv::net
