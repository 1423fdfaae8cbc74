// The only translation unit that includes Boost.Beast (it is slow to compile).
//
// One class template, WsSession<NextLayer>, serves both roles over plain TCP or TLS. Every member
// below is touched only on the session's strand (ex_), except the atomics and the buffer pool of
// WsSessionBase. Completion handlers hold a shared_ptr to the session, so it outlives every
// pending operation; finish() is the single exit: it closes the socket (all pending operations
// then complete with operation_aborted and are ignored) and reports on_close exactly once.

#include "net/detail/ws_session.hpp"

#include "net/detail/tls_detail.hpp"
#include "util/thread_owner.hpp"

#include <algorithm>
#include <deque>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace pv::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kPoolMaxBuffers = 32;
constexpr std::size_t kPoolMaxCapacity = 256 * 1024;
constexpr std::size_t kBodySnippetBytes = 1024;
constexpr std::size_t kReadChunkBytes = 64 * 1024;
constexpr std::size_t kIncomingReserve = 64; // sends queued between two drains before it grows

// Memory for one posted handler, reused: a session has at most one drain posted at a time, so
// its post needs no heap (the operation is freed before the handler runs). A second user, or a
// larger handler, falls back to the heap.
class HandlerSlot {
public:
  void* allocate(std::size_t size) {
    if (size <= sizeof(storage_) && !in_use_.exchange(true, std::memory_order_acquire)) {
      return storage_;
    }
    return ::operator new(size);
  }
  void deallocate(void* p) {
    if (p == static_cast<void*>(storage_)) {
      in_use_.store(false, std::memory_order_release);
    } else {
      ::operator delete(p);
    }
  }

private:
  alignas(std::max_align_t) unsigned char storage_[256];
  std::atomic<bool> in_use_{false};
};

template <class T>
class SlotAllocator {
public:
  using value_type = T;
  explicit SlotAllocator(HandlerSlot& slot) noexcept : slot_(&slot) {}
  template <class U>
  SlotAllocator(const SlotAllocator<U>& other) noexcept : slot_(other.slot()) {}
  T* allocate(std::size_t n) { return static_cast<T*>(slot_->allocate(sizeof(T) * n)); }
  void deallocate(T* p, std::size_t) { slot_->deallocate(p); }
  HandlerSlot* slot() const noexcept { return slot_; }
  template <class U>
  bool operator==(const SlotAllocator<U>& other) const noexcept {
    return slot_ == other.slot();
  }
  template <class U>
  bool operator!=(const SlotAllocator<U>& other) const noexcept {
    return slot_ != other.slot();
  }

private:
  HandlerSlot* slot_;
};

// The peer ended the TCP connection (or TLS session) without a WebSocket Close frame.
bool is_connection_end(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
         ec == asio::error::not_connected || ec == asio::ssl::error::stream_truncated ||
         ec == http::error::end_of_stream || ec == beast::error::timeout;
}

