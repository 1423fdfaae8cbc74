#include "net/ws_server.hpp"

#include "net/detail/callback_gate.hpp"
#include "net/detail/ws_session.hpp"

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

namespace pv::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Private access to a connection's fields for the server implementation.
struct WsServerAccess {
  static void set_request(WsServerConnection& connection, WsUpgradeRequest request) {
    connection.request_ = std::move(request);
  }
  static void set_session(WsServerConnection& connection,
                          const std::shared_ptr<detail::WsSessionBase>& session) {
    connection.session_ = session;
  }
};

// --- WsServerConnection ----------------------------------------------------------------------

WsSendStatus WsServerConnection::send_binary(std::vector<uint8_t> message) {
  auto session = session_.lock();
  return session ? session->send(std::move(message), true) : WsSendStatus::closed;
}

WsSendStatus WsServerConnection::send_binary(std::span<const uint8_t> message) {
  auto session = session_.lock();
  if (!session) {
    return WsSendStatus::closed;
  }
  std::vector<uint8_t> buffer = session->take_buffer();
  buffer.assign(message.begin(), message.end());
  return session->send(std::move(buffer), true);
}

WsSendStatus WsServerConnection::send_text(std::string_view message) {
  auto session = session_.lock();
  if (!session) {
    return WsSendStatus::closed;
  }
  std::vector<uint8_t> buffer = session->take_buffer();
  buffer.resize(message.size());
  if (!message.empty()) {
    std::memcpy(buffer.data(), message.data(), message.size());
  }
  return session->send(std::move(buffer), false);
}

void WsServerConnection::close(uint16_t code, std::string reason) {
  if (auto session = session_.lock()) {
    session->close(code, std::move(reason));
  }
}

void WsServerConnection::drop() {
  if (auto session = session_.lock()) {
    session->drop();
  }
}

void WsServerConnection::set_reading(bool reading) {
  if (auto session = session_.lock()) {
    session->set_reading(reading);
  }
}

void WsServerConnection::ping(std::string payload) {
  if (auto session = session_.lock()) {
    session->ping(std::move(payload));
  }
}

void WsServerConnection::set_idle_timeout(std::chrono::milliseconds timeout) {
  if (auto session = session_.lock()) {
    session->set_idle_timeout(timeout);
  }
}

WsQueueDepth WsServerConnection::queue_depth() const {
  auto session = session_.lock();
  return session ? session->queue_depth() : WsQueueDepth{};
}

WsCounters WsServerConnection::counters() const {
  auto session = session_.lock();
  return session ? session->counters() : WsCounters{};
}

// --- WsServer ----------------------------------------------------------------------------------

struct WsServer::Impl : std::enable_shared_from_this<WsServer::Impl> {
  Impl(asio::io_context& context, WsServerHandlers server_handlers, detail::WsServerSetup setup)
      : io(context), acceptor(asio::make_strand(context)), handlers(std::move(server_handlers)),
        session_setup(std::move(setup)) {}

  void accept_next() {
    acceptor.async_accept(
        asio::make_strand(io),
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
          self->on_accept(ec, std::move(socket));
        });
  }

  void on_accept(const boost::system::error_code& ec, tcp::socket socket);
  // Removes a finished session from the table and hands it back (so that it is not destroyed
  // while its own handler is still running).
  std::shared_ptr<detail::WsSessionBase> forget(uint64_t id) {
    std::lock_guard lock(mutex);
    auto it = sessions.find(id);
    if (it == sessions.end()) {
      return nullptr;
    }
    auto session = std::move(it->second);
    sessions.erase(it);
    return session;
  }

  asio::io_context& io;
  tcp::acceptor acceptor; // touched on its strand only (after create())
  WsServerHandlers handlers;
  detail::WsServerSetup session_setup;
  detail::CallbackGate gate;
  uint16_t port = 0;
  std::string host; // the bound address, bracketed for IPv6

  std::mutex mutex; // guards sessions and stopped; never held across I/O or handlers
  // Owns the live sessions (a stalled or held one has no pending operation to keep it alive);
  // entries go in on_close or at stop().
  std::map<uint64_t, std::shared_ptr<detail::WsSessionBase>> sessions;
  bool stopped = false;
  std::atomic<uint64_t> next_id{1};
  std::atomic<uint64_t> accepted{0};
};

namespace {

// Weak reference to the server: the server's table owns the session, which owns this observer.
class ServerObserver final : public detail::WsObserver {
public:
  ServerObserver(std::weak_ptr<WsServer::Impl> server, WsConnectionPtr connection)
      : server_(std::move(server)), connection_(std::move(connection)) {}

