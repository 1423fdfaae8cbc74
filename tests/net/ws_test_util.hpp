#pragma once
// Shared helpers for the WebSocket tests: thread-safe recorders for client and server events.

#include "net/ws_client.hpp"
#include "net/ws_server.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace pv::net::testing {

constexpr std::chrono::seconds kWait{15}; // generous bound: only hit when something is broken

struct ReceivedMessage {
  bool binary = true;
  std::vector<uint8_t> bytes;
  std::string text() const { return {bytes.begin(), bytes.end()}; }
};

// Records everything a WsClient reports.
class ClientRecorder {
public:
  WsClientHandlers handlers() {
    WsClientHandlers h;
    h.on_open = [this](const WsOpenInfo& info) {
      std::lock_guard lock(mutex_);
      ++opens_;
      open_info_ = info;
      events_.push_back("open");
      cv_.notify_all();
    };
    h.on_message = [this](const WsMessageView& message) {
      std::function<void(const WsMessageView&)> hook;
      {
        std::lock_guard lock(mutex_);
        messages_.push_back({message.binary, {message.data.begin(), message.data.end()}});
        events_.push_back("message");
        hook = on_message_hook;
      }
      cv_.notify_all();
      if (hook) {
        hook(message);
      }
    };
    h.on_close = [this](const WsError& error) {
      std::lock_guard lock(mutex_);
      ++closes_;
      close_ = error;
      events_.push_back("close");
      cv_.notify_all();
    };
    return h;
  }

  bool wait_open() {
    return wait([&] { return opens_ > 0 || closes_ > 0; }) && opens_ > 0;
  }
  bool wait_close(std::chrono::milliseconds bound = kWait) {
    return wait([&] { return closes_ > 0; }, bound);
  }
  bool wait_messages(std::size_t count) {
    return wait([&] { return messages_.size() >= count; });
  }

  // `pred` runs with the recorder locked: it must not call the accessors below.
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds bound = kWait) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, bound, pred);
  }

  int opens() const {
    std::lock_guard lock(mutex_);
    return opens_;
  }
  int closes() const {
    std::lock_guard lock(mutex_);
    return closes_;
  }
  WsError close_reason() const {
    std::lock_guard lock(mutex_);
    return close_.value_or(WsError{});
  }
  WsOpenInfo open_info() const {
    std::lock_guard lock(mutex_);
    return open_info_;
  }
  std::vector<ReceivedMessage> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

  // Set before connecting; runs on the client strand after the message was recorded.
  std::function<void(const WsMessageView&)> on_message_hook;

private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  int opens_ = 0;
  int closes_ = 0;
  WsOpenInfo open_info_;
  std::optional<WsError> close_;
  std::vector<ReceivedMessage> messages_;
  std::vector<std::string> events_;
};

// Records what a WsServer sees, with optional behaviour hooks.
class ServerRecorder {
public:
  std::function<WsUpgradeDecision(const WsUpgradeRequest&)> decide;
  std::function<void(const WsConnectionPtr&)> on_open_hook;
  std::function<void(const WsConnectionPtr&, const WsMessageView&)> on_message_hook;

  WsServerHandlers handlers() {
    WsServerHandlers h;
    h.on_upgrade = [this](const WsUpgradeRequest& request) {
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
        cv_.notify_all();
      }
      return decide ? decide(request)
                    : (request.websocket_upgrade ? WsUpgradeDecision::accept()
                                                 : WsUpgradeDecision::reject(400));
    };
    h.on_open = [this](const WsConnectionPtr& connection) {
      {
        std::lock_guard lock(mutex_);
        connections_.push_back(connection);
        cv_.notify_all();
      }
      if (on_open_hook) {
        on_open_hook(connection);
      }
    };
    h.on_message = [this](const WsConnectionPtr& connection, const WsMessageView& message) {
      {
        std::lock_guard lock(mutex_);
        messages_.push_back({message.binary, {message.data.begin(), message.data.end()}});
        cv_.notify_all();
      }
      if (on_message_hook) {
        on_message_hook(connection, message);
      }
    };
    h.on_pong = [this](const WsConnectionPtr&, std::string_view payload) {
      std::lock_guard lock(mutex_);
      pongs_.emplace_back(payload);
      cv_.notify_all();
    };
    h.on_close = [this](const WsConnectionPtr&, const WsError& error) {
      std::lock_guard lock(mutex_);
      closes_.push_back(error);
      cv_.notify_all();
    };
    return h;
  }

  // `pred` runs with the recorder locked: it must not call the accessors below.
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds bound = kWait) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, bound, pred);
  }
  bool wait_requests(std::size_t n) {
    return wait([&] { return requests_.size() >= n; });
  }
  bool wait_connections(std::size_t n) {
    return wait([&] { return connections_.size() >= n; });
  }
  bool wait_messages(std::size_t n) {
    return wait([&] { return messages_.size() >= n; });
  }
  bool wait_closes(std::size_t n) {
    return wait([&] { return closes_.size() >= n; });
  }
  bool wait_pongs(std::size_t n) {
    return wait([&] { return pongs_.size() >= n; });
  }

  std::vector<WsUpgradeRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  WsConnectionPtr connection(std::size_t i = 0) const {
    std::lock_guard lock(mutex_);
    return i < connections_.size() ? connections_[i] : nullptr;
  }
  std::vector<ReceivedMessage> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<WsError> closes() const {
    std::lock_guard lock(mutex_);
    return closes_;
  }
  std::vector<std::string> pongs() const {
    std::lock_guard lock(mutex_);
    return pongs_;
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<WsUpgradeRequest> requests_;
  std::vector<WsConnectionPtr> connections_;
  std::vector<ReceivedMessage> messages_;
  std::vector<WsError> closes_;
  std::vector<std::string> pongs_;
};

// Polls `pred` (every 2 ms) until it holds or `bound` passes; for state that changes without
// notifying a recorder (queue depths, counters).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds bound = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return pred();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// A local port with nothing listening (bound and released; nothing else binds ephemeral ports
// deliberately in this process).
inline uint16_t unused_local_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// A listener whose accept queue is full: further TCP connects get no SYN-ACK and hang, which
// is how a connect timeout is provoked locally. (Linux drops SYNs for a full accept queue; with
// listen(0) one pending connection fills it.)
class BlackholeListener {
public:
  BlackholeListener() : acceptor_(io_), filler_(io_) {
    using boost::asio::ip::tcp;
    const tcp::endpoint any(boost::asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(any.protocol());
    acceptor_.bind(any);
    acceptor_.listen(0);
    filler_.connect(acceptor_.local_endpoint()); // completes: it takes the only slot
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::socket filler_;
};

// Deterministic pseudo-random payload.
inline std::vector<uint8_t> pattern_bytes(std::size_t size, uint32_t seed) {
  std::vector<uint8_t> bytes(size);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : bytes) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return bytes;
}

} // namespace pv::net::testing
