#include "net/ws_client.hpp"

#include "net/detail/callback_gate.hpp"
#include "net/detail/ws_session.hpp"
#include "net/url.hpp"

#include <cstring>
#include <utility>

namespace pv::net {

namespace detail {

// Forwards session events to the caller's handlers through a gate the WsClient can close.
class WsClientObserver final : public WsObserver {
public:
  explicit WsClientObserver(WsClientHandlers handlers) : handlers_(std::move(handlers)) {}

  void on_open(const WsOpenInfo& info) override {
    gate_.run([&] {
      if (handlers_.on_open) {
        handlers_.on_open(info);
      }
    });
  }
  void on_message(const WsMessageView& message) override {
    gate_.run([&] {
      if (handlers_.on_message) {
        handlers_.on_message(message);
      }
    });
  }
  void on_close(const WsError& reason) override {
    gate_.run([&] {
      if (handlers_.on_close) {
        handlers_.on_close(reason);
      }
    });
  }
  void detach() { gate_.close(); }

private:
  CallbackGate gate_;
  WsClientHandlers handlers_;
};

} // namespace detail

tl::expected<WsClient, WsError> WsClient::create(boost::asio::io_context& io, WsClientParams params,
                                                 WsClientHandlers handlers) {
  auto invalid = [](std::string message) {
    WsError error;
    error.kind = WsErrorKind::invalid_argument;
    error.message = std::move(message);
    return tl::unexpected(std::move(error));
  };
  auto url = parse_url(params.url);
  if (!url) {
    return invalid(url.error().message);
  }
  if (url->scheme != "ws" && url->scheme != "wss") {
    return invalid("WebSocket URL must start with ws:// or wss://, got '" + url->scheme + "://'");
  }
  if (params.connect_timeout_ms <= 0 || params.close_timeout_ms <= 0) {
    return invalid("connect and close timeouts must be positive");
  }
  detail::WsClientSetup setup;
  setup.url = std::move(*url);
  setup.headers = std::move(params.headers);
  setup.user_agent = std::move(params.user_agent);
  setup.connect_timeout = std::chrono::milliseconds(params.connect_timeout_ms);
  setup.close_timeout = std::chrono::milliseconds(params.close_timeout_ms);
  setup.max_message_bytes = params.max_message_bytes;
  setup.max_queued_bytes = params.max_queued_bytes;
  setup.tls = std::move(params.tls);
  if (setup.url.tls()) {
    if (params.tls_context) {
      setup.ssl = std::move(params.tls_context);
    } else {
      auto ctx = make_client_tls_context(setup.tls);
      if (!ctx) {
        WsError error;
        error.kind = WsErrorKind::tls_error;
        error.message = ctx.error().message;
        return tl::unexpected(std::move(error));
      }
      setup.ssl = std::move(*ctx);
    }
  }
  auto observer = std::make_shared<detail::WsClientObserver>(std::move(handlers));
  auto session = detail::make_client_session(io, std::move(setup), observer);
  return WsClient(std::move(session), std::move(observer));
}

WsClient::WsClient(std::shared_ptr<detail::WsSessionBase> session,
                   std::shared_ptr<detail::WsClientObserver> observer)
    : session_(std::move(session)), observer_(std::move(observer)) {}

WsClient::WsClient(WsClient&&) noexcept = default;

WsClient& WsClient::operator=(WsClient&& other) noexcept {
  if (this != &other) {
    release();
    session_ = std::move(other.session_);
    observer_ = std::move(other.observer_);
  }
  return *this;
}

WsClient::~WsClient() {
  release();
}

void WsClient::release() {
  if (observer_) {
    observer_->detach();
  }
  if (session_) {
    session_->cancel();
  }
  observer_.reset();
  session_.reset();
}

void WsClient::connect() {
  session_->start();
}

WsSendStatus WsClient::send_binary(std::vector<uint8_t> message) {
  return session_->send(std::move(message), true);
}

WsSendStatus WsClient::send_binary(std::span<const uint8_t> message) {
  std::vector<uint8_t> buffer = session_->take_buffer();
  buffer.assign(message.begin(), message.end());
  return session_->send(std::move(buffer), true);
}

WsSendStatus WsClient::send_text(std::string_view message) {
  std::vector<uint8_t> buffer = session_->take_buffer();
  buffer.resize(message.size());
  if (!message.empty()) {
    std::memcpy(buffer.data(), message.data(), message.size());
  }
  return session_->send(std::move(buffer), false);
}

std::vector<uint8_t> WsClient::take_buffer() {
  return session_->take_buffer();
}

void WsClient::set_idle_timeout(std::chrono::milliseconds timeout) {
  session_->set_idle_timeout(timeout);
}

void WsClient::close(uint16_t code, std::string reason) {
  session_->close(code, std::move(reason));
}

void WsClient::cancel() {
  session_->cancel();
}

void WsClient::detach_handlers() {
  observer_->detach();
}

WsQueueDepth WsClient::queue_depth() const {
  return session_->queue_depth();
}

WsCounters WsClient::counters() const {
  return session_->counters();
}

} // namespace pv::net