  WsUpgradeDecision on_upgrade_request(const WsUpgradeRequest& request) override {
    WsServerAccess::set_request(*connection_, request);
    WsUpgradeDecision decision = WsObserver::on_upgrade_request(request);
    bool ran = false;
    if (auto server = server_.lock()) {
      server->gate.run([&] {
        ran = true;
        if (server->handlers.on_upgrade) {
          decision = server->handlers.on_upgrade(connection_->request());
        }
      });
    }
    return ran ? decision : WsUpgradeDecision::reject(503);
  }
  void on_open(const WsOpenInfo&) override {
    run([&](WsServer::Impl& server) {
      if (server.handlers.on_open) {
        server.handlers.on_open(connection_);
      }
    });
  }
  void on_message(const WsMessageView& message) override {
    run([&](WsServer::Impl& server) {
      if (server.handlers.on_message) {
        server.handlers.on_message(connection_, message);
      }
    });
  }
  void on_pong(std::string_view payload) override {
    run([&](WsServer::Impl& server) {
      if (server.handlers.on_pong) {
        server.handlers.on_pong(connection_, payload);
      }
    });
  }
  void on_close(const WsError& reason) override {
    auto server = server_.lock();
    if (!server) {
      return;
    }
    auto self = server->forget(connection_->id()); // keep the session alive until we return
    run([&](WsServer::Impl& s) {
      if (s.handlers.on_close) {
        s.handlers.on_close(connection_, reason);
      }
    });
  }

private:
  template <class F>
  void run(F&& callback) {
    if (auto server = server_.lock()) {
      server->gate.run([&] { callback(*server); });
    }
  }

  std::weak_ptr<WsServer::Impl> server_;
  WsConnectionPtr connection_;
};

} // namespace

void WsServer::Impl::on_accept(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
    return;
  }
  if (!ec) {
    accepted.fetch_add(1, std::memory_order_relaxed);
    const uint64_t id = next_id.fetch_add(1, std::memory_order_relaxed);
    auto connection = std::make_shared<WsServerConnection>(id);
    auto observer = std::make_shared<ServerObserver>(weak_from_this(), connection);
    auto session = detail::make_server_session(std::move(socket), session_setup, observer);
    WsServerAccess::set_session(*connection, session);
    bool start = false;
    {
      std::lock_guard lock(mutex);
      if (!stopped) {
        sessions.emplace(id, session);
        start = true;
      }
    }
    if (start) {
      session->start();
    }
  }
  // Transient accept errors (e.g. EMFILE) must not stop the listener.
  accept_next();
}

tl::expected<std::unique_ptr<WsServer>, WsError>
WsServer::create(asio::io_context& io, WsServerParams params, WsServerHandlers handlers) {
  auto fail = [](WsErrorKind kind, std::string message) {
    WsError error;
    error.kind = kind;
    error.message = std::move(message);
    return tl::unexpected(std::move(error));
  };
  detail::WsServerSetup setup;
  setup.handshake_timeout = std::chrono::milliseconds(params.handshake_timeout_ms);
  setup.close_timeout = std::chrono::milliseconds(params.close_timeout_ms);
  setup.max_message_bytes = params.max_message_bytes;
  setup.max_queued_bytes = params.max_queued_bytes;
  setup.max_request_header_bytes = params.max_request_header_bytes;
  if (params.handshake_timeout_ms <= 0 || params.close_timeout_ms <= 0) {
    return fail(WsErrorKind::invalid_argument, "timeouts must be positive");
  }
  if (!params.tls.cert_file.empty() || !params.tls.key_file.empty()) {
    auto ctx = make_server_tls_context(params.tls);
    if (!ctx) {
      return fail(WsErrorKind::invalid_argument, ctx.error().message);
    }
    setup.ssl = std::move(*ctx);
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(params.address, ec);
  if (ec) {
    return fail(WsErrorKind::invalid_argument, "invalid listen address '" + params.address + "'");
  }
  auto impl = std::make_shared<Impl>(io, std::move(handlers), std::move(setup));
  const tcp::endpoint endpoint(address, params.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    impl->acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return fail(WsErrorKind::connect_refused, "cannot listen on " + params.address + ":" +
                                                  std::to_string(params.port) + ": " +
                                                  ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->host = address.to_string();
  if (address.is_v6()) {
    impl->host.insert(impl->host.begin(), '[');
    impl->host.push_back(']');
  }
  // Start accepting on the acceptor's strand (the io_context may already be running).
  asio::post(impl->acceptor.get_executor(), [impl] { impl->accept_next(); });
  return std::unique_ptr<WsServer>(new WsServer(std::move(impl)));
}

WsServer::WsServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

WsServer::~WsServer() {
  stop();
}

uint16_t WsServer::port() const {
  return impl_->port;
}

bool WsServer::tls() const {
  return impl_->session_setup.ssl != nullptr;
}

std::string WsServer::url(std::string_view target) const {
  std::string out = tls() ? "wss://" : "ws://";
  out += impl_->host + ":" + std::to_string(impl_->port);
  out += target.empty() || target.front() != '/' ? "/" + std::string(target) : std::string(target);
  return out;
}

std::size_t WsServer::connection_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sessions.size();
}

uint64_t WsServer::accepted_count() const {
  return impl_->accepted.load(std::memory_order_relaxed);
}

void WsServer::stop() {
  impl_->gate.close();
  std::map<uint64_t, std::shared_ptr<detail::WsSessionBase>> sessions;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopped) {
      return;
    }
    impl_->stopped = true;
    sessions.swap(impl_->sessions);
  }
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
  for (auto& [id, session] : sessions) {
    session->cancel(); // the posted cancellation keeps it alive until it has finished
  }
}

} // namespace pv::net
