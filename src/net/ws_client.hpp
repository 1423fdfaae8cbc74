#pragma once
// WebSocket client (Boost.Beast, async) for ws:// and wss:// URLs.
//
// Model (as in Beast's async client examples): one session per connection, running on its own
// strand of an io_context the caller provides and runs (e.g. net::IoThread). The WsClient object
// is the caller's handle to that session.
//
// Threading:
//  * Every method is thread-safe and non-blocking: it posts to the session strand and returns.
//  * Handlers run on the session strand, one at a time, in order: on_open (if the upgrade
//    succeeds), then on_message for each complete message, then on_close exactly once. Handlers
//    must not block (they hold up this connection's I/O).
//  * After ~WsClient (or detach_handlers()) returns, no handler runs any more; if a handler is
//    running on another thread at that moment, the destructor waits for it to return. A handler
//    may destroy its own WsClient.
//
// Lifetime: destroying the WsClient cancels the session (the TCP connection is closed at once,
// no Close frame); the session itself lives on until its pending operations have completed, which
// is prompt. For a graceful end call close() and wait for on_close before destroying. Destroy
// clients before the io_context they run on. A moved-from WsClient may only be destroyed or
// assigned to.
//
// Errors: create() fails with invalid_argument (bad URL/timeouts) or tls_error (CA file, named in
// the message); everything after connect() is reported once, through on_close (see WsErrorKind).
// For PersonaPlex: a bad query closes TCP right after the 101 without a Close frame, which is
// reported as kind closed with close_frame == false and close_code 1006.
//
// Behaviour:
//  * connect(): resolve + TCP + TLS + HTTP upgrade, all bounded by connect_timeout_ms. No
//    permessage-deflate is offered. Extra headers (e.g. X-Session-Key) go on the upgrade request.
//  * Reads are always outstanding while open, so pings are answered (inside Beast's read). There
//    is no ping-based liveness check: a PersonaPlex server that queues a client does not answer
//    its pings, which must not kill the connection. Use set_idle_timeout() for "no message for N
//    ms" instead.
//  * send_*(): messages are queued and written one at a time, in order. queue_depth() lets the
//    caller see a peer that stops reading (back-pressure); with max_queued_bytes set, send_*()
//    rejects messages beyond that bound instead of queueing them.
//  * close(): drains the send queue, sends a Close frame, waits for the peer's Close and shuts the
//    TCP connection down, all bounded by close_timeout_ms. cancel(): closes the socket at once.

#include "net/headers.hpp"
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
class WsClientObserver;
} // namespace detail

struct WsClientParams {
  std::string url; // ws://host[:port]/target?query or wss://...
  Headers headers; // extra upgrade request headers
  std::string user_agent = "podium-voices";
  int connect_timeout_ms = 10000;            // resolve + TCP + TLS + upgrade
  int close_timeout_ms = 3000;               // queue drain + close handshake
  std::size_t max_message_bytes = 16u << 20; // larger incoming messages end the session
  std::size_t max_queued_bytes = 0;          // 0 = unbounded
  TlsClientParams tls;                       // wss:// only
  SslContextPtr tls_context; // optional, to share one client context; else built from `tls`
};

struct WsClientHandlers {
  std::function<void(const WsOpenInfo&)> on_open;
  std::function<void(const WsMessageView&)> on_message;
  std::function<void(const WsError&)> on_close; // terminal, exactly once (unless detached)
};

class WsClient {
public:
  // Validates the parameters (URL, TLS context) without any I/O. Nothing starts before connect().
  static tl::expected<WsClient, WsError> create(boost::asio::io_context& io, WsClientParams params,
                                                WsClientHandlers handlers);

  WsClient(WsClient&&) noexcept;
  WsClient& operator=(WsClient&&) noexcept;
  ~WsClient();

  // Starts connecting (once; later calls do nothing).
  void connect();

  WsSendStatus send_binary(std::vector<uint8_t> message);
  WsSendStatus send_binary(std::span<const uint8_t> message); // copies into a pooled buffer
  WsSendStatus send_text(std::string_view message);

  // An empty vector, with capacity recycled from messages already written when available: fill
  // it and pass it to send_binary() to avoid an allocation per message.
  std::vector<uint8_t> take_buffer();

  // Ends the session with WsErrorKind::timeout (WsTimeout::idle) when no message arrives for
  // `timeout`, counted from this call and then from each message. Zero disarms.
  void set_idle_timeout(std::chrono::milliseconds timeout);

  // Graceful close (see above). Before the connection is open it acts as cancel().
  void close(uint16_t code = 1000, std::string reason = {});

  // Abort: closes the TCP connection at once; on_close reports WsErrorKind::cancelled.
  void cancel();

  // Stops all handler calls; returns after any running handler has returned (see above).
  void detach_handlers();

  WsQueueDepth queue_depth() const;
  WsCounters counters() const;

private:
  WsClient(std::shared_ptr<detail::WsSessionBase> session,
           std::shared_ptr<detail::WsClientObserver> observer);
  void release();

  std::shared_ptr<detail::WsSessionBase> session_;
  std::shared_ptr<detail::WsClientObserver> observer_;
};

} // namespace pv::net
