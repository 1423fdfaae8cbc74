#pragma once
// WebSocket server helper (Boost.Beast, async) for tests and the PersonaPlex simulator. Generic:
// it knows nothing about PersonaPlex, but gives a handler enough control to mimic a real
// server's quirks: inspect the upgrade request (target, query, headers) and accept it (101),
// reject it with any HTTP status and headers (e.g. 429 + Retry-After), or never answer; then,
// per connection, send, receive, ping, close with a code, drop the TCP connection without a Close
// frame, or stall (stop reading).
//
// Threading: the acceptor and each connection run on their own strands of the io_context the
// caller provides and runs. Handlers for one connection run on that connection's strand, one at
// a time and in order (on_upgrade, on_open, on_message/on_pong..., on_close exactly once);
// different connections may run concurrently if the io_context has several threads. Every
// WsServerConnection method is thread-safe and non-blocking.
//
// Lifetime: stop() (also run by the destructor) closes the listener and every connection, and
// after it returns no handler runs any more (it waits for a handler running on another thread).
// Destroy the server before the io_context it runs on.

#include "net/tls.hpp"
#include "net/ws_types.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace pv::net {

namespace detail {
class WsSessionBase;
} // namespace detail

struct WsServerParams {
  std::string address = "127.0.0.1";
  uint16_t port = 0;                // 0 = ephemeral; see WsServer::port()
  TlsServerParams tls;              // both files set = wss
  int handshake_timeout_ms = 10000; // TLS + upgrade request, per connection
  int close_timeout_ms = 3000;
  std::size_t max_message_bytes = 16u << 20;
  std::size_t max_queued_bytes = 0; // 0 = unbounded
  // Request line + header fields of the upgrade request (Beast's default); a request that is
  // larger, or cannot be parsed, is answered with 400.
  std::size_t max_request_header_bytes = 8192;
};

// One accepted connection. Handlers receive it as a shared_ptr; keeping it does not keep the
// connection open (methods on a finished connection do nothing).
class WsServerConnection {
public:
  explicit WsServerConnection(uint64_t id) : id_(id) {}

  uint64_t id() const { return id_; }
  // The upgrade request; set before on_upgrade/on_open run, then never changed.
  const WsUpgradeRequest& request() const { return request_; }

  WsSendStatus send_binary(std::vector<uint8_t> message);
  WsSendStatus send_binary(std::span<const uint8_t> message);
  WsSendStatus send_text(std::string_view message);

  void close(uint16_t code = 1000, std::string reason = {}); // drains the queue first
  void drop();                                               // closes TCP without a Close frame
  // false = stall: no further read is issued (called from this connection's on_open, nothing
  // is read at all; later, at most the message being read completes). While stalled, pings and
  // Close frames are not answered.
  void set_reading(bool reading);
  void ping(std::string payload = {}); // one at a time; the pong comes to on_pong
  void set_idle_timeout(std::chrono::milliseconds timeout);

  WsQueueDepth queue_depth() const;
  WsCounters counters() const;

private:
  friend struct WsServerAccess;
  const uint64_t id_;
  WsUpgradeRequest request_;
  std::weak_ptr<detail::WsSessionBase> session_;
};

using WsConnectionPtr = std::shared_ptr<WsServerConnection>;

struct WsServerHandlers {
  // Default: accept a proper upgrade request, answer 400 to anything else.
  std::function<WsUpgradeDecision(const WsUpgradeRequest&)> on_upgrade;
  std::function<void(const WsConnectionPtr&)> on_open;
  std::function<void(const WsConnectionPtr&, const WsMessageView&)> on_message;
  std::function<void(const WsConnectionPtr&, std::string_view payload)> on_pong;
  // Terminal, once per accepted TCP connection (also for rejected/ignored requests; then the
  // connection's request() is empty if the request was never read).
  std::function<void(const WsConnectionPtr&, const WsError&)> on_close;
};

class WsServer {
public:
  // Binds and listens synchronously (so port() is known on return), then accepts in the
  // background. Errors: invalid_argument (bad address, TLS files: message names the file) or
  // connect_refused (cannot bind, e.g. the port is in use).
  static tl::expected<std::unique_ptr<WsServer>, WsError>
  create(boost::asio::io_context& io, WsServerParams params, WsServerHandlers handlers);

  ~WsServer();
  WsServer(const WsServer&) = delete;
  WsServer& operator=(const WsServer&) = delete;

  uint16_t port() const;
  bool tls() const;
  // "ws://127.0.0.1:<port><target>" (wss:// with TLS).
  std::string url(std::string_view target = "/") const;

  std::size_t connection_count() const; // connections not yet finished
  uint64_t accepted_count() const;      // TCP connections accepted so far

  // Idempotent. See the header comment.
  void stop();

  struct Impl; // implementation detail (ws_server.cpp)

private:
  explicit WsServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

} // namespace pv::net