WsError make_error(WsErrorKind kind, std::string message) {
  WsError error;
  error.kind = kind;
  error.message = std::move(message);
  return error;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// WsSessionBase: the thread-safe part.

WsSendStatus WsSessionBase::send(std::vector<uint8_t>&& bytes, bool binary) {
  if (!accepting_sends_.load(std::memory_order_acquire)) {
    recycle(std::move(bytes));
    return WsSendStatus::closed;
  }
  const std::size_t size = bytes.size();
  if (max_queued_bytes_ != 0 &&
      queued_bytes_.load(std::memory_order_relaxed) + size > max_queued_bytes_) {
    recycle(std::move(bytes));
    return WsSendStatus::queue_full;
  }
  queued_messages_.fetch_add(1, std::memory_order_relaxed);
  queued_bytes_.fetch_add(size, std::memory_order_relaxed);
  bool post = false;
  {
    std::lock_guard lock(send_mutex_);
    incoming_.push_back(OutMessage{std::move(bytes), binary});
    post = !std::exchange(drain_posted_, true);
  }
  if (post) {
    schedule_drain();
  }
  return WsSendStatus::queued;
}

WsSessionBase::WsSessionBase(std::size_t max_queued_bytes) : max_queued_bytes_(max_queued_bytes) {
  incoming_.reserve(kIncomingReserve);
}

WsQueueDepth WsSessionBase::queue_depth() const {
  return {queued_messages_.load(std::memory_order_relaxed),
          queued_bytes_.load(std::memory_order_relaxed)};
}

WsCounters WsSessionBase::counters() const {
  return {messages_received_.load(std::memory_order_relaxed),
          bytes_received_.load(std::memory_order_relaxed),
          messages_sent_.load(std::memory_order_relaxed),
          bytes_sent_.load(std::memory_order_relaxed)};
}

std::vector<uint8_t> WsSessionBase::take_buffer() {
  std::lock_guard lock(pool_mutex_);
  if (pool_.empty()) {
    return {};
  }
  std::vector<uint8_t> buffer = std::move(pool_.back());
  pool_.pop_back();
  return buffer;
}

void WsSessionBase::recycle(std::vector<uint8_t>&& buffer) {
  if (buffer.capacity() == 0 || buffer.capacity() > kPoolMaxCapacity) {
    return;
  }
  buffer.clear();
  std::lock_guard lock(pool_mutex_);
  if (pool_.size() < kPoolMaxBuffers) {
    pool_.push_back(std::move(buffer));
  }
}

void WsSessionBase::message_written(std::size_t bytes) {
  queued_messages_.fetch_sub(1, std::memory_order_relaxed);
  queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  messages_sent_.fetch_add(1, std::memory_order_relaxed);
  bytes_sent_.fetch_add(bytes, std::memory_order_relaxed);
}

void WsSessionBase::message_dropped(std::size_t bytes) {
  queued_messages_.fetch_sub(1, std::memory_order_relaxed);
  queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------------
// WsSession<NextLayer>

template <class NextLayer>
class WsSession final : public WsSessionBase,
                        public std::enable_shared_from_this<WsSession<NextLayer>> {
  static constexpr bool kTls = !std::is_same_v<NextLayer, beast::tcp_stream>;
  using Ws = websocket::stream<NextLayer>;

  enum class State {
    created,
    resolving,       // client
    connecting,      // client
    tls_handshake,   // both
    upgrading,       // client: waiting for 101; server: sending 101
    reading_request, // server
    answering,       // server: writing a rejection
    held,            // server: request ignored on purpose
    open,
    closing, // close() asked: draining the queue, then the close handshake
    finished,
  };

public:
  // Client role.
  WsSession(asio::io_context& io, WsClientSetup setup, std::shared_ptr<WsObserver> observer)
      : WsSessionBase(setup.max_queued_bytes), client_(true), ex_(asio::make_strand(io)),
        io_ex_(inner_executor(ex_)), ws_(make_ws(ex_, setup.ssl.get())), resolver_(ex_),
        deadline_timer_(ex_), idle_timer_(ex_), observer_(std::move(observer)),
        client_setup_(std::move(setup)), ssl_(client_setup_->ssl),
        max_message_bytes_(client_setup_->max_message_bytes),
        close_timeout_(client_setup_->close_timeout) {}

  // Server role: `socket` was accepted onto a strand.
  WsSession(tcp::socket socket, WsServerSetup setup, std::shared_ptr<WsObserver> observer)
      : WsSessionBase(setup.max_queued_bytes), client_(false), ex_(socket.get_executor()),
        io_ex_(inner_executor(ex_)), ws_(make_ws(std::move(socket), setup.ssl.get())),
        resolver_(ex_), deadline_timer_(ex_), idle_timer_(ex_), observer_(std::move(observer)),
        server_setup_(std::move(setup)), ssl_(server_setup_->ssl),
        max_message_bytes_(server_setup_->max_message_bytes),
        close_timeout_(server_setup_->close_timeout) {}

  void start() override {
    asio::post(ex_, [self = this->shared_from_this()] {
      if (self->client_) {
        self->begin_client();
      } else {
        self->begin_server();
      }
    });
  }

  void close(uint16_t code, std::string reason) override {
    accepting_sends_.store(false, std::memory_order_release); // sends after close() are refused
    asio::post(ex_, [self = this->shared_from_this(), code, reason = std::move(reason)]() mutable {
      self->do_close(code, std::move(reason));
    });
  }

  void cancel() override {
    accepting_sends_.store(false, std::memory_order_release);
    asio::post(ex_, [self = this->shared_from_this()] {
      self->finish(make_error(WsErrorKind::cancelled, "cancelled by the caller"));
    });
  }

  void drop() override {
    accepting_sends_.store(false, std::memory_order_release);
    asio::post(ex_, [self = this->shared_from_this()] {
      WsError error = make_error(WsErrorKind::closed, "dropped without a Close frame");
      error.local = true;
      error.close_code = 1006;
      self->finish(std::move(error));
    });
  }

  void set_reading(bool enabled) override {
    // dispatch: from one of this session's handlers it applies at once, before the next read is
    // issued, so that a handler can stall a connection completely.
    asio::dispatch(ex_, [self = this->shared_from_this(), enabled] {
      self->reading_enabled_ = enabled;
      self->do_read();
    });
  }

  void ping(std::string payload) override {
    asio::post(ex_, [self = this->shared_from_this(), payload = std::move(payload)] {
      self->do_ping(payload);
    });
  }

  void set_idle_timeout(std::chrono::milliseconds timeout) override {
    asio::post(ex_, [self = this->shared_from_this(), timeout] { self->arm_idle(timeout); });
  }

protected:
  void schedule_drain() override {
    // Posting to the strand from a foreign thread allocates (the strand's own invoker), so the
    // post goes to the io_context with the session's handler memory, and the io thread enters
    // the strand.
    if (io_ex_) {
      asio::post(*io_ex_, DrainHandler{this->shared_from_this()});
    } else {
      asio::post(ex_, [self = this->shared_from_this()] { self->drain(); });
    }
  }

private:
  using Strand = asio::strand<asio::io_context::executor_type>;

  struct DrainHandler {
    std::shared_ptr<WsSession> self;
    using allocator_type = SlotAllocator<void>;
    allocator_type get_allocator() const noexcept { return allocator_type(self->drain_slot_); }
    void operator()() {
      auto* session = self.get();
      asio::dispatch(session->ex_, [s = std::move(self)] { s->drain(); });
    }
  };

  static std::optional<asio::io_context::executor_type>
  inner_executor(const asio::any_io_executor& ex) {
    if (const Strand* strand = ex.target<Strand>()) {
      return strand->get_inner_executor();
    }
    return std::nullopt;
  }

  template <class Arg>
  static Ws make_ws(Arg&& arg, asio::ssl::context* ssl) {
    if constexpr (kTls) {
      return Ws(std::forward<Arg>(arg), *ssl);
    } else {
      (void)ssl;
      return Ws(std::forward<Arg>(arg));
    }
  }

  auto self() { return this->shared_from_this(); }

  // Debug builds: state may only be touched on the session strand.
  void assert_on_strand(const char* what) const {
#ifndef NDEBUG
    const Strand* strand = ex_.target<Strand>();
    if (strand != nullptr && !strand->running_in_this_thread()) {
      util::ownership_violation(what, __FILE__, __LINE__);
    }
#else
    (void)what;
#endif
  }

  tcp::socket& socket() {
    return beast::get_lowest_layer(ws_).socket();
  }

  std::string peer_name() const {
    if (client_setup_) {
      return client_setup_->url.host + ":" + std::to_string(client_setup_->url.port);
    }
    return remote_address_;
  }

  // --- deadlines -------------------------------------------------------------------------------

  void arm_deadline(std::chrono::milliseconds after, WsTimeout which) {
    deadline_kind_ = which;
    const uint64_t generation = ++deadline_generation_;
    deadline_timer_.expires_after(after);
    deadline_timer_.async_wait(
        [self = self(), generation](const error_code& ec) { self->on_deadline(ec, generation); });
  }

  void disarm_deadline() {
    ++deadline_generation_;
    deadline_timer_.cancel();
  }

  void on_deadline(const error_code& ec, uint64_t generation) {
    if (ec || generation != deadline_generation_ || state_ == State::finished) {
      return;
    }
    WsError error;
    error.kind = WsErrorKind::timeout;
    error.timeout = deadline_kind_;
    if (deadline_kind_ == WsTimeout::close) {
      error.message =
          "close did not complete within " + std::to_string(close_timeout_.count()) + " ms";
    } else if (client_) {
      error.message = "connect to " + peer_name() + " did not complete within " +
                      std::to_string(client_setup_->connect_timeout.count()) + " ms (stuck in " +
                      stage_name() + ")";
    } else {
      error.message = "handshake from " + peer_name() + " did not complete within " +
                      std::to_string(server_setup_->handshake_timeout.count()) + " ms (stuck in " +
                      stage_name() + ")";
    }
    finish(std::move(error));
  }

  const char* stage_name() const {
    switch (state_) {
    case State::resolving:
      return "DNS resolution";
    case State::connecting:
      return "TCP connect";
    case State::tls_handshake:
      return "TLS handshake";
    case State::upgrading:
      return "WebSocket upgrade";
    case State::reading_request:
      return "reading the upgrade request";
    case State::answering:
      return "answering the upgrade request";
    default:
      return "set-up";
    }
  }

  // --- client set-up -----------------------------------------------------------------------------

  void begin_client() {
    assert_on_strand("begin_client");
    if (state_ != State::created) {
      return;
    }
    state_ = State::resolving;
    arm_deadline(client_setup_->connect_timeout, WsTimeout::connect);
    resolver_.async_resolve(
        client_setup_->url.host, std::to_string(client_setup_->url.port),
        [self = self()](const error_code& ec, const tcp::resolver::results_type& results) {
          self->on_resolve(ec, results);
        });
  }

  void on_resolve(const error_code& ec, const tcp::resolver::results_type& results) {
    if (state_ == State::finished) {
      return;
    }
    if (ec) {
      finish(make_error(WsErrorKind::connect_refused,
                        "cannot resolve '" + client_setup_->url.host + "': " + ec.message()));
      return;
    }
    state_ = State::connecting;
    beast::get_lowest_layer(ws_).async_connect(
        results, [self = self()](const error_code& connect_ec, const tcp::endpoint&) {
          self->on_connect(connect_ec);
        });
  }

  void on_connect(const error_code& ec) {
    if (state_ == State::finished) {
      return;
    }
    if (ec) {
      finish(make_error(WsErrorKind::connect_refused,
                        "cannot connect to " + peer_name() + ": " + ec.message()));
      return;
    }
    error_code ignored;
    socket().set_option(tcp::no_delay(true), ignored);
    if constexpr (kTls) {
      std::string error;
      if (!configure_client_connection(ws_.next_layer().native_handle(), client_setup_->tls,
                                       client_setup_->url.host, error)) {
        finish(make_error(WsErrorKind::tls_error, error));
        return;
      }
      start_tls();
    } else {
      start_upgrade();
    }
  }

  // Both roles: the TLS handshake, then the client's upgrade or the server's request read.
  void start_tls() {
    if constexpr (kTls) {
      state_ = State::tls_handshake;
      ws_.next_layer().async_handshake(client_ ? asio::ssl::stream_base::client
                                               : asio::ssl::stream_base::server,
                                       [self = self()](const error_code& ec) { self->on_tls(ec); });
    }
  }

  void on_tls(const error_code& ec) {
    if (state_ == State::finished) {
      return;
    }
    if (ec) {
      std::string reason;
      if constexpr (kTls) {
        reason = describe_tls_failure(ec, ws_.next_layer().native_handle());
      }
      finish(make_error(WsErrorKind::tls_error, std::string("TLS handshake ") +
                                                    (client_ ? "with " : "from ") + peer_name() +
                                                    " failed: " + reason));
      return;
    }
    if (client_) {
      start_upgrade();
    } else {
      read_request();
    }
  }

  void configure_open_stream() {
    // Our own timers bound the handshakes; Beast's idle/keep-alive pings stay off on purpose (a
    // queued PersonaPlex client gets no pongs, which must not kill the connection).
    ws_.set_option(websocket::stream_base::timeout{websocket::stream_base::none(),
                                                   websocket::stream_base::none(), false});
    ws_.read_message_max(0); // enforced in on_read()
    ws_.auto_fragment(false);
  }

  void start_upgrade() {
    state_ = State::upgrading;
    configure_open_stream();
    ws_.set_option(websocket::stream_base::decorator(
        [headers = client_setup_->headers,
         agent = client_setup_->user_agent](websocket::request_type& request) {
          if (!agent.empty()) {
            request.set(http::field::user_agent, agent);
          }
          for (const auto& header : headers) {
            request.set(header.name, header.value);
          }
        }));
    ws_.async_handshake(upgrade_response_, client_setup_->url.host_header(),
                        client_setup_->url.target,
                        [self = self()](const error_code& ec) { self->on_upgrade(ec); });
  }

  void on_upgrade(const error_code& ec) {
    if (state_ == State::finished) {
      return;
    }
    const int status = static_cast<int>(upgrade_response_.result_int());
    if (ec) {
      if (ec == websocket::error::upgrade_declined) {
        WsError error;
        error.kind = WsErrorKind::http_rejected;
        error.http_status = status;
        for (const auto& field : upgrade_response_) {
          error.response_headers.push_back(
              {std::string(field.name_string()), std::string(field.value())});
        }
        if (auto retry = find_header(error.response_headers, "Retry-After")) {
          error.retry_after = std::string(*retry);
        }
        const std::string& body = upgrade_response_.body();
        error.response_body = body.substr(0, std::min(body.size(), kBodySnippetBytes));
        error.message = "server " + peer_name() + " answered the WebSocket upgrade with HTTP " +
                        std::to_string(status);
        finish(std::move(error));
      } else if (is_connection_end(ec)) {
        WsError error = make_error(
            WsErrorKind::closed, "connection closed during the WebSocket upgrade: " + ec.message());
        error.close_code = 1006;
        finish(std::move(error));
      } else {
        finish(make_error(WsErrorKind::read_error,
                          "WebSocket upgrade with " + peer_name() + " failed: " + ec.message()));
      }
      return;
    }
    disarm_deadline();
    WsOpenInfo info;
    info.http_status = status;
    info.tls = kTls;
    for (const auto& field : upgrade_response_) {
      info.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    }
    upgrade_response_ = {};
    opened(info);
  }

  // --- server set-up -----------------------------------------------------------------------------

  void begin_server() {
    assert_on_strand("begin_server");
    if (state_ != State::created) {
      return;
    }
    error_code ec;
    const auto remote = socket().remote_endpoint(ec);
    remote_address_ =
        ec ? "unknown" : remote.address().to_string() + ":" + std::to_string(remote.port());
    socket().set_option(tcp::no_delay(true), ec);
    arm_deadline(server_setup_->handshake_timeout, WsTimeout::connect);
    if constexpr (kTls) {
      start_tls();
    } else {
      read_request();
    }
  }

  void read_request() {
    state_ = State::reading_request;
    request_parser_.emplace();
    request_parser_->header_limit(
        static_cast<std::uint32_t>(server_setup_->max_request_header_bytes));
    http::async_read(ws_.next_layer(), read_buffer_, *request_parser_,
                     [self = self()](const error_code& ec, std::size_t) { self->on_request(ec); });
  }

  void on_request(const error_code& ec) {
    if (state_ == State::finished) {
      return;
    }
    if (ec) {
      if (is_connection_end(ec)) {
        WsError error =
            make_error(WsErrorKind::closed, "client closed before completing its request");
        error.close_code = 1006;
        finish(std::move(error));
      } else {
        // Unparsable, or its header is over the limit: answer 400 as HTTP servers do.
        answer(WsUpgradeDecision::reject(400, {}, "bad request: " + ec.message()));
      }
      return;
    }
    request_ = request_parser_->release();
    request_parser_.reset();
    WsUpgradeRequest request;
    request.method = std::string(request_.method_string());
    request.target = std::string(request_.target());
    for (const auto& field : request_) {
      request.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    }
    request.websocket_upgrade = websocket::is_upgrade(request_);
    request.remote_address = remote_address_;
    upgrade_request_headers_ = request.headers;

    const WsUpgradeDecision decision =
        observer_ ? observer_->on_upgrade_request(request) : WsUpgradeDecision::reject(503);
    switch (decision.action) {
    case WsUpgradeDecision::Action::accept:
      if (!request.websocket_upgrade) {
        answer(WsUpgradeDecision::reject(400, {}, "not a WebSocket upgrade request"));
        return;
      }
      reading_enabled_ = decision.start_reading;
      state_ = State::upgrading;
      configure_open_stream();
      ws_.set_option(websocket::stream_base::decorator(
          [headers = decision.headers](websocket::response_type& response) {
            for (const auto& header : headers) {
              response.set(header.name, header.value);
            }
          }));
      ws_.async_accept(
          request_, [self = self()](const error_code& accept_ec) { self->on_accept(accept_ec); });
      return;
    case WsUpgradeDecision::Action::reject:
      answer(decision);
      return;
    case WsUpgradeDecision::Action::ignore:
      state_ = State::held;
      disarm_deadline();
      // A client never sends before the 101, so readability means it went away.
      socket().async_wait(tcp::socket::wait_read, [self = self()](const error_code& wait_ec) {
        if (!wait_ec && self->state_ == State::held) {
          WsError error = make_error(WsErrorKind::closed, "client left while held");
          error.close_code = 1006;
          self->finish(std::move(error));
        }
      });
      return;
    }
  }

  void answer(const WsUpgradeDecision& decision) {
    state_ = State::answering;
    response_.version(11);
    response_.result(static_cast<unsigned>(decision.status));
    response_.set(http::field::server, "podium-voices");
    response_.set(http::field::connection, "close");
    for (const auto& header : decision.headers) {
      response_.set(header.name, header.value);
    }
    response_.body() = decision.body;
    response_.prepare_payload();
    http::async_write(ws_.next_layer(), response_,
                      [self = self(), status = decision.status](const error_code&, std::size_t) {
                        WsError error =
                            make_error(WsErrorKind::http_rejected,
                                       "upgrade answered with HTTP " + std::to_string(status));
                        error.http_status = status;
                        error.local = true;
                        self->finish(std::move(error));
                      });
  }

  void on_accept(const error_code& ec) {
    if (state_ == State::finished) {
      return;
    }
    if (ec) {
      finish(make_error(WsErrorKind::read_error, "WebSocket accept failed: " + ec.message()));
      return;
    }
    disarm_deadline();
    request_ = {};
    WsOpenInfo info;
    info.tls = kTls;
    info.headers = std::move(upgrade_request_headers_);
    opened(info);
  }

  // --- open connection ---------------------------------------------------------------------------

  void opened(const WsOpenInfo& info) {
    state_ = State::open;
    read_buffer_.consume(read_buffer_.size());
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
      // Runs inside our own read/close operations, which keep the session alive.
      if (kind == websocket::frame_type::pong && observer_) {
        observer_->on_pong(std::string_view(payload.data(), payload.size()));
      }
    });
    if (observer_) {
      observer_->on_open(info);
    }
    if (state_ != State::open) {
      return; // the observer closed or cancelled synchronously
    }
    do_read();
    maybe_write();
  }

  void do_read() {
    if (!reading_enabled_ || read_pending_ || close_started_ ||
        (state_ != State::open && state_ != State::closing)) {
      return;
    }
    read_pending_ = true;
    // Message by pieces so that the size limit is ours: Beast's own limit reports the violation
    // only on plain TCP (over TLS its teardown error replaces it).
    ws_.async_read_some(read_buffer_, kReadChunkBytes,
                        [self = self()](const error_code& ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(const error_code& ec) {
    assert_on_strand("on_read");
    read_pending_ = false;
    if (state_ == State::finished) {
      return;
    }
    if (ec) {
      on_read_error(ec);
      return;
    }
    if (read_buffer_.size() > max_message_bytes_) {
      finish(make_error(WsErrorKind::read_error, "message larger than the " +
                                                     std::to_string(max_message_bytes_) +
                                                     "-byte limit"));
      return;
    }
    if (!ws_.is_message_done()) {
      read_pending_ = true;
      ws_.async_read_some(
          read_buffer_, kReadChunkBytes,
          [self = self()](const error_code& more_ec, std::size_t) { self->on_read(more_ec); });
      return;
    }
    const std::size_t bytes = read_buffer_.size();
    last_rx_ = Clock::now();
    messages_received_.fetch_add(1, std::memory_order_relaxed);
    bytes_received_.fetch_add(bytes, std::memory_order_relaxed);
    const auto data = read_buffer_.cdata();
    WsMessageView view{
        ws_.got_binary(),
        std::span<const uint8_t>(static_cast<const uint8_t*>(data.data()), data.size())};
    if (observer_) {
      observer_->on_message(view);
    }
    read_buffer_.consume(read_buffer_.size());
    do_read();
  }

  void on_read_error(const error_code& ec) {
    if (close_started_) {
      return; // our close handshake consumes the peer's Close; on_close_done reports
    }
    if (ec == websocket::error::closed) {
      const auto& reason = ws_.reason();
      WsError error;
      error.kind = WsErrorKind::closed;
      error.close_frame = true;
      error.close_code = reason.code;
      error.close_reason = std::string(reason.reason.data(), reason.reason.size());
      error.message = "peer sent Close " + std::to_string(error.close_code) +
                      (error.close_reason.empty() ? "" : " (" + error.close_reason + ")");
      finish(std::move(error));
    } else if (is_connection_end(ec)) {
      WsError error =
          make_error(WsErrorKind::closed,
                     "peer ended the connection without a WebSocket Close frame: " + ec.message());
      error.close_code = 1006;
      finish(std::move(error));
    } else {
      finish(make_error(WsErrorKind::read_error, "read failed: " + ec.message()));
    }
  }

  void drain() {
    assert_on_strand("drain");
    if (state_ == State::finished) {
      drop_incoming();
      return;
    }
    take_sends(queue_);
    maybe_write();
  }

  // Messages sent after finish() took the queue: dropped, buffers recycled.
  void drop_incoming() {
    take_sends(dropped_);
    for (auto& message : dropped_) {
      message_dropped(message.bytes.size());
      recycle(std::move(message.bytes));
    }
    dropped_.clear();
  }

  void maybe_write() {
    assert_on_strand("maybe_write");
    if (writing_ || queue_.empty() || close_started_ ||
        (state_ != State::open && state_ != State::closing)) {
      return;
    }
    writing_ = true;
    OutMessage& front = queue_.front();
    ws_.binary(front.binary);
    ws_.async_write(asio::buffer(front.bytes),
                    [self = self()](const error_code& ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(const error_code& ec) {
    writing_ = false;
    OutMessage done = std::move(queue_.front());
    queue_.pop_front();
    if (state_ == State::finished) {
      recycle(std::move(done.bytes)); // already accounted by finish()
      return;
    }
    if (ec) {
      message_dropped(done.bytes.size());
      if (is_connection_end(ec)) {
        WsError error = make_error(
            WsErrorKind::closed,
            "peer ended the connection without a WebSocket Close frame (seen while writing): " +
                ec.message());
        error.close_code = 1006;
        finish(std::move(error));
      } else {
        finish(make_error(WsErrorKind::send_error, "write failed: " + ec.message()));
      }
      return;
    }
    const std::size_t written = done.bytes.size();
    recycle(std::move(done.bytes)); // first: a sender that sees the queue drained finds it pooled
    message_written(written);
    if (state_ == State::closing && queue_.empty()) {
      start_close();
    } else {
      maybe_write();
    }
  }

  void do_ping(const std::string& payload) {
    if (state_ != State::open || ping_pending_) {
      return;
    }
    ping_pending_ = true;
    ping_payload_.assign(payload.data(), std::min(payload.size(), ping_payload_.max_size()));
    ws_.async_ping(ping_payload_,
                   [self = self()](const error_code&) { self->ping_pending_ = false; });
  }

  // --- closing -----------------------------------------------------------------------------------

  void do_close(uint16_t code, std::string reason) {
    assert_on_strand("do_close");
    switch (state_) {
    case State::finished:
    case State::closing:
      return;
    case State::open:
      state_ = State::closing;
      accepting_sends_.store(false, std::memory_order_release);
      take_sends(queue_); // everything sent before close() goes out first
      close_code_ = code;
      close_reason_ = std::move(reason);
      arm_deadline(close_timeout_, WsTimeout::close);
      if (!writing_ && queue_.empty()) {
        start_close();
      }
      return;
    default: {
      WsError error =
          client_ ? make_error(WsErrorKind::cancelled, "closed before the connection opened")
                  : make_error(WsErrorKind::closed, "closed before the connection opened");
      error.local = true;
      finish(std::move(error));
      return;
    }
    }
  }

  void start_close() {
    close_started_ = true;
    websocket::close_reason reason(close_code_);
    reason.reason = close_reason_.substr(0, 120);
    ws_.async_close(reason, [self = self()](const error_code& ec) { self->on_close_done(ec); });
  }

  void on_close_done(const error_code& ec) {
    if (state_ == State::finished) {
      return;
    }
    WsError error;
    error.kind = WsErrorKind::closed;
    error.local = true;
    const auto& peer = ws_.reason();
    error.close_frame = peer.code != websocket::close_code::none;
    error.close_code = error.close_frame ? peer.code : close_code_;
    error.close_reason = std::string(peer.reason.data(), peer.reason.size());
    error.message = ec ? "closed; the close handshake ended with: " + ec.message()
                       : "closed with code " + std::to_string(close_code_);
    finish(std::move(error));
  }

  // The single exit: no more I/O, on_close once.
  void finish(WsError reason) {
    assert_on_strand("finish");
    if (state_ == State::finished) {
      return;
    }
    state_ = State::finished;
    accepting_sends_.store(false, std::memory_order_release);
    disarm_deadline();
    ++idle_generation_;
    idle_timer_.cancel();
    resolver_.cancel();
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).close();
    // Every unwritten message is accounted as dropped now; the buffer of the one being written
    // stays until its write completes (the operation refers to it), see on_write().
    drop_incoming();
    for (const auto& message : queue_) {
      message_dropped(message.bytes.size());
    }
    const std::size_t keep = writing_ ? 1 : 0;
    while (queue_.size() > keep) {
      recycle(std::move(queue_.back().bytes));
      queue_.pop_back();
    }
    if (observer_) {
      auto observer = std::move(observer_);
      observer->on_close(reason);
    }
  }

  // --- idle timeout ------------------------------------------------------------------------------

  void arm_idle(std::chrono::milliseconds timeout) {
    assert_on_strand("arm_idle");
    if (state_ == State::finished) {
      return;
    }
    idle_timeout_ = timeout;
    const uint64_t generation = ++idle_generation_;
    idle_timer_.cancel();
    if (timeout.count() <= 0) {
      return;
    }
    last_rx_ = Clock::now();
    wait_idle(last_rx_ + timeout, generation);
  }

  void wait_idle(Clock::time_point deadline, uint64_t generation) {
    idle_timer_.expires_at(deadline);
    idle_timer_.async_wait(
        [self = self(), generation](const error_code& ec) { self->on_idle(ec, generation); });
  }

  // Re-arming per message would cost a timer operation per frame; instead the timer checks the
  // time of the last message when it fires and waits again for the remainder.
  void on_idle(const error_code& ec, uint64_t generation) {
    if (ec || generation != idle_generation_ || state_ == State::finished) {
      return;
    }
    const auto deadline = last_rx_ + idle_timeout_;
    if (Clock::now() < deadline) {
      wait_idle(deadline, generation);
      return;
    }
    WsError error =
        make_error(WsErrorKind::timeout,
                   "no message received for " + std::to_string(idle_timeout_.count()) + " ms");
    error.timeout = WsTimeout::idle;
    finish(std::move(error));
  }

  const bool client_;
  asio::any_io_executor ex_;                                   // the strand
  const std::optional<asio::io_context::executor_type> io_ex_; // the strand's io_context
  HandlerSlot drain_slot_;                                     // see schedule_drain()
  Ws ws_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer idle_timer_;
  std::shared_ptr<WsObserver> observer_; // reset after on_close
  std::optional<WsClientSetup> client_setup_;
  std::optional<WsServerSetup> server_setup_;
  SslContextPtr ssl_; // keeps the context alive as long as the stream
  const std::size_t max_message_bytes_;
  const std::chrono::milliseconds close_timeout_;

  State state_ = State::created;
  WsTimeout deadline_kind_ = WsTimeout::none;
  uint64_t deadline_generation_ = 0;
  std::string remote_address_;

  beast::flat_buffer read_buffer_;
  websocket::response_type upgrade_response_;
  http::request<http::string_body> request_;
  std::optional<http::request_parser<http::string_body>> request_parser_;
  http::response<http::string_body> response_;
  Headers upgrade_request_headers_;

  bool reading_enabled_ = true;
  bool read_pending_ = false;
  std::deque<OutMessage> queue_;
  std::vector<OutMessage> dropped_; // scratch for drop_incoming()
  bool writing_ = false;
  bool ping_pending_ = false;
  websocket::ping_data ping_payload_;

  bool close_started_ = false;
  uint16_t close_code_ = 1000;
  std::string close_reason_;

  std::chrono::milliseconds idle_timeout_{0};
  uint64_t idle_generation_ = 0;
  Clock::time_point last_rx_ = Clock::now();
};

using PlainSession = WsSession<beast::tcp_stream>;
using TlsSession = WsSession<beast::ssl_stream<beast::tcp_stream>>;

std::shared_ptr<WsSessionBase> make_client_session(asio::io_context& io, WsClientSetup setup,
                                                   std::shared_ptr<WsObserver> observer) {
  if (setup.ssl) {
    return std::make_shared<TlsSession>(io, std::move(setup), std::move(observer));
  }
  return std::make_shared<PlainSession>(io, std::move(setup), std::move(observer));
}

std::shared_ptr<WsSessionBase> make_server_session(tcp::socket socket, WsServerSetup setup,
                                                   std::shared_ptr<WsObserver> observer) {
  if (setup.ssl) {
    return std::make_shared<TlsSession>(std::move(socket), std::move(setup), std::move(observer));
  }
  return std::make_shared<PlainSession>(std::move(socket), std::move(setup), std::move(observer));
}

} // namespace pv::net::detail
