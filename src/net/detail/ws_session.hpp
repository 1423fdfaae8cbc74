#pragma once
// The WebSocket session shared by the client (ws_client.cpp) and the server helper
// (ws_server.cpp). The Beast code lives in ws_session.cpp only (it is slow to compile); this
// header is Beast-free. Internal to src/net.
//
// A session runs on its own strand. Its public methods are thread-safe (they post to the strand)
// and never block. send() is the exception to "post per call": it appends to a mutex-guarded
// queue whose storage is reused and posts one drain only when that queue was empty, with handler
// memory owned by the session, so a steady sender (one message per 20 ms frame from the room
// clock thread) allocates nothing. Observer callbacks run on the strand; on_close is the last one,
// exactly once. Ownership: the owner (WsClient, or the server's connection table) holds a
// shared_ptr, and so does every pending operation (shared_from_this). There is no self-reference:
// if the io_context is stopped and destroyed first, the abandoned handlers release the session (no
// leak).

#include "net/tls.hpp"
#include "net/url.hpp"
#include "net/ws_types.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace pv::net::detail {

class WsObserver {
public:
  virtual ~WsObserver() = default;
  // Server role only: decides how to answer the upgrade request.
  virtual WsUpgradeDecision on_upgrade_request(const WsUpgradeRequest& request) {
    return request.websocket_upgrade ? WsUpgradeDecision::accept() : WsUpgradeDecision::reject(400);
  }
  virtual void on_open(const WsOpenInfo& info) = 0;
  virtual void on_message(const WsMessageView& message) = 0;
  virtual void on_pong(std::string_view /*payload*/) {}
  virtual void on_close(const WsError& reason) = 0;
};

struct WsClientSetup {
  Url url;
  Headers headers;
  std::string user_agent;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds close_timeout{3000};
  std::size_t max_message_bytes = 16u << 20;
  std::size_t max_queued_bytes = 0;
  SslContextPtr ssl; // null for ws://
  TlsClientParams tls;
};

struct WsServerSetup {
  std::chrono::milliseconds handshake_timeout{10000}; // TLS + upgrade request
  std::chrono::milliseconds close_timeout{3000};
  std::size_t max_request_header_bytes = 8192;
  std::size_t max_message_bytes = 16u << 20;
  std::size_t max_queued_bytes = 0;
  SslContextPtr ssl; // null for plain TCP
};

struct OutMessage {
  std::vector<uint8_t> bytes;
  bool binary = true;
};

class WsSessionBase {
public:
  virtual ~WsSessionBase() = default;

  // All of these are thread-safe and return at once.
  virtual void start() = 0;
  virtual void close(uint16_t code, std::string reason) = 0;
  virtual void cancel() = 0;
  virtual void drop() = 0; // end the TCP connection without a Close frame
  virtual void set_reading(bool enabled) = 0;
  virtual void ping(std::string payload) = 0;
  virtual void set_idle_timeout(std::chrono::milliseconds timeout) = 0;

  WsSendStatus send(std::vector<uint8_t>&& bytes, bool binary);
  WsQueueDepth queue_depth() const;
  WsCounters counters() const;
  std::vector<uint8_t> take_buffer();

protected:
  explicit WsSessionBase(std::size_t max_queued_bytes);
  // Posts one call of take_sends() on the strand (send() calls it when its queue was empty).
  virtual void schedule_drain() = 0;
  // On the strand: moves the messages send() queued, in order, to the end of `to`.
  template <class Queue>
  void take_sends(Queue& to) {
    std::lock_guard lock(send_mutex_);
    for (auto& message : incoming_) {
      to.push_back(std::move(message));
    }
    incoming_.clear(); // keeps its capacity
    drain_posted_ = false;
  }
  void recycle(std::vector<uint8_t>&& buffer);
  void message_written(std::size_t bytes); // on the strand, after a complete write
  void message_dropped(std::size_t bytes); // on the strand, when the session ended first

  std::atomic<bool> accepting_sends_{true};
  std::atomic<std::size_t> queued_messages_{0};
  std::atomic<std::size_t> queued_bytes_{0};
  std::atomic<uint64_t> messages_received_{0};
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<uint64_t> messages_sent_{0};
  std::atomic<uint64_t> bytes_sent_{0};

private:
  const std::size_t max_queued_bytes_;
  std::mutex send_mutex_; // guards incoming_ and drain_posted_; never held across I/O
  std::vector<OutMessage> incoming_;
  bool drain_posted_ = false;
  std::mutex pool_mutex_; // guards pool_ only; never held across I/O
  std::vector<std::vector<uint8_t>> pool_;
};

std::shared_ptr<WsSessionBase> make_client_session(boost::asio::io_context& io, WsClientSetup setup,
                                                   std::shared_ptr<WsObserver> observer);

// `socket` must have been accepted onto a strand (its executor is the session's strand).
std::shared_ptr<WsSessionBase> make_server_session(boost::asio::ip::tcp::socket socket,
                                                   WsServerSetup setup,
                                                   std::shared_ptr<WsObserver> observer);

} // namespace pv::net::detail
